"""DeleteUser, GetAccountSummary, list pagination and the model's parameter limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from principal_helpers import make_full_service, refused, user_with_key, with_device
from sqlalchemy import insert
from verifier_helpers import enable, new_virtual

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import Caller
from tokenbench.verifier.iam_pagination import decode_marker, encode_marker, paginate
from tokenbench.verifier.migrations import login_profiles
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service
from tokenbench.verifier.store import Store

PLAIN = '{"Statement": {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}}'


@pytest.fixture
def svc(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return make_full_service(store, cipher, clock)


def test_delete_user_blockers_in_order(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, _app = with_device(svc, "alice")
    svc.policies.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=PLAIN)
    session = svc.sts.get_session_token(alice)["Credentials"]
    with svc.store.transaction() as conn:
        conn.execute(
            insert(login_profiles).values(
                identity_id=alice.identity.id, password_hash="x", created_at=0.0
            )
        )
    delete = lambda: svc.iam.delete_user(UserName="alice")  # noqa: E731
    message = "Cannot delete entity, must delete {} first."
    assert refused(delete, "DeleteConflict") == message.format("login profile")
    with svc.store.transaction() as conn:
        conn.execute(login_profiles.delete())
    assert refused(delete, "DeleteConflict") == message.format("access keys")
    svc.access_keys.delete_access_key(UserName="alice", AccessKeyId=alice.access_key_id)
    assert refused(delete, "DeleteConflict") == message.format("MFA device")
    svc.iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert refused(delete, "DeleteConflict") == message.format("policies")
    svc.policies.delete_user_policy(UserName="alice", PolicyName="p")
    assert svc.iam.delete_user(UserName="alice") == {}
    refused(lambda: svc.iam.get_user(UserName="alice"), "NoSuchEntity")
    assert svc.principals.resolve(session["AccessKeyId"], svc.clock.now()) is None
    refused(delete, "NoSuchEntity")
    refused(lambda: svc.iam.delete_user(UserName="root"), "NoSuchEntity")


def test_only_the_administrator_deletes_users(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    call = lambda: svc.iam.delete_user(UserName="alice", caller=Caller("alice"))  # noqa: E731
    refused(call, "AccessDenied")


def test_account_summary(svc: Service) -> None:
    summary = svc.iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] == 0 and summary["AccountMFAEnabled"] == 0
    assert summary["AccessKeysPerUserQuota"] == 2 and summary["UsersQuota"] == 5000
    user_with_key(svc)
    with_device(svc, "alice")
    new_virtual(svc.iam, "spare")
    svc.access_keys.ensure_admin_key()
    serial, app = new_virtual(svc.iam, "root-phone")
    enable(svc.iam, None, serial, app, caller=Caller("root"))
    summary = svc.iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] == 1
    assert summary["MFADevices"] == 3 and summary["MFADevicesInUse"] == 2
    assert summary["AccountMFAEnabled"] == 1 and summary["AccountAccessKeysPresent"] == 1
    assert summary["AccountPasswordPresent"] == 0 and summary["Groups"] == 0


def test_list_users_pages(svc: Service) -> None:
    for n in range(5):
        svc.iam.create_user(UserName=f"u{n}")
    seen: list[str] = []
    marker = None
    while True:
        page = svc.iam.list_users(MaxItems=2, Marker=marker)
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == [f"u{n}" for n in range(5)]
    assert svc.iam.list_users()["IsTruncated"] is False
    assert refused(lambda: svc.iam.list_users(Marker="bogus"), "ValidationError") == (
        "Invalid Marker."
    )
    for bad in (0, 1001):
        refused(lambda b=bad: svc.iam.list_users(MaxItems=b), "ValidationError")


def test_device_lists_page(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    for name in ("p1", "p2"):
        serial, app = new_virtual(svc.iam, name)
        enable(svc.iam, "alice", serial, app)
    page = svc.iam.list_mfa_devices(UserName="alice", MaxItems=1)
    assert len(page["MFADevices"]) == 1 and page["IsTruncated"]
    rest = svc.iam.list_mfa_devices(UserName="alice", Marker=page["Marker"])
    assert len(rest["MFADevices"]) == 1 and not rest["IsTruncated"]
    virtual = svc.iam.list_virtual_mfa_devices(MaxItems=1)
    assert len(virtual["VirtualMFADevices"]) == 1 and virtual["IsTruncated"]
    tags = [{"Key": f"k{n}", "Value": ""} for n in range(3)]
    svc.iam.tag_mfa_device(SerialNumber=serial, Tags=tags)
    listed = svc.iam.list_mfa_device_tags(SerialNumber=serial, MaxItems=2)
    assert [t["Key"] for t in listed["Tags"]] == ["k0", "k1"] and listed["IsTruncated"]


def test_model_limits(svc: Service) -> None:
    refused(lambda: svc.iam.create_user(UserName="a" * 65), "ValidationError")
    # existing users are named with up to 128 characters: an unknown name is NoSuchEntity
    refused(lambda: svc.iam.get_user(UserName="a" * 128), "NoSuchEntity")
    refused(lambda: svc.iam.get_user(UserName="a" * 129), "ValidationError")
    serial, _ = new_virtual(svc.iam, "d" * 226)
    keys = [f"k{n}" for n in range(51)]
    message = refused(
        lambda: svc.iam.untag_mfa_device(SerialNumber=serial, TagKeys=keys), "ValidationError"
    )
    assert "tagKeys" in message
    svc.iam.untag_mfa_device(SerialNumber=serial, TagKeys=keys[:50])


@given(st.integers(min_value=0, max_value=10**9 - 1))
def test_marker_round_trip(offset: int) -> None:
    assert decode_marker(encode_marker(offset)) == offset


@given(st.text(max_size=40) | st.integers(0, 10**6).map(lambda n: encode_marker(n) + "x"))
def test_foreign_markers_are_invalid(marker: str) -> None:
    try:
        offset = decode_marker(marker)
    except IamError as exc:
        assert exc.code == "ValidationError" and exc.message == "Invalid Marker."
    else:
        assert encode_marker(offset) == marker


@given(st.lists(st.integers(), max_size=30), st.integers(min_value=1, max_value=7))
def test_paging_covers_everything_once(items: list[int], size: int) -> None:
    collected: list[int] = []
    marker = None
    while True:
        page, more = paginate(items, marker, size)
        collected += page
        if not more["IsTruncated"]:
            break
        marker = more["Marker"]
    assert collected == items
