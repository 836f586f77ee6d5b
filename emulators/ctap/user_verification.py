"""The pinUvAuthParam rules shared by the commands (CTAP 2.1 §6.1.2, §6.2.2, §6.8, §6.10, §6.11).

UV is proven by a pinUvAuthParam made with a pinUvAuthToken from authenticatorClientPIN, or,
on a key with a fingerprint sensor and an enrolled finger, by the "uv" option (builtin_uv.py).
"""

from __future__ import annotations

from tokenbench.emulators.ctap import builtin_uv
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.request import PinUvAuth
from tokenbench.emulators.ctap.transaction import Transaction


def always_uv(key: KeyContext) -> bool:
    """Whether alwaysUv is on and enforced (the always-uv-ignored fault reports it only)."""
    return key.state.always_uv and key.profile.supports_always_uv and key.faults.enforces_always_uv


def _check_protocol(key: KeyContext, protocol: int | None) -> int:
    supported = key.profile.pin_uv_auth_protocols
    if key.faults.lenient_requests and protocol not in supported:
        return supported[0]  # a sloppy key assumes the protocol it knows
    if protocol is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "pinUvAuthProtocol missing")
    if protocol not in supported:
        raise CtapError(CtapStatus.INVALID_PARAMETER, f"pinUvAuthProtocol {protocol}")
    return protocol


def ceremony_param(
    key: KeyContext, auth: PinUvAuth, transaction: Transaction | None
) -> tuple[bytes, int] | None:
    """makeCredential / getAssertion: pinUvAuthParam and its protocol, or None without one.

    A zero-length pinUvAuthParam is a platform asking "is a PIN set?" while the user picks a
    key: answer after a touch, PIN_INVALID if a PIN is set and PIN_NOT_SET otherwise. A key
    without clientPin ignores the parameter.
    """
    if auth.param is None or not key.profile.supports_client_pin:
        return None
    if len(auth.param) == 0 and not key.faults.lenient_requests:
        key.presence(transaction, "pinUvAuthParam probe")
        if key.client_pin.is_pin_set:
            raise CtapError(CtapStatus.PIN_INVALID, "zero-length pinUvAuthParam")
        raise CtapError(CtapStatus.PIN_NOT_SET, "zero-length pinUvAuthParam")
    return auth.param, _check_protocol(key, auth.protocol)


def token_param(key: KeyContext, auth: PinUvAuth, what: str) -> tuple[bytes, int]:
    """pinUvAuthParam + protocol of a management command (credMgmt, largeBlobs, config):
    PUAT_REQUIRED without a param, MISSING_PARAMETER without a protocol, INVALID_PARAMETER
    for a protocol this key does not speak."""
    if auth.param is None:
        raise CtapError(CtapStatus.PUAT_REQUIRED, f"{what} needs a pinUvAuthToken")
    return auth.param, _check_protocol(key, auth.protocol)


def refuse_uv_option(key: KeyContext, options: dict[str, bool]) -> None:
    """The "uv" option asks for built-in UV: refused unless the key has a sensor with an
    enrolled finger (INVALID_OPTION also when the sensor has none yet, §6.1.2 step 5)."""
    if options.get("uv") and not key.faults.ignores_options and not builtin_uv.configured(key):
        status = CtapStatus.INVALID_OPTION if key.profile.ctap21 else CtapStatus.UNSUPPORTED_OPTION
        raise CtapError(status, "no built-in user verification")


def sensor_uv(
    key: KeyContext,
    options: dict[str, bool],
    param: tuple[bytes, int] | None,
    transaction: Transaction | None,
) -> bool:
    """Built-in UV for a ceremony's "uv" option (a pinUvAuthParam, when present, wins).

    True once the finger matched (raises otherwise); a finger on the sensor is also the
    ceremony's test of user presence.
    """
    if not wants_sensor(key, options, param):
        return False
    builtin_uv.verify_user(key, transaction)
    return True


def finger_is_touch(key: KeyContext, by_sensor: bool) -> bool:
    """Whether the sensor's match also stands for user presence (not under no-presence)."""
    return by_sensor and not key.faults.withholds_presence


def wants_sensor(key: KeyContext, options: dict[str, bool], param: object | None) -> bool:
    """Whether the ceremony will verify the user with the sensor (see `sensor_uv`)."""
    return param is None and bool(options.get("uv")) and builtin_uv.configured(key)


def verify(
    key: KeyContext,
    param: tuple[bytes, int],
    client_data_hash: bytes,
    permission: Permission,
    rp_id: str,
) -> None:
    """pinUvAuthParam = authenticate(token, clientDataHash), with the permission and RP ID.

    Without a PIN there is no token, so any pinUvAuthParam fails as PIN_AUTH_INVALID.
    """
    value, protocol = param
    key.client_pin.verify_token(protocol, value, client_data_hash, permission, rp_id)


def token_presence(key: KeyContext, verified: bool) -> bool:
    """Whether the token already carries a recent touch (then the key does not ask again)."""
    return verified and key.client_pin.token_user_present()


def after_use(key: KeyContext, verified: bool) -> None:
    """A token's UP flag and mc/ga permissions are good for one operation only (§6.1.2, §6.2.2).

    The spec also clears the userVerified flag here, but keeps the `lbw` permission so the
    platform can write a large blob with the same token right after getAssertion; dropping
    every permission except `lbw` already stops reuse for mc/ga, and ClientPin.verify_token
    insists on userVerified for every permission, so the flag is left as is.
    """
    if not verified:
        return
    key.client_pin.clear_user_present()
    if key.faults.single_use_token:
        key.client_pin.clear_permissions_except_lbw()
