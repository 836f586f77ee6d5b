"""IAM-style MFA rules over the store: users, virtual and hardware TOTP devices, sign-in.

Operations carry AWS IAM's names and parameter names (`enable_mfa_device(UserName=...,
SerialNumber=..., AuthenticationCode1=..., AuthenticationCode2=...)`), answer with IAM-shaped
dicts and refuse with IAM's error codes, so a rehearsal here behaves like the real service.
FIDO registration and sign-in (console-only in IAM) live in `tokenbench.verifier.iam_console`.

Decisions made where IAM leaves room, and why:
- A hardware serial that was never imported is NoSuchEntity (not InvalidAuthenticationCode):
  it names the real problem, and nothing about codes is revealed either way.
- Who may call: the account administrator (`Caller.admin()`) manages any user's devices but not
  the root identity's; an identity manages only its own, and once it has a device it must have
  signed in with one (`mfa_authenticated`) to enable or deactivate any device.
- Failed codes on an assigned device count towards a lockout (limit and cool-down in
  `VerifyPolicy`); a locked device answers AccessDenied until the cool-down has passed.
- `AuthenticationCode` and `TokenCode` are exactly 6 digits, as IAM's model says: an 8-digit
  hardware token can be imported but never enabled (IAM sells none).
"""

from __future__ import annotations

import base64
import contextlib
import io
import secrets
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import segno

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.certifications import certifications
from tokenbench.verifier.errors import (
    ACCESS_DENIED,
    DELETE_CONFLICT,
    ENTITY_ALREADY_EXISTS,
    INVALID_AUTHENTICATION_CODE,
    INVALID_INPUT,
    NO_SUCH_ENTITY,
    SERVICE_FAILURE,
    VALIDATION_ERROR,
    IamError,
    limit_exceeded,
    no_such_device,
)
from tokenbench.verifier.iam_names import (
    KIND_FIDO,
    KIND_HARDWARE,
    KIND_SMS,
    KIND_VIRTUAL,
    MAX_DEVICES_PER_IDENTITY,
    TOTP_KINDS,
)
from tokenbench.verifier.iam_pagination import paginate
from tokenbench.verifier.iam_seeds import SeedOperations
from tokenbench.verifier.iam_tags import TagOperations
from tokenbench.verifier.iam_users import UserOperations
from tokenbench.verifier.seeds import SeedCipher, SeedError
from tokenbench.verifier.store import Device, DuplicateError, Identity, Store
from tokenbench.verifier.totp import (
    DEFAULT_POLICY,
    Outcome,
    TotpKey,
    TotpParams,
    TotpState,
    Verdict,
    VerifyPolicy,
    verify,
    verify_consecutive,
)
from tokenbench.verifier.trust import TrustStore

VIRTUAL_SEED_BYTES = 40  # IAM's Base32StringSeed is 64 base32 characters
SESSION_SECONDS = 43_200
# STS's words, trailing space and double space included (as clients match them verbatim).
BAD_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
WRONG_SERIAL = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA "
    "serial number is valid and associated with this user."
)


class Clock(Protocol):
    """Anything with `now()` (emulators.clock's clocks fit; the verifier does not import them)."""

    def now(self) -> float: ...


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account administrator, or an identity acting on itself."""

    user_name: str | None = None
    mfa_authenticated: bool = False

    @classmethod
    def admin(cls) -> Caller:
        return cls()

    @property
    def is_admin(self) -> bool:
        return self.user_name is None


ADMIN = Caller()


@dataclass(frozen=True)
class Session:
    """The result of a sign-in: the identity, the factor used, and when it expires."""

    user_name: str
    serial_number: str
    expiration: float
    session_token: str

    @property
    def caller(self) -> Caller:
        return Caller(self.user_name, mfa_authenticated=True)


def open_account(
    store: Store,
    clock: Clock,
    account_id: str | None = None,
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """The account to work in: `account_id` (created if new), or the store's only account, or a
    new one with a random 12-digit ID. Every account gets its root identity."""
    existing = store.accounts()
    if account_id is None:
        if len(existing) > 1:
            raise IamError(VALIDATION_ERROR, "the store holds several accounts; name one")
        account_id = existing[0] if existing else _random_account_id(rng)
    names.account_id(account_id)
    if account_id not in existing:
        now = clock.now()
        with contextlib.suppress(DuplicateError):  # another process created it first
            store.add_account(account_id, now)
        if store.root_identity(account_id) is None:
            with contextlib.suppress(DuplicateError):
                store.add_identity(
                    account_id,
                    names.ROOT_USER_NAME,
                    user_id=account_id,
                    user_handle=rng(32),
                    is_root=True,
                    path="/",
                    now=now,
                )
    return account_id


def _random_account_id(rng: Callable[[int], bytes]) -> str:
    return str(int.from_bytes(rng(8), "big") % 10**12).zfill(12)


class IamService(TagOperations, SeedOperations, UserOperations):
    """One account's MFA rules. Thread-safe: all shared state is in the store."""

    def __init__(
        self,
        store: Store,
        cipher: SeedCipher,
        clock: Clock,
        account_id: str,
        *,
        policy: VerifyPolicy = DEFAULT_POLICY,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        device_limit: int = MAX_DEVICES_PER_IDENTITY,
        trust: TrustStore | None = None,
    ) -> None:
        self.store = store
        self.trust = trust  # MDS metadata for GetMFADevice's Certifications
        self.cipher = cipher
        self.clock = clock
        self.account_id = names.account_id(account_id)
        self.policy = policy
        self.rng = rng
        self.device_limit = device_limit

    # --- identities -------------------------------------------------------------------------

    def create_user(self, *, UserName: str, Path: str = "/") -> dict[str, Any]:
        names.user_name(UserName)
        names.path(Path)
        try:
            identity = self.store.add_identity(
                self.account_id,
                UserName,
                user_id="AIDA" + base64.b32encode(self.rng(11)).decode()[:17],
                user_handle=self.rng(32),
                is_root=False,
                path=Path,
                now=self.clock.now(),
            )
        except DuplicateError:
            raise IamError(
                ENTITY_ALREADY_EXISTS, f"User with name {UserName} already exists."
            ) from None
        return {"User": self._user(identity)}

    def get_user(self, *, UserName: str) -> dict[str, Any]:
        return {"User": self._user(self.identity(UserName))}

    def list_users(
        self, *, Marker: str | None = None, MaxItems: int | None = None
    ) -> dict[str, Any]:
        identities = [i for i in self.store.identities_of(self.account_id) if not i.is_root]
        page, more = paginate(identities, Marker, MaxItems)
        return {"Users": [self._user(i) for i in page], **more}

    def _user(self, identity: Identity) -> dict[str, Any]:
        return {
            "Path": identity.path,
            "UserName": identity.user_name,
            "UserId": identity.user_id,
            "Arn": names.user_arn(
                self.account_id, identity.path, identity.user_name, identity.is_root
            ),
            "CreateDate": names.iso_date(identity.created_at),
        }

    def identity(self, user_name: str) -> Identity:
        names.existing_user_name(user_name)
        identity = self.store.identity(self.account_id, user_name)
        if identity is None:
            raise IamError(NO_SUCH_ENTITY, f"The user with name {user_name} cannot be found.")
        return identity

    def target(self, caller: Caller, user_name: str | None, *, changes_mfa: bool) -> Identity:
        """The identity an operation acts on, after the caller's permission and the
        self-service rule (an identity with a device must be MFA-authenticated)."""
        if user_name is None:
            if caller.is_admin:
                raise IamError(VALIDATION_ERROR, "UserName is required for the administrator")
            user_name = caller.user_name
        assert user_name is not None
        identity = self.identity(user_name)
        if caller.is_admin:
            if identity.is_root:
                raise IamError(ACCESS_DENIED, "only the root identity manages its own MFA")
            return identity
        if caller.user_name is None or caller.user_name.lower() != identity.user_name.lower():
            raise IamError(
                ACCESS_DENIED, f"User {caller.user_name} is not authorized to act on {user_name}"
            )
        if (
            changes_mfa
            and not caller.mfa_authenticated
            and self.store.count_assigned(identity.id) > 0
        ):
            raise IamError(
                ACCESS_DENIED,
                "this identity already has an MFA device: sign in with it first",
            )
        return identity

    # --- virtual devices ----------------------------------------------------------------------

    def create_virtual_mfa_device(
        self,
        *,
        VirtualMFADeviceName: str,
        Path: str = "/",
        Tags: Sequence[dict[str, str]] = (),
        label_owner: str | None = None,
    ) -> dict[str, Any]:
        """A new unassigned virtual device; the seed and QR code are returned only here."""
        names.device_name(VirtualMFADeviceName)
        names.path(Path)
        tag_list = names.tags(list(Tags))
        serial = names.virtual_serial(self.account_id, Path, VirtualMFADeviceName)
        names.serial_number(serial)
        seed = self.rng(VIRTUAL_SEED_BYTES)
        device = Device(
            serial=serial,
            kind=KIND_VIRTUAL,
            created_at=self.clock.now(),
            account_id=self.account_id,
            name=VirtualMFADeviceName,
            path=Path,
            seed_sealed=self.cipher.seal(serial, seed),
            algorithm="SHA1",
            digits=6,
            period=30,
        )
        try:
            self.store.add_devices([device])
        except DuplicateError:
            raise IamError(
                ENTITY_ALREADY_EXISTS,
                f"MFADevice entity at the same path and name already exists "
                f"({VirtualMFADeviceName}).",
            ) from None
        if tag_list:
            self.store.put_tags(serial, tag_list, limit=names.MAX_TAGS)
        secret_b32 = base64.b32encode(seed).decode().rstrip("=")
        label = f"{VirtualMFADeviceName}@{label_owner or self.account_id}"
        uri = f"otpauth://totp/{urllib.parse.quote(label, safe='@')}?secret={secret_b32}"
        buffer = io.BytesIO()
        segno.make(uri, error="m").save(buffer, kind="png", scale=4, border=4)
        result: dict[str, Any] = {
            "SerialNumber": serial,
            "Base32StringSeed": secret_b32,
            "QRCodePNG": buffer.getvalue(),
        }
        if tag_list:
            result["Tags"] = [{"Key": k, "Value": v} for k, v in tag_list]
        return {"VirtualMFADevice": result}

    def delete_virtual_mfa_device(self, *, SerialNumber: str) -> dict[str, Any]:
        names.serial_number(SerialNumber)
        device = self.store.device(SerialNumber)
        if device is None or device.kind != KIND_VIRTUAL or device.account_id != self.account_id:
            raise no_device(SerialNumber)
        outcome = self.store.delete_unassigned(SerialNumber)
        if outcome == "assigned":
            raise IamError(
                DELETE_CONFLICT, "MFA Device is in use; deactivate it before deleting it."
            )
        if outcome == "missing":
            raise no_device(SerialNumber)
        return {}

    def list_virtual_mfa_devices(
        self,
        *,
        AssignmentStatus: str = "Any",
        Marker: str | None = None,
        MaxItems: int | None = None,
    ) -> dict[str, Any]:
        names.assignment_status(AssignmentStatus)
        assigned = {"Assigned": True, "Unassigned": False, "Any": None}[AssignmentStatus]
        devices = self.store.devices(
            account_id=self.account_id, kinds=[KIND_VIRTUAL], assigned=assigned
        )
        page, more = paginate(devices, Marker, MaxItems)
        entries = []
        for device in page:
            entry: dict[str, Any] = {"SerialNumber": device.serial}
            if device.identity_id is not None:
                identity = self.store.identity_by_id(device.identity_id)
                if identity is not None:
                    entry["User"] = self._user(identity)
                entry["EnableDate"] = names.iso_date(device.enable_date or 0.0)
            entries.append(entry)
        return {"VirtualMFADevices": entries, **more}

    # --- assigning devices --------------------------------------------------------------------

    def enable_mfa_device(
        self,
        *,
        UserName: str | None = None,
        SerialNumber: str,
        AuthenticationCode1: str,
        AuthenticationCode2: str,
        caller: Caller = ADMIN,
    ) -> dict[str, Any]:
        """Assign a TOTP device after two consecutive codes (in the wide resync window)."""
        names.serial_and_codes(SerialNumber, AuthenticationCode1, AuthenticationCode2)
        identity = self.target(caller, UserName, changes_mfa=True)
        device = self.store.device(SerialNumber)
        if device is None or (device.kind == KIND_VIRTUAL and device.account_id != self.account_id):
            raise no_device(SerialNumber)
        if device.kind == KIND_FIDO:
            raise IamError(
                INVALID_INPUT, "FIDO security keys are registered through the console ceremony"
            )
        if device.kind == KIND_SMS:
            raise IamError(INVALID_INPUT, "SMS text message MFA can no longer be enabled")
        if device.identity_id is not None or (device.account_id not in (None, self.account_id)):
            raise IamError(ENTITY_ALREADY_EXISTS, f"MFA device {SerialNumber} is already in use.")
        if self.store.count_assigned(identity.id) >= self.device_limit:
            raise _limit(identity)
        verdict = verify_consecutive(
            self._key(device),
            TotpState(),
            AuthenticationCode1,
            AuthenticationCode2,
            self.clock.now(),
            self.policy,
        )
        if not verdict.accepted:
            raise IamError(
                INVALID_AUTHENTICATION_CODE, "Authentication code for device is not valid."
            )
        outcome = self.store.assign_device(
            SerialNumber,
            identity,
            limit=self.device_limit,
            enable_date=self.clock.now(),
            last_step=verdict.step,
            drift_steps=verdict.drift_steps or 0,
        )
        if outcome == "limit":
            raise _limit(identity)
        if outcome != "ok":
            raise IamError(ENTITY_ALREADY_EXISTS, f"MFA device {SerialNumber} is already in use.")
        return {}

    def deactivate_mfa_device(
        self, *, UserName: str | None = None, SerialNumber: str, caller: Caller = ADMIN
    ) -> dict[str, Any]:
        """Detach a device. A virtual one returns to Unassigned and keeps its name until it is
        deleted; a hardware token can be enabled again (in any account); a FIDO or SMS device
        is removed."""
        names.serial_number(SerialNumber)
        identity = self.target(caller, UserName, changes_mfa=True)
        device = self.store.device(SerialNumber)
        if device is None or device.identity_id != identity.id:
            raise no_device(SerialNumber, identity)
        if device.kind == KIND_SMS:
            self.store.unassign_device(SerialNumber, identity.id, forget_account=False)
            self.store.delete_unassigned(SerialNumber)
            return {}
        forget = device.kind == KIND_HARDWARE
        if not self.store.unassign_device(SerialNumber, identity.id, forget_account=forget):
            raise no_device(SerialNumber, identity)
        return {}

    def list_mfa_devices(
        self,
        *,
        UserName: str | None = None,
        Marker: str | None = None,
        MaxItems: int | None = None,
        caller: Caller = ADMIN,
    ) -> dict[str, Any]:
        identity = self.target(caller, UserName, changes_mfa=False)
        page, more = paginate(self.store.devices(identity_id=identity.id), Marker, MaxItems)
        entries = [
            {
                "UserName": identity.user_name,
                "SerialNumber": device.serial,
                "EnableDate": names.iso_date(device.enable_date or device.created_at),
            }
            for device in page
        ]
        return {"MFADevices": entries, **more}

    def get_mfa_device(
        self, *, SerialNumber: str, UserName: str | None = None, caller: Caller = ADMIN
    ) -> dict[str, Any]:
        """FIDO devices only, as in IAM."""
        names.serial_number(SerialNumber)
        identity = self.target(caller, UserName, changes_mfa=False)
        device = self.store.device(SerialNumber)
        if device is None or device.identity_id != identity.id or device.kind != KIND_FIDO:
            raise no_device(SerialNumber, identity)
        return {
            "UserName": identity.user_name,
            "SerialNumber": device.serial,
            "EnableDate": names.iso_date(device.enable_date or device.created_at),
            "Certifications": certifications(self.trust, device.aaguid),
        }

    def resync_mfa_device(
        self,
        *,
        UserName: str | None = None,
        SerialNumber: str,
        AuthenticationCode1: str,
        AuthenticationCode2: str,
        caller: Caller = ADMIN,
    ) -> dict[str, Any]:
        """Two consecutive codes in the wide window around the learned drift; learns the new
        drift. Refused while the device is locked."""
        names.serial_and_codes(SerialNumber, AuthenticationCode1, AuthenticationCode2)
        identity = self.target(caller, UserName, changes_mfa=False)
        device = self._assigned_totp(SerialNumber, identity)
        now = self.clock.now()
        verdict = verify_consecutive(
            self._key(device),
            _state(device),
            AuthenticationCode1,
            AuthenticationCode2,
            now,
            self.policy,
        )
        if self._record(device, verdict, now):
            return {}
        if verdict.outcome is Outcome.LOCKED:
            raise _locked(device)
        raise IamError(INVALID_AUTHENTICATION_CODE, "Authentication code for device is not valid.")

    # --- sign-in ----------------------------------------------------------------------------

    def sign_in(self, *, UserName: str, SerialNumber: str, TokenCode: str) -> Session:
        """GetSessionToken-style: one code from one of the identity's TOTP devices."""
        names.serial_number(SerialNumber)
        names.authentication_code(TokenCode, "TokenCode")
        names.user_name(UserName)
        device, owner = self.store.device_with_owner(SerialNumber)
        if (
            device is None
            or owner is None
            or owner.account_id != self.account_id
            or owner.user_name.lower() != UserName.lower()
        ):
            self.identity(UserName)  # NoSuchEntity for an unknown user
            raise IamError(ACCESS_DENIED, WRONG_SERIAL)
        return self.sign_in_device(device, owner, TokenCode)

    def sign_in_device(self, device: Device, identity: Identity, TokenCode: str) -> Session:
        """`sign_in` for a device its caller has read and matched to `identity` already (STS
        does, for its own refusals: reading it twice was a fifth of a GetSessionToken)."""
        if device.kind not in TOTP_KINDS:
            raise IamError(
                VALIDATION_ERROR, "SerialNumber must name a TOTP device; FIDO signs in by assertion"
            )
        now = self.clock.now()
        verdict = verify(self._key(device), _state(device), TokenCode, now, self.policy)
        if self._record(device, verdict, now):
            return self.new_session(identity, device.serial)
        if verdict.outcome is Outcome.LOCKED:
            raise _locked(device)
        raise IamError(ACCESS_DENIED, BAD_CODE)

    def new_session(self, identity: Identity, serial: str) -> Session:
        return Session(
            identity.user_name,
            serial,
            self.clock.now() + SESSION_SECONDS,
            base64.urlsafe_b64encode(self.rng(32)).decode().rstrip("="),
        )

    def _record(self, device: Device, verdict: Verdict, now: float) -> bool:
        """Apply a verdict atomically; False when refused (a lost race counts as a replay)."""
        if verdict.accepted:
            assert verdict.step is not None
            if self.store.record_totp_success(
                device.serial,
                device.identity_id,
                step=verdict.step,
                drift_steps=verdict.drift_steps or 0,
                now=now,
            ):
                return True
        if verdict.outcome is not Outcome.LOCKED:
            self.store.record_totp_failure(
                device.serial,
                now=now,
                limit=self.policy.lockout_limit,
                cooldown=self.policy.lockout_cooldown,
            )
        return False

    def _assigned_totp(self, serial: str, identity: Identity) -> Device:
        device = self.store.device(serial)
        if device is None or device.identity_id != identity.id:
            raise no_device(serial, identity)
        if device.kind not in TOTP_KINDS:
            raise IamError(INVALID_INPUT, f"{serial} is not a TOTP device")
        return device

    def _key(self, device: Device) -> TotpKey:
        if device.seed_sealed is None:
            raise IamError(SERVICE_FAILURE, f"device {device.serial} has no seed")
        try:
            secret = self.cipher.open(device.serial, device.seed_sealed)
        except SeedError as exc:
            raise IamError(SERVICE_FAILURE, str(exc)) from None
        params = TotpParams(device.algorithm or "SHA1", device.digits or 6, device.period or 30)
        return TotpKey(secret, params)


def _state(device: Device) -> TotpState:
    return TotpState(
        device.drift_steps, device.last_step, device.failed_attempts, device.locked_until
    )


def no_device(serial: str, identity: Identity | None = None) -> IamError:
    return no_such_device(serial, identity.user_name if identity is not None else None)


def _limit(identity: Identity) -> IamError:
    return limit_exceeded(identity.user_name)


def _locked(device: Device) -> IamError:
    return IamError(
        ACCESS_DENIED,
        f"MFA device {device.serial} is locked after too many failed codes; try again later",
    )
