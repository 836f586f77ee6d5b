"""Console passwords: IAM's login-profile operations, AWS's default password policy, argon2id
at rest, and the sign-in check (one answer for every failure, lockout, dummy hash)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from console_helpers import (
    BACKENDS,
    PASSWORD,
    add_user,
    cheap_profiles,
    drop_schema,
    make_service,
    open_store,
)
from sqlalchemy import select

from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import ADMIN, Caller
from tokenbench.verifier.login_profiles import (
    LOCKED_MESSAGE,
    OLD_PASSWORD_WRONG,
    PASSWORD_HASH_PARAMETERS,
    SIGN_IN_FAILED,
    LoginProfiles,
    check_password_policy,
)
from tokenbench.verifier.migrations import login_profiles
from tokenbench.verifier.service import MovableClock, Service


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """The rules on both stores: the lockout counter is one conditional UPDATE on each."""
    store, schema = open_store(request.param, tmp_path)
    opened = make_service(tmp_path, store=store)
    add_user(opened)
    yield opened
    opened.close()
    if schema:
        drop_schema(schema)


def test_create_get_update_delete(service: Service) -> None:
    service.iam.create_user(UserName="bob")
    profiles = cheap_profiles(service)
    created = profiles.create_login_profile(
        ADMIN, UserName="bob", Password=PASSWORD, PasswordResetRequired=True
    )
    assert created == {
        "LoginProfile": {
            "UserName": "bob",
            "CreateDate": "2027-01-15T08:00:00+00:00",
            "PasswordResetRequired": True,
        }
    }
    assert profiles.get_login_profile(ADMIN, UserName="bob") == created
    with pytest.raises(IamError) as info:
        profiles.create_login_profile(ADMIN, UserName="bob", Password=PASSWORD)
    assert info.value.code == "EntityAlreadyExists"
    profiles.update_login_profile(
        ADMIN, UserName="bob", Password="Another-Pass-1", PasswordResetRequired=False
    )
    assert profiles.check_password("bob", "Another-Pass-1").user_name == "bob"
    assert (
        profiles.get_login_profile(ADMIN, UserName="bob")["LoginProfile"]["PasswordResetRequired"]
        is False
    )
    profiles.delete_login_profile(ADMIN, UserName="bob")
    for call in (profiles.get_login_profile, profiles.delete_login_profile):
        with pytest.raises(IamError) as info:
            call(ADMIN, UserName="bob")
        assert info.value.code == "NoSuchEntity"
        assert info.value.message == "Login Profile for User bob cannot be found."


def test_self_service_and_other_users(service: Service) -> None:
    service.iam.create_user(UserName="bob")
    profiles = cheap_profiles(service)
    assert profiles.get_login_profile(Caller("alice"))["LoginProfile"]["UserName"] == "alice"
    with pytest.raises(IamError) as info:
        profiles.create_login_profile(Caller("alice"), UserName="bob", Password=PASSWORD)
    assert info.value.code == "AccessDenied"
    with pytest.raises(IamError) as info:
        profiles.create_login_profile(ADMIN, UserName="nobody", Password=PASSWORD)
    assert info.value.code == "NoSuchEntity"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Ab1-", "minimum length of 8"),
        ("abcdefgh", "at least 3 of"),
        ("abcdefgh1", "at least 3 of"),
        ("ABCDEFGH-", "at least 3 of"),
    ],
)
def test_default_password_policy(password: str, rule: str) -> None:
    with pytest.raises(IamError) as info:
        check_password_policy(password)
    assert info.value.code == "PasswordPolicyViolation"
    assert info.value.message.startswith("The request was rejected because the provided password")
    assert rule in info.value.message


@pytest.mark.parametrize("password", ["abcdefG1", "abcdefg-1", "ABCDEF-1", "Ünïcödé-1x"])
def test_default_policy_accepts_three_classes(password: str) -> None:
    check_password_policy(password)


def test_too_long_and_empty_are_validation_errors() -> None:
    for password in ("", "Aa1-" * 33):
        with pytest.raises(IamError) as info:
            check_password_policy(password)
        assert info.value.code == "ValidationError"


def test_policy_violation_on_create_and_update(service: Service) -> None:
    service.iam.create_user(UserName="bob")
    profiles = cheap_profiles(service)
    with pytest.raises(IamError) as info:
        profiles.create_login_profile(ADMIN, UserName="bob", Password="short")
    assert info.value.code == "PasswordPolicyViolation"
    with pytest.raises(IamError) as info:
        profiles.update_login_profile(ADMIN, UserName="alice", Password="alllowercase")
    assert info.value.code == "PasswordPolicyViolation"
    assert profiles.check_password("alice", PASSWORD).user_name == "alice"  # unchanged


def test_stored_as_argon2id_never_in_clear(service: Service) -> None:
    with service.store.read_only() as conn:
        stored = conn.execute(select(login_profiles.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PASSWORD_HASH_PARAMETERS.memory_cost >= 64 * 1024  # KiB: memory-hard by default
    assert LoginProfiles(service.iam).hasher.memory_cost == PASSWORD_HASH_PARAMETERS.memory_cost


def test_wrong_password_and_unknown_user_answer_alike(service: Service) -> None:
    profiles = cheap_profiles(service)
    service.iam.create_user(UserName="nopassword")
    answers = []
    for user, password in (
        ("alice", "Wrong-Pass-1"),
        ("nobody", PASSWORD),
        ("nopassword", PASSWORD),
        ("bad name with spaces", PASSWORD),
    ):
        with pytest.raises(IamError) as info:
            profiles.check_password(user, password)
        answers.append((info.value.code, info.value.message))
    assert answers == [("AccessDenied", SIGN_IN_FAILED)] * 4


class CountingHasher(PasswordHasher):
    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        CountingHasher.verified += 1
        return super().verify(hash, password)


def test_unknown_user_costs_one_hash_verification(service: Service) -> None:
    profiles = cheap_profiles(service)
    counting = CountingHasher.from_parameters(CHEAPEST)
    profiles.hasher = counting
    CountingHasher.verified = 0
    with pytest.raises(IamError):
        profiles.check_password("nobody", PASSWORD)
    assert CountingHasher.verified == 1
    with pytest.raises(IamError):
        profiles.check_password("alice", "Wrong-Pass-1")
    assert CountingHasher.verified == 2


def test_lockout_after_limit_then_cool_down(service: Service) -> None:
    profiles = cheap_profiles(service)
    policy = service.iam.policy
    for _ in range(policy.lockout_limit):
        with pytest.raises(IamError) as info:
            profiles.check_password("alice", "Wrong-Pass-1")
        assert info.value.message == SIGN_IN_FAILED
    with pytest.raises(IamError) as info:
        profiles.check_password("alice", PASSWORD)  # the right password, but locked
    assert info.value.message == LOCKED_MESSAGE
    clock = service.clock
    assert isinstance(clock, MovableClock)
    clock.advance(policy.lockout_cooldown + 1)
    assert profiles.check_password("alice", PASSWORD).user_name == "alice"
    # success resets the count: limit-1 failures do not lock
    for _ in range(policy.lockout_limit - 1):
        with pytest.raises(IamError):
            profiles.check_password("alice", "Wrong-Pass-1")
    assert profiles.check_password("alice", PASSWORD).user_name == "alice"


def test_new_password_clears_lockout(service: Service) -> None:
    profiles = cheap_profiles(service)
    for _ in range(service.iam.policy.lockout_limit):
        with pytest.raises(IamError):
            profiles.check_password("alice", "Wrong-Pass-1")
    profiles.update_login_profile(ADMIN, UserName="alice", Password="Fresh-Pass-2")
    assert profiles.check_password("alice", "Fresh-Pass-2").user_name == "alice"


def test_weak_stored_hash_is_upgraded_on_sign_in(service: Service) -> None:
    strong = LoginProfiles(service.iam)  # the real parameters
    assert strong.check_password("alice", PASSWORD).user_name == "alice"
    with service.store.read_only() as conn:
        stored = conn.execute(select(login_profiles.c.password_hash)).scalar_one()
    assert "m=65536" in stored


def test_change_password_own_only_and_clears_reset(service: Service) -> None:
    profiles = cheap_profiles(service)
    profiles.update_login_profile(ADMIN, UserName="alice", PasswordResetRequired=True)
    with pytest.raises(IamError) as info:
        profiles.change_password(
            Caller("alice"), OldPassword="Wrong-Pass-1", NewPassword="N3w-pass"
        )
    assert (info.value.code, info.value.message) == ("AccessDenied", OLD_PASSWORD_WRONG)
    with pytest.raises(IamError) as info:
        profiles.change_password(Caller("alice"), OldPassword=PASSWORD, NewPassword="weak")
    assert info.value.code == "PasswordPolicyViolation"
    with pytest.raises(IamError) as info:
        profiles.change_password(ADMIN, OldPassword=PASSWORD, NewPassword="N3w-pass")
    assert info.value.code == "AccessDenied"
    profiles.change_password(Caller("alice"), OldPassword=PASSWORD, NewPassword="N3w-pass")
    assert profiles.check_password("alice", "N3w-pass").user_name == "alice"
    assert (
        profiles.get_login_profile(ADMIN, UserName="alice")["LoginProfile"]["PasswordResetRequired"]
        is False
    )


def test_concurrent_failures_are_all_counted(service: Service) -> None:
    """Each failure is one conditional UPDATE: parallel wrong passwords cannot slip past."""
    profiles = cheap_profiles(service)
    attempts = 12

    def wrong() -> None:
        with pytest.raises(IamError):
            profiles.check_password("alice", "Wrong-Pass-1")

    with ThreadPoolExecutor(max_workers=6) as pool:
        for future in [pool.submit(wrong) for _ in range(attempts)]:
            future.result()
    with service.store.read_only() as conn:
        row = conn.execute(
            select(login_profiles.c.failed_attempts, login_profiles.c.locked_until)
        ).one()
    limit = service.iam.policy.lockout_limit
    assert row.locked_until is not None
    # after the limit, a locked profile is refused before the hash check and not counted
    assert limit <= row.failed_attempts <= attempts
