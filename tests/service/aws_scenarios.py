"""AWS client scenarios for IAM's MFA rules, as plain functions of boto3 clients.

Each scenario does what a person with the AWS SDK would do, from a clean start, and returns an
`Outcome`: whether the step under test was accepted, and if not the error code and message the
endpoint answered. The same functions run against moto (in process, `moto.mock_aws()`) and
against `tokenbench serve`; they only ever see an `AwsTarget`:

- `admin_iam`, `admin_sts`: clients signed with the account administrator's key;
- `client_for(service, access_key_id, secret, session_token=None)`: a client for one user;
- `clock`: the clock the user's phone app reads. Against our server it is the service's own
  FakeClock, so the codes the app shows are the codes the server expects; `advance(30)` moves
  both to the next 30-second step. Against moto any clock will do (moto checks no code).

Codes come from tokenbench's own virtual authenticator app (`VirtualTotpApp`) fed with the
device's Base32StringSeed; the QR code PNG is scanned too, and whether it held the same seed is
recorded (moto's "PNG" is 64 random bytes).
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.errors import TotpError
from tokenbench.emulators.totp.otp import OtpAccount

STEP = 30  # seconds per TOTP code, as IAM's virtual devices use
MAX_DEVICES_PER_USER = 8  # IAM quota: MFA devices in use per user
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ISSUER = "tokenbench-scenario"
UNKNOWN_HARDWARE_SERIAL = "GAHT10000001"  # the form of a hardware token's serial; never imported


class StepClock(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class AwsTarget(Protocol):
    """What a scenario needs of an endpoint: see the module docstring."""

    admin_iam: Any
    admin_sts: Any

    @property
    def clock(self) -> StepClock: ...

    def client_for(
        self, service: str, access_key_id: str, secret: str, session_token: str | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    """What happened at the step under test (`accepted`, or AWS's `code` and `message`)."""

    scenario: str
    accepted: bool
    code: str | None = None
    message: str | None = None
    facts: Mapping[str, object] = field(default_factory=dict)


@dataclass
class User:
    """An IAM user with an access key, its own clients, and a phone with the app on it."""

    name: str
    arn: str
    access_key_id: str
    secret: str = field(repr=False)
    iam: Any
    sts: Any
    app: VirtualTotpApp


def attempt(scenario: str, call: Callable[[], object], **facts: object) -> Outcome:
    """Run the step under test; a refusal becomes the outcome, anything else propagates."""
    try:
        call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Outcome(scenario, False, error.get("Code"), error.get("Message"), facts)
    return Outcome(scenario, True, facts=facts)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- steps the scenarios share ------------------------------------------------------------------


def create_user(target: AwsTarget, prefix: str = "user") -> User:
    name = unique(prefix)
    arn = target.admin_iam.create_user(UserName=name)["User"]["Arn"]
    key = target.admin_iam.create_access_key(UserName=name)["AccessKey"]
    secret = key["SecretAccessKey"]
    return User(
        name=name,
        arn=arn,
        access_key_id=key["AccessKeyId"],
        secret=secret,
        iam=target.client_for("iam", key["AccessKeyId"], secret),
        sts=target.client_for("sts", key["AccessKeyId"], secret),
        app=VirtualTotpApp(target.clock),
    )


@dataclass(frozen=True)
class Device:
    serial: str
    account: OtpAccount  # the app's entry for it
    facts: Mapping[str, object]


def create_virtual_device(user: User, name: str | None = None, *, digits: int = 6) -> Device:
    """The user creates a virtual device and bootstraps the app from it: scans the QR code,
    and types in the Base32 seed (the code path that works against any endpoint)."""
    name = name or unique("phone")
    created = user.iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    seed = created["Base32StringSeed"].decode("ascii")
    png = created["QRCodePNG"]
    account = user.app.add_secret(seed, ISSUER, name, digits=digits)
    return Device(created["SerialNumber"], account, _qr_facts(png, account, user.app))


def _qr_facts(png: bytes, account: OtpAccount, app: VirtualTotpApp) -> dict[str, object]:
    scanner = VirtualTotpApp(app.clock)
    try:
        scanned: OtpAccount | None = scanner.add_qr_png(png)
    except TotpError:
        scanned = None
    return {
        "qr_is_png": png.startswith(PNG_MAGIC),
        "qr_decoded": scanned is not None,
        "qr_matches_seed": scanned is not None and scanned.secret == account.secret,
    }


def consecutive_codes(clock: StepClock, app: VirtualTotpApp, device: Device) -> tuple[str, str]:
    """Two codes from consecutive 30 s steps, as a person reads them off the app."""
    first = app.code(device.account)
    clock.advance(STEP)
    return first, app.code(device.account)


def enable(user: User, device: Device, code1: str, code2: str) -> object:
    return user.iam.enable_mfa_device(
        UserName=user.name,
        SerialNumber=device.serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )


def enrolled_user(target: AwsTarget, prefix: str = "user") -> tuple[User, Device]:
    """A user with one enabled virtual device; the clock is left on a step no code was used in."""
    user = create_user(target, prefix)
    device = create_virtual_device(user)
    enable(user, device, *consecutive_codes(target.clock, user.app, device))
    target.clock.advance(STEP)
    return user, device


def session_token(user: User, device: Device, code: str) -> Any:
    return user.sts.get_session_token(SerialNumber=device.serial, TokenCode=code)


def code_outside_window(clock: StepClock, device: Device, steps: int = 3) -> str:
    """A 6-digit code that the device shows at none of the `steps` steps either side of now."""
    near = {device.account.code_at(clock.now() + STEP * k) for k in range(-steps, steps + 1)}
    candidate = int(device.account.code_at(clock.now()))
    while f"{candidate:06d}" in near:
        candidate = (candidate + 500_009) % 1_000_000
    return f"{candidate:06d}"


# -- the scenarios --------------------------------------------------------------------------------


def user_with_access_key(target: AwsTarget) -> Outcome:
    """CreateUser and CreateAccessKey (admin); the user's key then signs its own calls."""
    user = create_user(target)
    arns: list[str] = []
    outcome = attempt(
        "user_with_access_key", lambda: arns.append(user.sts.get_caller_identity()["Arn"])
    )
    return _with(outcome, caller_is_user=arns == [user.arn])


def enable_virtual_device(target: AwsTarget) -> Outcome:
    """CreateVirtualMFADevice by the user, the app bootstrapped from it, two consecutive codes,
    EnableMFADevice."""
    user = create_user(target)
    device = create_virtual_device(user)
    codes = consecutive_codes(target.clock, user.app, device)
    outcome = attempt("enable_virtual_device", lambda: enable(user, device, *codes), **device.facts)
    listed = user.iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    return _with(outcome, listed=device.serial in {d["SerialNumber"] for d in listed})


def session_token_with_mfa(target: AwsTarget) -> Outcome:
    """GetSessionToken with SerialNumber and the current code; the session then works."""
    user, device = enrolled_user(target)
    result: dict[str, Any] = {}

    def call() -> None:
        result.update(session_token(user, device, user.app.code(device.account))["Credentials"])

    outcome = attempt("session_token_with_mfa", call)
    if not outcome.accepted:
        return outcome
    session = target.client_for(
        "sts", result["AccessKeyId"], result["SecretAccessKey"], result["SessionToken"]
    )
    arn = session.get_caller_identity()["Arn"]
    return _with(outcome, session_arn_is_user=arn == user.arn, session_arn=arn)


def replayed_code(target: AwsTarget) -> Outcome:
    """The code that just opened a session, sent again within its 30 s step."""
    user, device = enrolled_user(target)
    code = user.app.code(device.account)
    first = attempt("replayed_code/first", lambda: session_token(user, device, code))
    outcome = attempt("replayed_code", lambda: session_token(user, device, code))
    return _with(outcome, first_accepted=first.accepted)


def wrong_code(target: AwsTarget) -> Outcome:
    """A code the device shows at no step near now."""
    user, device = enrolled_user(target)
    code = code_outside_window(target.clock, device)
    return attempt("wrong_code", lambda: session_token(user, device, code))


def wrong_serial(target: AwsTarget) -> Outcome:
    """Another user's device serial, with that device's valid current code."""
    user, _ = enrolled_user(target, "owner")
    other, other_device = enrolled_user(target, "other")
    code = other.app.code(other_device.account)
    return attempt("wrong_serial", lambda: session_token(user, other_device, code))


def ninth_device(target: AwsTarget) -> Outcome:
    """Eight virtual devices enabled for one user, then a ninth. After the first, the user
    signs in with it (GetSessionToken) and adds the rest with the session, as the console does:
    an identity that has a device must have used one to change its devices."""
    user = create_user(target)
    enabled = 0
    for _ in range(MAX_DEVICES_PER_USER):
        device = create_virtual_device(user)
        step = attempt("ninth_device/enable", functools.partial(_enable_now, target, user, device))
        enabled += step.accepted
        if enabled == 1 and step.accepted:
            target.clock.advance(STEP)
            user = signed_in_with_mfa(target, user, device)
    ninth = create_virtual_device(user)
    outcome = attempt("ninth_device", lambda: _enable_now(target, user, ninth))
    return _with(outcome, enabled_before=enabled)


def signed_in_with_mfa(target: AwsTarget, user: User, device: Device) -> User:
    """The same user with clients signed by MFA session credentials."""
    credentials = session_token(user, device, user.app.code(device.account))["Credentials"]
    key = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    return dataclasses.replace(
        user, iam=target.client_for("iam", *key), sts=target.client_for("sts", *key)
    )


def _enable_now(target: AwsTarget, user: User, device: Device) -> object:
    return enable(user, device, *consecutive_codes(target.clock, user.app, device))


def duplicate_device_name(target: AwsTarget) -> Outcome:
    """CreateVirtualMFADevice twice with one name."""
    user = create_user(target)
    name = unique("phone")
    create_virtual_device(user, name)
    return attempt(
        "duplicate_device_name",
        lambda: user.iam.create_virtual_mfa_device(VirtualMFADeviceName=name),
    )


def non_consecutive_codes(target: AwsTarget) -> Outcome:
    """EnableMFADevice with the codes of steps n and n+2 (one step skipped)."""
    user = create_user(target)
    device = create_virtual_device(user)
    first = user.app.code(device.account)
    target.clock.advance(2 * STEP)
    second = user.app.code(device.account)
    return attempt("non_consecutive_codes", lambda: enable(user, device, first, second))


def eight_digit_code(target: AwsTarget) -> Outcome:
    """EnableMFADevice with two consecutive 8-digit codes computed from the device's own seed."""
    user = create_user(target)
    device = create_virtual_device(user, digits=8)
    codes = consecutive_codes(target.clock, user.app, device)
    return attempt("eight_digit_code", lambda: enable(user, device, *codes), digits=len(codes[0]))


def delete_user_with_device(target: AwsTarget) -> Outcome:
    """DeleteUser (admin) while an MFA device is still enabled; the access key is deleted first,
    so the device is the only thing left attached."""
    user, _ = enrolled_user(target)
    target.admin_iam.delete_access_key(UserName=user.name, AccessKeyId=user.access_key_id)
    outcome = attempt(
        "delete_user_with_device", lambda: target.admin_iam.delete_user(UserName=user.name)
    )
    names = {u["UserName"] for u in target.admin_iam.list_users()["Users"]}
    return _with(outcome, user_still_listed=user.name in names)


def unknown_hardware_serial(target: AwsTarget) -> Outcome:
    """EnableMFADevice (admin) with a hardware token serial that was never imported."""
    user = create_user(target)
    return attempt(
        "unknown_hardware_serial",
        lambda: target.admin_iam.enable_mfa_device(
            UserName=user.name,
            SerialNumber=UNKNOWN_HARDWARE_SERIAL,
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        ),
    )


def _with(outcome: Outcome, **facts: object) -> Outcome:
    merged = {**outcome.facts, **facts}
    return Outcome(outcome.scenario, outcome.accepted, outcome.code, outcome.message, merged)


SCENARIOS: tuple[Callable[[AwsTarget], Outcome], ...] = (
    user_with_access_key,
    enable_virtual_device,
    session_token_with_mfa,
    replayed_code,
    wrong_code,
    wrong_serial,
    ninth_device,
    duplicate_device_name,
    non_consecutive_codes,
    eight_digit_code,
    delete_user_with_device,
    unknown_hardware_serial,
)


def run_all(target: AwsTarget) -> list[Outcome]:
    """Every scenario against `target`, in order (each starts from its own new users)."""
    return [scenario(target) for scenario in SCENARIOS]
