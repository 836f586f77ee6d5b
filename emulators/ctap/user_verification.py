"""The pinUvAuthParam rules shared by makeCredential and getAssertion (CTAP 2.1 §6.1.2, §6.2.2).

This key has no built-in user verification: UV is only ever proven by a pinUvAuthParam made
with a pinUvAuthToken from authenticatorClientPIN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import get_bytes, get_int
from tokenbench.emulators.ctap.transaction import Transaction

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator


def pin_uv_param(
    auth: Authenticator,
    params: dict[Any, Any],
    param_key: int,
    protocol_key: int,
    transaction: Transaction | None,
) -> tuple[bytes | None, int | None]:
    """pinUvAuthParam and its protocol, after the zero-length and protocol checks.

    A zero-length pinUvAuthParam is a platform asking "is a PIN set?" while the user picks a
    key: answer after a touch, PIN_INVALID if a PIN is set and PIN_NOT_SET otherwise.
    """
    param = get_bytes(params, param_key)
    protocol = get_int(params, protocol_key)
    if param is None or not auth.profile.supports_client_pin:
        return None, protocol
    if len(param) == 0:
        auth.presence(transaction, "pinUvAuthParam probe")
        if auth.client_pin.is_pin_set:
            raise CtapError(CtapStatus.PIN_INVALID, "zero-length pinUvAuthParam")
        raise CtapError(CtapStatus.PIN_NOT_SET, "zero-length pinUvAuthParam")
    if protocol is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "pinUvAuthProtocol missing")
    if protocol not in auth.profile.pin_uv_auth_protocols:
        raise CtapError(CtapStatus.INVALID_PARAMETER, f"pinUvAuthProtocol {protocol}")
    return param, protocol


def token_param(
    auth: Authenticator, params: dict[Any, Any], param_key: int, protocol_key: int, what: str
) -> tuple[bytes, int]:
    """pinUvAuthParam + protocol of a management command (credMgmt, largeBlobs, config):
    PUAT_REQUIRED without a param, MISSING_PARAMETER without a protocol, INVALID_PARAMETER
    for a protocol this key does not speak."""
    param = get_bytes(params, param_key)
    protocol = get_int(params, protocol_key)
    if param is None:
        raise CtapError(CtapStatus.PUAT_REQUIRED, f"{what} needs a pinUvAuthToken")
    if protocol is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "pinUvAuthProtocol missing")
    if protocol not in auth.profile.pin_uv_auth_protocols:
        raise CtapError(CtapStatus.INVALID_PARAMETER, f"pinUvAuthProtocol {protocol}")
    return param, protocol


def uv_option(auth: Authenticator, options: dict[str, bool]) -> None:
    """The "uv" option asks for built-in UV, which this key does not have."""
    if options.get("uv"):
        status = CtapStatus.INVALID_OPTION if auth.profile.ctap21 else CtapStatus.UNSUPPORTED_OPTION
        raise CtapError(status, "no built-in user verification")


def verify(
    auth: Authenticator,
    protocol: int,
    param: bytes,
    client_data_hash: bytes,
    permission: Permission,
    rp_id: str,
) -> None:
    """pinUvAuthParam = authenticate(token, clientDataHash), with the permission and RP ID.

    Without a PIN there is no token, so any pinUvAuthParam fails as PIN_AUTH_INVALID.
    """
    auth.client_pin.verify_token(protocol, param, client_data_hash, permission, rp_id)


def token_presence(auth: Authenticator, verified: bool) -> bool:
    """Whether the token already carries a recent touch (then the key does not ask again)."""
    return verified and auth.client_pin.token_user_present()


def after_use(auth: Authenticator, verified: bool) -> None:
    """A token's UP flag and mc/ga permissions are good for one operation only (§6.1.2, §6.2.2).

    The spec also clears the userVerified flag here, but keeps the `lbw` permission so the
    platform can write a large blob with the same token right after getAssertion; dropping
    every permission except `lbw` already stops reuse for mc/ga, and ClientPin.verify_token
    insists on userVerified for every permission, so the flag is left as is when the
    permissions can be cleared.
    """
    if not verified:
        return
    auth.client_pin.clear_user_present()
    clear = getattr(auth.client_pin, "clear_permissions_except_lbw", None)
    if clear is not None:
        clear()
    else:
        auth.client_pin.clear_user_verified()
