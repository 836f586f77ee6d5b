"""GetSessionToken, AssumeRole and GetCallerIdentity with STS's rules and words, on both stores."""

from __future__ import annotations

import hashlib
import re

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
from sqlalchemy import select

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.iam import Caller
from tokenbench.verifier.migrations import sts_sessions
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service
from tokenbench.verifier.store import Store

BAD_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
WRONG_SERIAL = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA "
    "serial number is valid and associated with this user."
)
ROLE_ARN = "arn:aws:iam::123456789012:role/Admin"
MFA_PRESENT = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


@pytest.fixture
def svc(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return make_full_service(store, cipher, clock)


def test_session_without_mfa(svc: Service) -> None:
    alice = user_with_key(svc)
    creds = svc.sts.get_session_token(alice)["Credentials"]
    assert set(creds) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    assert creds["Expiration"] == "2027-01-15T20:00:00+00:00"  # 43,200 s by default
    session = resolve(svc, creds)
    assert session.kind == "session" and not session.mfa_present
    assert session.arn == alice.arn and session.user_id == alice.user_id
    assert session.caller == Caller("alice", mfa_authenticated=False)
    assert not session.check_session_token(None)
    assert not session.check_session_token(creds["SessionToken"] + "x")
    with svc.store.read_only() as conn:
        row = conn.execute(select(sts_sessions)).one()
    assert (
        bytes(row.session_token_sha256) == hashlib.sha256(creds["SessionToken"].encode()).digest()
    )
    assert creds["SecretAccessKey"].encode() not in bytes(row.sealed_secret)
    assert row.mfa_serial is None and row.mfa_authenticated_at is None


def test_sessions_cannot_make_sessions(svc: Service) -> None:
    session = resolve(svc, svc.sts.get_session_token(user_with_key(svc))["Credentials"])
    message = refused(lambda: svc.sts.get_session_token(session), "AccessDenied")
    assert message == "Cannot call GetSessionToken with session credentials"


def test_durations(svc: Service) -> None:
    alice = user_with_key(svc)
    for bad in (899, 129_601):
        refused(
            lambda b=bad: svc.sts.get_session_token(alice, DurationSeconds=b), "ValidationError"
        )
    creds = svc.sts.get_session_token(alice, DurationSeconds=900)["Credentials"]
    assert creds["Expiration"] == "2027-01-15T08:15:00+00:00"
    root = root_principal(svc)
    assert svc.sts.get_session_token(root)["Credentials"]["Expiration"] == (
        "2027-01-15T09:00:00+00:00"
    )
    long = svc.sts.get_session_token(root, DurationSeconds=7200)["Credentials"]
    assert long["Expiration"] == "2027-01-15T09:00:00+00:00"  # root: one hour at most
    assert resolve(svc, long).caller.is_admin


def test_session_with_mfa(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    creds = svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    session = resolve(svc, creds["Credentials"])
    assert session.mfa_present and session.mfa_authenticated_at == svc.clock.now()
    assert session.mfa_serial == serial
    assert session.caller == Caller("alice", mfa_authenticated=True)


def test_mfa_refusals_in_sts_words(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    svc.iam.create_user(UserName="bob")
    bob_serial, bob_app = with_device(svc, "bob")
    wrong = "000000" if app.code() != "000000" else "111111"
    call = lambda: svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=wrong)  # noqa: E731
    assert refused(call, "AccessDenied") == BAD_CODE
    call = lambda: svc.sts.get_session_token(  # noqa: E731
        alice, SerialNumber=bob_serial, TokenCode=bob_app.code()
    )
    assert refused(call, "AccessDenied") == WRONG_SERIAL
    call = lambda: svc.sts.get_session_token(  # noqa: E731
        alice, SerialNumber="arn:aws:iam::123456789012:mfa/nothing", TokenCode=app.code()
    )
    assert refused(call, "AccessDenied") == WRONG_SERIAL
    code = app.code()
    svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=code)
    call = lambda: svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=code)  # noqa: E731
    assert refused(call, "AccessDenied") == BAD_CODE  # a replay
    refused(lambda: svc.sts.get_session_token(alice, SerialNumber=serial), "ValidationError")
    refused(lambda: svc.sts.get_session_token(alice, TokenCode=code), "ValidationError")
    call = lambda: svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode="12345678")  # noqa: E731
    refused(call, "ValidationError")


def test_expired_sessions_resolve_as_expired(svc: Service) -> None:
    alice = user_with_key(svc)
    creds = svc.sts.get_session_token(alice, DurationSeconds=900)["Credentials"]
    svc.clock.advance(899)
    assert not resolve(svc, creds).expired(svc.clock.now())
    svc.clock.advance(1)
    session = resolve(svc, creds)
    assert session.expired(svc.clock.now()) and session.expires_at == svc.clock.now()


def test_caller_identity(svc: Service) -> None:
    alice = user_with_key(svc)
    assert svc.sts.get_caller_identity(alice) == {
        "UserId": alice.identity.user_id,
        "Account": "123456789012",
        "Arn": "arn:aws:iam::123456789012:user/alice",
    }
    assert svc.sts.get_caller_identity(root_principal(svc))["UserId"] == "123456789012"


# --- AssumeRole ---------------------------------------------------------------------------------


def test_assume_role_named_user(svc: Service) -> None:
    alice = user_with_key(svc)
    bob = user_with_key(svc, "bob")
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=trust_policy(alice.arn))
    answer = svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="work")
    role_id = svc.roles.get_role(RoleName="Admin")["Role"]["RoleId"]
    assert answer["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:work",
        "Arn": "arn:aws:sts::123456789012:assumed-role/Admin/work",
    }
    assert answer["Credentials"]["Expiration"] == "2027-01-15T09:00:00+00:00"
    session = resolve(svc, answer["Credentials"])
    assert session.kind == "assumed-role" and session.caller.is_admin
    assert svc.sts.get_caller_identity(session) == {
        "UserId": f"{role_id}:work",
        "Account": "123456789012",
        "Arn": "arn:aws:sts::123456789012:assumed-role/Admin/work",
    }
    message = refused(
        lambda: svc.sts.assume_role(bob, RoleArn=ROLE_ARN, RoleSessionName="x1"), "AccessDenied"
    )
    assert message == (
        f"User: {bob.arn} is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}"
    )
    missing = "arn:aws:iam::123456789012:role/Nope"
    call = lambda: svc.sts.assume_role(alice, RoleArn=missing, RoleSessionName="x1")  # noqa: E731
    assert missing in refused(call, "AccessDenied")
    call = lambda: svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="x")  # noqa: E731
    refused(call, "ValidationError")


def test_account_principal_and_root(svc: Service) -> None:
    alice = user_with_key(svc)
    root = root_principal(svc)
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=trust_policy("123456789012"))
    svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="s1")
    message = refused(
        lambda: svc.sts.assume_role(root, RoleArn=ROLE_ARN, RoleSessionName="s1"), "AccessDenied"
    )
    assert message == "Roles may not be assumed by root accounts."


def test_trust_policy_needing_mfa(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    policy = trust_policy("arn:aws:iam::123456789012:root", MFA_PRESENT)
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=policy)
    call = lambda: svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="s1")  # noqa: E731
    refused(call, "AccessDenied")
    plain = resolve(svc, svc.sts.get_session_token(alice)["Credentials"])
    refused(
        lambda: svc.sts.assume_role(plain, RoleArn=ROLE_ARN, RoleSessionName="s1"), "AccessDenied"
    )
    answer = svc.sts.assume_role(
        alice, RoleArn=ROLE_ARN, RoleSessionName="s1", SerialNumber=serial, TokenCode=app.code()
    )
    assert resolve(svc, answer["Credentials"]).mfa_present
    svc.clock.advance(30)
    creds = svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    with_mfa = resolve(svc, creds["Credentials"])
    chained = svc.sts.assume_role(with_mfa, RoleArn=ROLE_ARN, RoleSessionName="s2")
    assert (
        resolve(svc, chained["Credentials"]).mfa_authenticated_at == with_mfa.mfa_authenticated_at
    )
    wrong = "000000" if app.code() != "000000" else "111111"
    call = lambda: svc.sts.assume_role(  # noqa: E731
        alice, RoleArn=ROLE_ARN, RoleSessionName="s3", SerialNumber=serial, TokenCode=wrong
    )
    assert refused(call, "AccessDenied") == BAD_CODE


def test_mfa_age(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    condition = {**MFA_PRESENT, "NumericLessThan": {"aws:MultiFactorAuthAge": "300"}}
    policy = trust_policy(alice.arn, condition)
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=policy)
    creds = svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    session = resolve(svc, creds["Credentials"])
    svc.clock.advance(299)
    svc.sts.assume_role(session, RoleArn=ROLE_ARN, RoleSessionName="young")
    svc.clock.advance(1)
    call = lambda: svc.sts.assume_role(session, RoleArn=ROLE_ARN, RoleSessionName="old")  # noqa: E731
    refused(call, "AccessDenied")


def test_role_durations_and_chaining(svc: Service) -> None:
    alice = user_with_key(svc)
    policy = trust_policy(alice.arn)
    svc.roles.create_role(
        RoleName="Admin", AssumeRolePolicyDocument=policy, MaxSessionDuration=7200
    )
    answer = svc.sts.assume_role(
        alice, RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds=7200
    )
    assert answer["Credentials"]["Expiration"] == "2027-01-15T10:00:00+00:00"
    call = lambda: svc.sts.assume_role(  # noqa: E731
        alice, RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds=7201
    )
    assert "MaxSessionDuration" in refused(call, "ValidationError")
    session = resolve(svc, answer["Credentials"])
    svc.roles.create_role(
        RoleName="Next", AssumeRolePolicyDocument=trust_policy(ROLE_ARN), MaxSessionDuration=7200
    )
    next_arn = "arn:aws:iam::123456789012:role/Next"
    call = lambda: svc.sts.assume_role(  # noqa: E731
        session, RoleArn=next_arn, RoleSessionName="s2", DurationSeconds=3601
    )
    assert "role chaining" in refused(call, "ValidationError")
    svc.sts.assume_role(session, RoleArn=next_arn, RoleSessionName="s2", DurationSeconds=3600)
    refused(lambda: svc.sts.get_session_token(session), "AccessDenied")


def test_deleting_a_role_ends_its_sessions(svc: Service) -> None:
    alice = user_with_key(svc)
    svc.roles.create_role(RoleName="Admin", AssumeRolePolicyDocument=trust_policy(alice.arn))
    creds = svc.sts.assume_role(alice, RoleArn=ROLE_ARN, RoleSessionName="s1")["Credentials"]
    svc.roles.delete_role(RoleName="Admin")
    assert svc.principals.resolve(creds["AccessKeyId"], svc.clock.now()) is None


def test_library_sign_in_uses_the_same_words(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    svc.iam.create_user(UserName="bob")
    _serial, app = with_device(svc, "alice")
    bob_serial, bob_app = with_device(svc, "bob")
    call = lambda: svc.iam.sign_in(  # noqa: E731
        UserName="alice", SerialNumber=bob_serial, TokenCode=bob_app.code()
    )
    assert refused(call, "AccessDenied") == WRONG_SERIAL
    wrong = "000000" if app.code() != "000000" else "111111"
    call = lambda: svc.iam.sign_in(  # noqa: E731
        UserName="alice", SerialNumber=_serial, TokenCode=wrong
    )
    assert refused(call, "AccessDenied") == BAD_CODE
