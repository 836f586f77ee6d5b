"""GetSessionToken, AssumeRole, GetCallerIdentity: temporary credentials, with STS's rules.

MFA codes go through the library's TOTP sign-in (`IamService.sign_in`): the same window, the
same replay refusal (a code's time step is used once per device) and the same lockout policy as
every other sign-in. The serial is checked first so that STS's two distinct refusals come out
as STS words them (a serial that is not the caller's: "unable to validate MFA code"; a wrong or
replayed code: "invalid MFA one time pass code"). Sources for the wording: AWS CLI output quoted
in aws/aws-cli#6325 and broamski/aws-mfa#25 (serial; two spaces after "code."), and clients that
match STS's message verbatim, trailing space included (code search "one time pass code. \\"").

Sessions are stored with the session token's SHA-256 only and the secret sealed under the KEK
(`sts-session:<id>`); a session made with an MFA code records the serial and the time, which is
what `aws:MultiFactorAuthPresent` and `aws:MultiFactorAuthAge` are evaluated against.
"""

from __future__ import annotations

import base64
from typing import Any

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.access_keys import SESSION_KEY_PREFIX, new_key_pair
from tokenbench.verifier.errors import ACCESS_DENIED, VALIDATION_ERROR, IamError
from tokenbench.verifier.iam import WRONG_SERIAL, IamService
from tokenbench.verifier.iam_names import TOTP_KINDS
from tokenbench.verifier.policy_documents import parse_trust_policy
from tokenbench.verifier.principals import SESSION_SEAL_LABEL, Principal, token_digest
from tokenbench.verifier.principals_hot import PrincipalStatements
from tokenbench.verifier.roles import Role, Roles

MIN_DURATION = 900
SESSION_MAX = 129_600  # GetSessionToken: 36 hours
SESSION_DEFAULT = 43_200
ROOT_SESSION_MAX = 3600  # root's sessions: at most (and by default) one hour
ROLE_MAX = 43_200
ROLE_DEFAULT = 3600
CHAINED_MAX = 3600  # a role session assuming a role
TOKEN_BYTES = 120
SESSION_CREDENTIALS_REFUSED = "Cannot call GetSessionToken with session credentials"
ROOT_CANNOT_ASSUME = "Roles may not be assumed by root accounts."
CHAINING_LIMIT = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
    "chaining."
)
ROLE_LIMIT = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
NOT_MODELLED = "session policies are not modelled by tokenbench"


class StsOperations:
    """STS for one account; every time comes from the service's clock (`iam.clock`)."""

    def __init__(self, iam: IamService, roles: Roles) -> None:
        self.iam = iam
        self.roles = roles
        self._statements: PrincipalStatements | None = None

    @property
    def statements(self) -> PrincipalStatements:
        """The session INSERT (`principals_hot`), compiled on first use."""
        if self._statements is None:
            self._statements = PrincipalStatements(self.iam.store)
        return self._statements

    def get_session_token(
        self,
        principal: Principal,
        *,
        DurationSeconds: int | None = None,
        SerialNumber: str | None = None,
        TokenCode: str | None = None,
        MinimumSessionTokenSize: int | None = None,
    ) -> dict[str, Any]:
        """Only long-term keys may call it; root's sessions last at most an hour."""
        del MinimumSessionTokenSize  # our tokens are 160 characters already
        if principal.is_temporary:
            raise IamError(ACCESS_DENIED, SESSION_CREDENTIALS_REFUSED)
        duration = SESSION_DEFAULT
        if DurationSeconds is not None:
            duration = names.integer(DurationSeconds, "DurationSeconds", MIN_DURATION, SESSION_MAX)
        if principal.is_root:
            duration = min(duration, ROOT_SESSION_MAX)
        mfa_serial = self._check_mfa(principal, SerialNumber, TokenCode)
        now = self.iam.clock.now()
        mfa_at = now if mfa_serial is not None else None
        credentials = self._issue(principal, duration, None, None, mfa_serial, mfa_at)
        return {"Credentials": credentials}

    def assume_role(
        self,
        principal: Principal,
        *,
        RoleArn: str,
        RoleSessionName: str,
        DurationSeconds: int | None = None,
        SerialNumber: str | None = None,
        TokenCode: str | None = None,
        Policy: str | None = None,
        PolicyArns: list[Any] | None = None,
        ExternalId: str | None = None,
        Tags: list[Any] | None = None,
        TransitiveTagKeys: list[Any] | None = None,
        SourceIdentity: str | None = None,
        MinimumSessionTokenSize: int | None = None,
    ) -> dict[str, Any]:
        """The role's trust policy must name the caller and, when it says so, see MFA (from
        the caller's session or this call's code) younger than its limit. Tags, ExternalId and
        SourceIdentity are accepted and ignored (no policy here reads them); session policies
        are refused rather than silently not applied."""
        del ExternalId, Tags, TransitiveTagKeys, SourceIdentity, MinimumSessionTokenSize
        if Policy is not None or PolicyArns:
            raise IamError(VALIDATION_ERROR, NOT_MODELLED)
        names.role_session_name(RoleSessionName)
        if not isinstance(RoleArn, str) or not 20 <= len(RoleArn) <= 2048:
            raise IamError(
                VALIDATION_ERROR,
                "1 validation error detected: Value at 'roleArn' failed to satisfy constraint: "
                "Member must have length between 20 and 2048",
            )
        duration = ROLE_DEFAULT
        if DurationSeconds is not None:
            duration = names.integer(DurationSeconds, "DurationSeconds", MIN_DURATION, ROLE_MAX)
        if principal.is_root:
            raise IamError(ACCESS_DENIED, ROOT_CANNOT_ASSUME)
        mfa_serial = self._check_mfa(principal, SerialNumber, TokenCode)
        now = self.iam.clock.now()
        if mfa_serial is not None:
            mfa_at: float | None = now
        else:
            mfa_serial, mfa_at = principal.mfa_serial, principal.mfa_authenticated_at
        role = self.roles.role_by_arn(RoleArn)
        if role is None or not _trusts(role, principal, mfa_at, now):
            raise IamError(
                ACCESS_DENIED,
                f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on "
                f"resource: {RoleArn}",
            )
        if principal.kind == "assumed-role" and duration > CHAINED_MAX:
            raise IamError(VALIDATION_ERROR, CHAINING_LIMIT)
        if duration > role.max_session_duration:
            raise IamError(VALIDATION_ERROR, ROLE_LIMIT)
        credentials = self._issue(principal, duration, role, RoleSessionName, mfa_serial, mfa_at)
        return {
            "Credentials": credentials,
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.role_id}:{RoleSessionName}",
                "Arn": names.assumed_role_arn(role.account_id, role.role_name, RoleSessionName),
            },
        }

    def get_caller_identity(self, principal: Principal) -> dict[str, Any]:
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}

    # --- helpers ---------------------------------------------------------------------------

    def _check_mfa(self, principal: Principal, serial: str | None, code: str | None) -> str | None:
        """The serial whose code was accepted, or None when the call carries no MFA."""
        if serial is None and code is None:
            return None
        if serial is None or code is None:
            raise IamError(VALIDATION_ERROR, "SerialNumber and TokenCode must be given together")
        names.serial_number(serial)
        names.authentication_code(code, "TokenCode")
        device, owner = self.iam.store.device_with_owner(serial)
        if (
            device is None
            or owner is None
            or owner.id != principal.identity.id
            or device.kind not in TOTP_KINDS
        ):
            raise IamError(ACCESS_DENIED, WRONG_SERIAL)
        user_name = principal.identity.user_name
        if owner.account_id != self.iam.account_id:  # another account's caller: sign_in's answer
            self.iam.sign_in(UserName=user_name, SerialNumber=serial, TokenCode=code)
            return serial
        names.user_name(user_name)  # as sign_in checks it
        self.iam.sign_in_device(device, owner, code)  # the device is read once, not twice
        return serial

    def _issue(
        self,
        principal: Principal,
        duration: int,
        role: Role | None,
        session_name: str | None,
        mfa_serial: str | None,
        mfa_at: float | None,
    ) -> dict[str, Any]:
        key_id, secret = new_key_pair(SESSION_KEY_PREFIX, self.iam.rng)
        token = base64.b64encode(self.iam.rng(TOKEN_BYTES)).decode("ascii")
        now = self.iam.clock.now()
        expires = now + duration
        sealed = self.iam.cipher.seal(SESSION_SEAL_LABEL + key_id, secret.encode("ascii"))
        self.statements.add_session(
            {
                "access_key_id": key_id,
                "identity_id": principal.identity.id,
                "sealed_secret": sealed,
                "session_token_sha256": token_digest(token),
                "role_id": None if role is None else role.id,
                "role_session_name": session_name,
                "mfa_serial": mfa_serial,
                "mfa_authenticated_at": mfa_at,
                "created_at": now,
                "expires_at": expires,
            }
        )
        return {
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": names.iso_date(expires),
        }


def _trusts(role: Role, principal: Principal, mfa_at: float | None, now: float) -> bool:
    return any(
        statement.names(principal.trust_arn, principal.account_id) and statement.mfa_ok(mfa_at, now)
        for statement in parse_trust_policy(role.trust_policy)
    )
