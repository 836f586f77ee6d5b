"""authenticatorConfig (CTAP 2.1 §6.11): enterprise attestation, alwaysUv, minimum PIN length.

pinUvAuthParam = authenticate(token, 32 x 0xff || 0x0d || subCommand || CBOR(subCommandParams))
with the `acfg` permission. A key with no PIN and alwaysUv off accepts configuration without
a token, as the spec allows for a key that is not protected by user verification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fido2 import cbor

from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import (
    PIN_UV_AUTH_PREFIX,
    CtapCommand,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    ConfigParam as P,
)
from tokenbench.emulators.ctap.constants import (
    ConfigSub as Sub,
)
from tokenbench.emulators.ctap.constants import (
    SetMinPinLengthParam as MP,
)
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import get_bool, get_int, get_list, get_map
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import token_param

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator


def handle(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any] | None:
    sub = get_int(params, P.SUB_COMMAND, required=True)
    sub_params = get_map(params, P.SUB_COMMAND_PARAMS)
    assert sub is not None
    supported = {
        Sub.ENABLE_ENTERPRISE_ATTESTATION: auth.profile.supports_ep,
        Sub.TOGGLE_ALWAYS_UV: auth.profile.supports_always_uv,
        Sub.SET_MIN_PIN_LENGTH: bool(auth.profile.options.get("setMinPINLength")),
    }
    if not supported.get(sub, False):  # type: ignore[call-overload]
        raise CtapError(CtapStatus.INVALID_SUBCOMMAND, f"config subCommand {sub}")
    _authorize(auth, params, sub, sub_params)
    if sub == Sub.ENABLE_ENTERPRISE_ATTESTATION:
        auth.state.enterprise_attestation = True
    elif sub == Sub.TOGGLE_ALWAYS_UV:
        auth.state.always_uv = not auth.state.always_uv
    else:
        _set_min_pin_length(auth, sub_params or {})
    auth.persist()
    return None


def _authorize(
    auth: Authenticator, params: dict[Any, Any], sub: int, sub_params: dict[Any, Any] | None
) -> None:
    if P.PIN_UV_AUTH_PARAM not in params and not (auth.uv_protected() or auth.state.always_uv):
        return  # not protected by UV: configuration is open (§6.11)
    param, protocol = token_param(
        auth, params, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL, "authenticatorConfig"
    )
    message = (
        PIN_UV_AUTH_PREFIX
        + bytes([CtapCommand.CONFIG, sub])
        + (cbor.encode(sub_params) if sub_params is not None else b"")
    )
    auth.client_pin.verify_token(protocol, param, message, Permission.ACFG, None)


def _set_min_pin_length(auth: Authenticator, sub_params: dict[Any, Any]) -> None:
    new_length = get_int(sub_params, MP.NEW_MIN_PIN_LENGTH)
    rp_ids = get_list(sub_params, MP.MIN_PIN_LENGTH_RP_IDS)
    force = get_bool(sub_params, MP.FORCE_CHANGE_PIN) or False
    if rp_ids is not None:
        if not all(isinstance(r, str) for r in rp_ids):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "minPinLengthRPIDs must be text")
        if len(rp_ids) > auth.profile.max_rpids_for_set_min_pin_length:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "too many minPinLengthRPIDs")
    current = auth.client_pin.state.min_pin_length
    length = current if new_length is None else new_length
    if length < current:
        raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "minimum PIN length cannot shrink")
    setter = getattr(auth.client_pin, "set_min_pin_length", None)
    if setter is not None:
        setter(length, force)
    else:
        auth.client_pin.state.min_pin_length = length
        auth.client_pin.state.force_pin_change = force or auth.client_pin.state.force_pin_change
    if rp_ids is not None:
        auth.state.min_pin_length_rp_ids = list(rp_ids)
