"""Console passwords: IAM's login profiles, AWS's default password policy, and the password check
the console's sign-in page makes before it asks for MFA.

Passwords are stored as argon2id hashes (`PASSWORD_HASH_PARAMETERS`), never in the clear and
never logged. `check_password` answers the same error, after the same amount of work, for an
unknown user, a user without a console password and a wrong password, so the sign-in page does
not tell which user names exist. Failed passwords count towards the library's lockout
(`VerifyPolicy`: the limit-th failure locks the profile for the cool-down), counted by one
conditional UPDATE per failure so concurrent attempts cannot slip past the limit.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import case, delete, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import (
    ACCESS_DENIED,
    ENTITY_ALREADY_EXISTS,
    NO_SUCH_ENTITY,
    PASSWORD_POLICY_VIOLATION,
    VALIDATION_ERROR,
    IamError,
)
from tokenbench.verifier.iam import Caller, IamService
from tokenbench.verifier.migrations import login_profiles
from tokenbench.verifier.store import Identity

# RFC 9106's second recommended option (argon2id, t=3, 64 MiB, p=4): memory-hard enough that a
# stolen store costs an attacker 64 MiB per guess, cheap enough (~0.1 s) for an interactive
# sign-in. Tests pass cheaper parameters explicitly (`LoginProfiles(parameters=...)`).
PASSWORD_HASH_PARAMETERS = RFC_9106_LOW_MEMORY

# AWS's default password policy (no account policy set): 8 to 128 characters, at least three of
# the four character classes (uppercase, lowercase, digits, anything else as a symbol).
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MIN_CHARACTER_CLASSES = 3
POLICY_MESSAGE = (
    "The request was rejected because the provided password did not meet the requirements "
    "imposed by the account password policy."
)
# One answer for every failed password check, whatever the reason (AWS's console wording).
SIGN_IN_FAILED = "Your authentication information is incorrect. Please try again."
OLD_PASSWORD_WRONG = "The old password is incorrect."
LOCKED_MESSAGE = "Too many failed sign-in attempts for this user; try again later."
_DUMMY_PASSWORD = "tokenbench-dummy-password-never-matches"


@dataclass(frozen=True)
class LoginProfile:
    identity_id: int
    password_hash: str
    password_reset_required: bool
    created_at: float
    failed_attempts: int
    locked_until: float | None


def check_password_policy(password: str) -> None:
    """AWS's default policy; PasswordPolicyViolation with AWS's message and the broken rule."""
    if not isinstance(password, str) or not password:
        raise IamError(VALIDATION_ERROR, "Password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise IamError(
            VALIDATION_ERROR,
            f"Password must have length less than or equal to {MAX_PASSWORD_LENGTH}",
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise IamError(
            PASSWORD_POLICY_VIOLATION,
            f"{POLICY_MESSAGE} Password should have a minimum length of {MIN_PASSWORD_LENGTH}",
        )
    classes = (
        any(c in string.ascii_uppercase for c in password),
        any(c in string.ascii_lowercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < MIN_CHARACTER_CLASSES:
        raise IamError(
            PASSWORD_POLICY_VIOLATION,
            f"{POLICY_MESSAGE} Password should have at least {MIN_CHARACTER_CLASSES} of: "
            "uppercase letters, lowercase letters, numbers, symbols",
        )


class LoginProfiles:
    """IAM's login-profile operations and the console's password check, over one IamService."""

    def __init__(self, iam: IamService, *, parameters: Parameters = PASSWORD_HASH_PARAMETERS):
        self.iam = iam
        self.hasher = PasswordHasher.from_parameters(parameters)
        self._dummy_hash: str | None = None

    # --- IAM operations -----------------------------------------------------------------------

    def create_login_profile(
        self,
        caller: Caller,
        *,
        UserName: str | None = None,
        Password: str,
        PasswordResetRequired: bool = False,
    ) -> dict[str, Any]:
        identity = self.iam.target(caller, UserName, changes_mfa=False)
        check_password_policy(Password)
        row = {
            "identity_id": identity.id,
            "password_hash": self.hasher.hash(Password),
            "password_reset_required": bool(PasswordResetRequired),
            "created_at": self.iam.clock.now(),
            "failed_attempts": 0,
            "locked_until": None,
        }
        try:
            with self.iam.store.transaction() as conn:
                conn.execute(insert(login_profiles).values(**row))
        except IntegrityError:
            raise IamError(
                ENTITY_ALREADY_EXISTS,
                f"Login Profile for user {identity.user_name} already exists.",
            ) from None
        return {"LoginProfile": self._shape(identity, self._profile(identity))}

    def get_login_profile(self, caller: Caller, *, UserName: str | None = None) -> dict[str, Any]:
        identity = self.iam.target(caller, UserName, changes_mfa=False)
        return {"LoginProfile": self._shape(identity, self._profile(identity))}

    def update_login_profile(
        self,
        caller: Caller,
        *,
        UserName: str | None = None,
        Password: str | None = None,
        PasswordResetRequired: bool | None = None,
    ) -> dict[str, Any]:
        """A new password also clears the failure count and any lockout."""
        identity = self.iam.target(caller, UserName, changes_mfa=False)
        self._profile(identity)
        values: dict[str, Any] = {}
        if Password is not None:
            check_password_policy(Password)
            values.update(
                password_hash=self.hasher.hash(Password), failed_attempts=0, locked_until=None
            )
        if PasswordResetRequired is not None:
            values["password_reset_required"] = bool(PasswordResetRequired)
        if values:
            with self.iam.store.transaction() as conn:
                conn.execute(
                    sql_update(login_profiles)
                    .where(login_profiles.c.identity_id == identity.id)
                    .values(**values)
                )
        return {}

    def delete_login_profile(
        self, caller: Caller, *, UserName: str | None = None
    ) -> dict[str, Any]:
        identity = self.iam.target(caller, UserName, changes_mfa=False)
        with self.iam.store.transaction() as conn:
            removed = conn.execute(
                delete(login_profiles).where(login_profiles.c.identity_id == identity.id)
            ).rowcount
        if removed != 1:
            raise _no_profile(identity)
        return {}

    def change_password(
        self, caller: Caller, *, OldPassword: str, NewPassword: str
    ) -> dict[str, Any]:
        """IAM's ChangePassword: an IAM user changes its own password, proving the old one
        (a wrong one counts towards the lockout); clears PasswordResetRequired."""
        if caller.is_admin or caller.user_name is None:
            raise IamError(ACCESS_DENIED, "only an IAM user can change its own password")
        try:
            identity = self.check_password(caller.user_name, OldPassword)
        except IamError as error:
            if error.message == LOCKED_MESSAGE:
                raise
            raise IamError(ACCESS_DENIED, OLD_PASSWORD_WRONG) from None
        check_password_policy(NewPassword)
        with self.iam.store.transaction() as conn:
            conn.execute(
                sql_update(login_profiles)
                .where(login_profiles.c.identity_id == identity.id)
                .values(password_hash=self.hasher.hash(NewPassword), password_reset_required=False)
            )
        return {}

    # --- the console's password step ------------------------------------------------------------

    def check_password(self, user_name: str, password: str) -> Identity:
        """The identity when `password` is its console password; AccessDenied otherwise, the
        same for every reason (LOCKED_MESSAGE only while a known user's profile is locked)."""
        identity, profile = self._lookup(user_name)
        now = self.iam.clock.now()
        if identity is None or profile is None:
            self._verify(self._dummy(), password)  # the same work as a real check
            raise IamError(ACCESS_DENIED, SIGN_IN_FAILED)
        if profile.locked_until is not None and profile.locked_until > now:
            raise IamError(ACCESS_DENIED, LOCKED_MESSAGE)
        if not self._verify(profile.password_hash, password):
            self._record_failure(identity.id, now)
            raise IamError(ACCESS_DENIED, SIGN_IN_FAILED)
        self._record_success(identity.id, password, profile.password_hash)
        return identity

    def has_login_profile(self, identity: Identity) -> bool:
        return self._row(identity.id) is not None

    def password_reset_required(self, identity: Identity) -> bool:
        return self._profile(identity).password_reset_required

    # --- helpers --------------------------------------------------------------------------------

    def _lookup(self, user_name: str) -> tuple[Identity | None, LoginProfile | None]:
        try:
            names.user_name(user_name)
        except IamError:
            return None, None
        identity = self.iam.store.identity(self.iam.account_id, user_name)
        if identity is None:
            return None, None
        return identity, self._row(identity.id)

    def _row(self, identity_id: int) -> LoginProfile | None:
        with self.iam.store.read_only() as conn:
            row = conn.execute(
                select(login_profiles).where(login_profiles.c.identity_id == identity_id)
            ).first()
        if row is None:
            return None
        data = row._mapping
        return LoginProfile(
            identity_id=data["identity_id"],
            password_hash=data["password_hash"],
            password_reset_required=bool(data["password_reset_required"]),
            created_at=data["created_at"],
            failed_attempts=data["failed_attempts"],
            locked_until=data["locked_until"],
        )

    def _profile(self, identity: Identity) -> LoginProfile:
        profile = self._row(identity.id)
        if profile is None:
            raise _no_profile(identity)
        return profile

    def _shape(self, identity: Identity, profile: LoginProfile) -> dict[str, Any]:
        return {
            "UserName": identity.user_name,
            "CreateDate": names.iso_date(profile.created_at),
            "PasswordResetRequired": profile.password_reset_required,
        }

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)
        return self._dummy_hash

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _record_failure(self, identity_id: int, now: float) -> None:
        """Count a failure atomically; the limit-th locks until now + cool-down. A lock whose
        cool-down has passed starts a fresh count (as the TOTP lockout in the store does)."""
        policy = self.iam.policy
        table = login_profiles.c
        lapsed = table.locked_until.is_not(None) & (table.locked_until <= now)
        failures = case((lapsed, 1), else_=table.failed_attempts + 1)
        locked = case(
            (failures >= policy.lockout_limit, now + policy.lockout_cooldown),
            (lapsed, None),
            else_=table.locked_until,
        )
        with self.iam.store.transaction() as conn:
            conn.execute(
                sql_update(login_profiles)
                .where(table.identity_id == identity_id)
                .values(failed_attempts=failures, locked_until=locked)
            )

    def _record_success(self, identity_id: int, password: str, password_hash: str) -> None:
        values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
        if self.hasher.check_needs_rehash(password_hash):
            values["password_hash"] = self.hasher.hash(password)
        with self.iam.store.transaction() as conn:
            conn.execute(
                sql_update(login_profiles)
                .where(login_profiles.c.identity_id == identity_id)
                .values(**values)
            )


def _no_profile(identity: Identity) -> IamError:
    return IamError(NO_SUCH_ENTITY, f"Login Profile for User {identity.user_name} cannot be found.")
