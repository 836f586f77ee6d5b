"""The per-request statements (`verifier/principals_hot.py`) and the unsealed-secret cache.

`Principals.resolve` reads one compiled statement per call and remembers only unsealed secrets;
these tests hold it to what a plain Core read in a transaction says, on both stores, and to
refusing a deleted or deactivated key at once although its secret is cached. The session row
is written through the hot path too, and STS reads the caller's device once per sign-in.
"""

from __future__ import annotations

from typing import Any

import pytest
from principal_helpers import (
    make_full_service,
    refused,
    resolve,
    root_principal,
    trust_policy,
    user_with_key,
    with_device,
)
from sqlalchemy import select, update

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.access_keys import SEAL_LABEL
from tokenbench.verifier.migrations import access_keys, identities, roles, sts_sessions
from tokenbench.verifier.principals import SECRET_CACHE_SIZE, Principal
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service, VerifierOptions, build_service
from tokenbench.verifier.store import Store

ROLE_ARN = "arn:aws:iam::123456789012:role/Admin"
OTHER_ACCOUNT = "210987654321"


class CountingCipher(SeedCipher):
    """A cipher that counts how often it unseals."""

    opened = 0

    def open(self, serial: str, sealed: bytes) -> bytes:
        self.opened += 1
        return super().open(serial, sealed)


@pytest.fixture
def counting() -> CountingCipher:
    return CountingCipher(bytes(range(32)))


@pytest.fixture
def svc(store: Store, counting: CountingCipher, clock: FakeClock) -> Service:
    return make_full_service(store, counting, clock)


def _plain_rows(store: Store, key_id: str) -> dict[str, Any]:
    """The rows behind a key, read the transactional way (the reference)."""
    with store.read_only() as conn:
        key = conn.execute(select(access_keys).where(access_keys.c.access_key_id == key_id)).first()
        session = conn.execute(
            select(sts_sessions).where(sts_sessions.c.access_key_id == key_id)
        ).first()
        row = key if key is not None else session
        assert row is not None
        identity = conn.execute(select(identities).where(identities.c.id == row.identity_id)).one()
        role = None
        if session is not None and session.role_id is not None:
            role = conn.execute(select(roles).where(roles.c.id == session.role_id)).one()
    return {"key": key, "session": session, "identity": identity, "role": role}


def _assert_matches(store: Store, principal: Principal) -> None:
    rows = _plain_rows(store, principal.access_key_id)
    identity = rows["identity"]
    assert principal.identity.id == identity.id
    assert principal.identity.account_id == identity.account_id
    assert principal.identity.user_name == identity.user_name
    assert principal.identity.user_id == identity.user_id
    assert principal.identity.user_handle == bytes(identity.user_handle)
    assert principal.identity.is_root == bool(identity.is_root)
    assert principal.identity.path == identity.path
    assert principal.identity.created_at == identity.created_at
    session = rows["session"]
    if session is None:
        assert principal.token_sha256 is None and principal.expires_at is None
        return
    assert principal.token_sha256 == bytes(session.session_token_sha256)
    assert principal.expires_at == session.expires_at
    assert principal.mfa_serial == session.mfa_serial
    assert principal.mfa_authenticated_at == session.mfa_authenticated_at
    role = rows["role"]
    if role is None:
        assert principal.role is None and principal.kind == "session"
        return
    assert principal.role is not None and principal.kind == "assumed-role"
    assert (principal.role.id, principal.role.role_id, principal.role.arn) == (
        role.id,
        role.role_id,
        f"arn:aws:iam::{role.account_id}:role{role.path}{role.role_name}",
    )
    assert principal.role.trust_policy == role.trust_policy
    assert principal.role.max_session_duration == role.max_session_duration


def test_every_kind_resolves_as_the_rows_say(svc: Service) -> None:
    alice = user_with_key(svc)
    root = root_principal(svc)
    serial, app = with_device(svc, "alice")
    mfa = svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    session = resolve(svc, mfa["Credentials"])
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=trust_policy(alice.arn))
    assumed = resolve(
        svc, svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="work")["Credentials"]
    )
    for principal in (alice, root, session, assumed):
        _assert_matches(svc.store, principal)
    assert root.kind == "root" and root.is_root and alice.kind == "user"
    assert session.mfa_serial == serial and session.mfa_present
    assert assumed.arn == "arn:aws:sts::123456789012:assumed-role/Admin/work"
    assert session.secret == mfa["Credentials"]["SecretAccessKey"]


def test_unknown_and_malformed_ids_resolve_to_none(svc: Service) -> None:
    user_with_key(svc)
    now = svc.clock.now()
    for key_id in ("AKIAAAAAAAAAAAAAAAAA", "ASIAAAAAAAAAAAAAAAAA", "", "AKIA'--", "AKIA A"):
        assert svc.principals.resolve(key_id, now) is None


def test_secrets_are_unsealed_once_per_key(svc: Service, counting: CountingCipher) -> None:
    alice = user_with_key(svc)
    now = svc.clock.now()
    before = counting.opened
    for _ in range(5):
        again = svc.principals.resolve(alice.access_key_id, now)
        assert again is not None and again.secret == alice.secret
    assert counting.opened == before  # `user_with_key` resolved it once already


def test_a_deactivated_or_deleted_key_stops_at_once(svc: Service) -> None:
    alice = user_with_key(svc)
    now = svc.clock.now()
    assert svc.principals.resolve(alice.access_key_id, now) is not None  # cached now
    svc.access_keys.update_access_key(
        UserName="alice", AccessKeyId=alice.access_key_id, Status="Inactive"
    )
    assert svc.principals.resolve(alice.access_key_id, now) is None
    svc.access_keys.update_access_key(
        UserName="alice", AccessKeyId=alice.access_key_id, Status="Active"
    )
    assert svc.principals.resolve(alice.access_key_id, now) is not None
    svc.access_keys.delete_access_key(UserName="alice", AccessKeyId=alice.access_key_id)
    assert svc.principals.resolve(alice.access_key_id, now) is None


def test_a_deleted_role_ends_its_sessions_at_once(svc: Service) -> None:
    alice = user_with_key(svc)
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=trust_policy(alice.arn))
    creds = svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="work")["Credentials"]
    resolve(svc, creds)
    svc.roles.delete_role(RoleName="Admin")
    assert svc.principals.resolve(creds["AccessKeyId"], svc.clock.now()) is None


def test_a_resealed_secret_is_not_answered_from_the_cache(
    svc: Service, counting: CountingCipher
) -> None:
    """The cache is keyed by the sealed blob: a secret sealed anew is unsealed anew, and a
    blob that no longer unseals (another KEK's) resolves to None although one was cached."""
    alice = user_with_key(svc)
    now = svc.clock.now()
    label = SEAL_LABEL + alice.access_key_id
    _reseal(svc.store, alice.access_key_id, counting.seal(label, b"A" * 40))
    again = svc.principals.resolve(alice.access_key_id, now)
    assert again is not None and again.secret == "A" * 40
    _reseal(svc.store, alice.access_key_id, SeedCipher(bytes(32)).seal(label, b"B" * 40))
    assert svc.principals.resolve(alice.access_key_id, now) is None


def _reseal(store: Store, key_id: str, sealed: bytes) -> None:
    with store.transaction() as conn:
        conn.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == key_id)
            .values(sealed_secret=sealed)
        )


def test_the_cache_is_bounded(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tokenbench.verifier.principals.SECRET_CACHE_SIZE", 2)
    alice = user_with_key(svc)
    keys = [alice.access_key_id]
    keys += [svc.access_keys.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]]
    svc.iam.create_user(UserName="bob")
    keys += [svc.access_keys.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]]
    for key_id in keys:
        assert svc.principals.resolve(key_id, svc.clock.now()) is not None
        assert len(svc.principals._secrets) <= 2
    assert SECRET_CACHE_SIZE > 2


def test_sessions_are_written_by_the_hot_path(svc: Service) -> None:
    alice = user_with_key(svc)
    svc.sts.get_session_token(alice, DurationSeconds=900)
    with svc.store.read_only() as conn:
        row = conn.execute(select(sts_sessions)).one()
    assert row.identity_id == alice.identity.id and row.role_id is None
    assert row.expires_at == svc.clock.now() + 900 and row.created_at == svc.clock.now()


def test_get_session_token_reads_the_device_once(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    reads: list[str] = []
    read = svc.store.device_with_owner

    def counted(serial_number: str) -> Any:
        reads.append(serial_number)
        return read(serial_number)

    monkeypatch.setattr(svc.store, "device_with_owner", counted)
    svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    assert reads == [serial]


def test_another_accounts_caller_gets_sign_ins_answer(
    svc: Service, store: Store, counting: CountingCipher, clock: FakeClock
) -> None:
    """A store holds several accounts; a caller of another account signs in the old way, and
    the account's IAM answers as its sign-in always did (no such user here)."""
    other = build_service(store, counting, clock, VerifierOptions(account_id=OTHER_ACCOUNT))
    carol = user_with_key(other, "carol")
    serial, app = with_device(other, "carol")
    message = refused(
        lambda: svc.sts.get_session_token(carol, SerialNumber=serial, TokenCode=app.code()),
        "NoSuchEntity",
    )
    assert "carol" in message
    other.sts.get_session_token(carol, SerialNumber=serial, TokenCode=app.code())
