"""Access keys (CreateAccessKey & co.) and the principals they resolve to, on both stores."""

from __future__ import annotations

import re
import threading

import pytest
from principal_helpers import make_full_service, refused, root_principal, user_with_key
from sqlalchemy import select

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import Caller
from tokenbench.verifier.migrations import access_keys
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service
from tokenbench.verifier.store import Store


@pytest.fixture
def svc(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return make_full_service(store, cipher, clock)


def test_create_shapes_and_sealed_secret(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    key = svc.access_keys.create_access_key(UserName="alice")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"])
    assert len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active" and key["UserName"] == "alice"
    assert key["CreateDate"] == "2027-01-15T08:00:00+00:00"
    with svc.store.read_only() as conn:
        sealed = conn.execute(select(access_keys.c.sealed_secret)).scalar_one()
    assert key["SecretAccessKey"].encode() not in bytes(sealed)
    principal = svc.principals.resolve(key["AccessKeyId"], svc.clock.now())
    assert principal is not None and principal.secret == key["SecretAccessKey"]
    assert key["SecretAccessKey"] not in repr(principal)
    listed = svc.access_keys.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert listed == [{k: v for k, v in key.items() if k != "SecretAccessKey"}]


def test_two_keys_per_user(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    for _ in range(2):
        svc.access_keys.create_access_key(UserName="alice")
    message = refused(lambda: svc.access_keys.create_access_key(UserName="alice"), "LimitExceeded")
    assert message == "Cannot exceed quota for AccessKeysPerUser: 2"


def test_inactive_keys_do_not_resolve(svc: Service) -> None:
    alice = user_with_key(svc)
    key_id = alice.access_key_id
    svc.access_keys.update_access_key(UserName="alice", AccessKeyId=key_id, Status="Inactive")
    assert svc.principals.resolve(key_id, svc.clock.now()) is None
    listed = svc.access_keys.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert listed[0]["Status"] == "Inactive"
    svc.access_keys.update_access_key(UserName="alice", AccessKeyId=key_id, Status="Active")
    assert svc.principals.resolve(key_id, svc.clock.now()) is not None
    call = lambda: svc.access_keys.update_access_key(  # noqa: E731
        UserName="alice", AccessKeyId=key_id, Status="Sleeping"
    )
    refused(call, "ValidationError")


def test_delete_and_unknown_keys(svc: Service) -> None:
    alice = user_with_key(svc)
    svc.access_keys.delete_access_key(UserName="alice", AccessKeyId=alice.access_key_id)
    assert svc.principals.resolve(alice.access_key_id, svc.clock.now()) is None
    call = lambda: svc.access_keys.delete_access_key(  # noqa: E731
        UserName="alice", AccessKeyId=alice.access_key_id
    )
    assert refused(call, "NoSuchEntity") == (
        f"The Access Key with id {alice.access_key_id} cannot be found."
    )
    assert svc.principals.resolve("AKIAAAAAAAAAAAAAAAAA", svc.clock.now()) is None
    assert svc.principals.resolve("not a key!", svc.clock.now()) is None


def test_admin_key_is_made_once(svc: Service) -> None:
    root = root_principal(svc)
    assert svc.access_keys.ensure_admin_key() is None
    assert root.kind == "root" and root.caller.is_admin
    assert root.arn == "arn:aws:iam::123456789012:root" and root.user_id == "123456789012"
    listed = svc.access_keys.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [root.access_key_id]
    assert root.check_session_token(None) and not root.check_session_token("a-token")


def test_users_manage_only_their_own_keys(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    svc.iam.create_user(UserName="bob")
    own = svc.access_keys.create_access_key(caller=Caller("alice"))["AccessKey"]
    assert own["UserName"] == "alice"
    principal = svc.principals.resolve(own["AccessKeyId"], svc.clock.now())
    assert principal is not None and principal.kind == "user"
    assert principal.caller == Caller("alice", mfa_authenticated=False)
    assert principal.arn == "arn:aws:iam::123456789012:user/alice"
    call = lambda: svc.access_keys.create_access_key(UserName="bob", caller=Caller("alice"))  # noqa: E731
    refused(call, "AccessDenied")
    refused(lambda: svc.access_keys.list_access_keys(UserName="root"), "NoSuchEntity")
    refused(lambda: svc.access_keys.list_access_keys(UserName="zed"), "NoSuchEntity")


def test_list_pages(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    made = [svc.access_keys.create_access_key(UserName="alice") for _ in range(2)]
    first = svc.access_keys.list_access_keys(UserName="alice", MaxItems=1)
    assert first["IsTruncated"] is True
    second = svc.access_keys.list_access_keys(UserName="alice", Marker=first["Marker"])
    assert second["IsTruncated"] is False and "Marker" not in second
    ids = [k["AccessKeyId"] for k in first["AccessKeyMetadata"] + second["AccessKeyMetadata"]]
    assert sorted(ids) == sorted(m["AccessKey"]["AccessKeyId"] for m in made)


def test_a_wrong_kek_resolves_nothing(store: Store, svc: Service, clock: FakeClock) -> None:
    alice = user_with_key(svc)
    other = make_full_service(store, SeedCipher(bytes(32)), clock)
    assert other.principals.resolve(alice.access_key_id, clock.now()) is None


def test_the_key_limit_holds_under_concurrency(svc: Service) -> None:
    """Six simultaneous CreateAccessKey calls for one user: exactly two keys are made."""
    svc.iam.create_user(UserName="alice")
    outcomes: list[str] = []

    def create() -> None:
        try:
            svc.access_keys.create_access_key(UserName="alice")
            outcomes.append("ok")
        except IamError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["LimitExceeded"] * 4 + ["ok"] * 2
    assert len(svc.access_keys.list_access_keys(UserName="alice")["AccessKeyMetadata"]) == 2
