"""authenticatorConfig (CTAP 2.1 §6.11): enterprise attestation, alwaysUv, minimum PIN length.

pinUvAuthParam = authenticate(token, 32 x 0xff || 0x0d || subCommand || CBOR(subCommandParams))
with the `acfg` permission. A key with no PIN and alwaysUv off accepts configuration without
a token, as the spec allows for a key that is not protected by user verification.
"""

from __future__ import annotations

from dataclasses import dataclass

from fido2 import cbor

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
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.request import CborMap, Members, PinUvAuth, Response
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import always_uv, token_param

SUBCOMMANDS = frozenset(
    {Sub.ENABLE_ENTERPRISE_ATTESTATION, Sub.TOGGLE_ALWAYS_UV, Sub.SET_MIN_PIN_LENGTH}
)
"""What this key implements (not vendorPrototype)."""


@dataclass(frozen=True)
class MinPinLength:
    """setMinPINLength's subCommandParams (§6.11.4)."""

    new_length: int | None = None
    rp_ids: tuple[str, ...] | None = None
    force_change: bool = False

    @classmethod
    def parse(cls, members: Members | None) -> MinPinLength:
        if members is None:
            return cls()
        new_length = members.optional(MP.NEW_MIN_PIN_LENGTH, int)
        rp_ids = members.optional_list(MP.MIN_PIN_LENGTH_RP_IDS)
        force = members.optional(MP.FORCE_CHANGE_PIN, bool) or False
        if rp_ids is None:
            return cls(new_length, None, force)
        texts = tuple(r for r in rp_ids if isinstance(r, str))
        if len(texts) != len(rp_ids):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "minPinLengthRPIDs must be text")
        return cls(new_length, texts, force)


@dataclass(frozen=True)
class ConfigRequest:
    sub: Sub
    sub_params: CborMap | None
    """As sent: the pinUvAuthParam covers its CBOR."""
    auth: PinUvAuth
    min_pin_length: MinPinLength | None
    """The parameters of setMinPINLength; None for the other subCommands."""

    @classmethod
    def parse(cls, params: CborMap) -> ConfigRequest:
        """MISSING_PARAMETER / CBOR_UNEXPECTED_TYPE for a missing or mistyped member,
        INVALID_SUBCOMMAND for a subCommand this key does not know."""
        members = Members(params, "authenticatorConfig request")
        sub = members.required(P.SUB_COMMAND, int)
        sub_params = members.optional_map(P.SUB_COMMAND_PARAMS, "subCommandParams")
        if sub not in SUBCOMMANDS:
            raise CtapError(CtapStatus.INVALID_SUBCOMMAND, f"config subCommand {sub}")
        auth = PinUvAuth.parse(members, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL)
        min_pin_length = None
        if sub == Sub.SET_MIN_PIN_LENGTH:
            min_pin_length = MinPinLength.parse(sub_params)
        raw = None if sub_params is None else sub_params.raw
        return cls(Sub(sub), raw, auth, min_pin_length)

    def message(self) -> bytes:
        params = b"" if self.sub_params is None else cbor.encode(self.sub_params)
        return PIN_UV_AUTH_PREFIX + bytes([CtapCommand.CONFIG, self.sub]) + params


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response | None:
    request = ConfigRequest.parse(params)
    if not _supported(key, request.sub):
        raise CtapError(CtapStatus.INVALID_SUBCOMMAND, f"config subCommand {request.sub}")
    _authorize(key, request)
    if request.min_pin_length is not None:
        _set_min_pin_length(key, request.min_pin_length)
    elif request.sub == Sub.ENABLE_ENTERPRISE_ATTESTATION:
        key.state.enterprise_attestation = True
    else:
        key.state.always_uv = not key.state.always_uv
    key.persist()
    return None


def _supported(key: KeyContext, sub: Sub) -> bool:
    profile = key.profile
    if sub == Sub.ENABLE_ENTERPRISE_ATTESTATION:
        return profile.supports_ep
    if sub == Sub.TOGGLE_ALWAYS_UV:
        return profile.supports_always_uv
    return bool(profile.options.get("setMinPINLength"))


def _authorize(key: KeyContext, request: ConfigRequest) -> None:
    if request.auth.param is None and not (key.uv_protected() or always_uv(key)):
        return  # not protected by UV: configuration is open (§6.11)
    param, protocol = token_param(key, request.auth, "authenticatorConfig")
    permission = Permission.ACFG if key.faults.checks_token_permissions else Permission(0)
    key.client_pin.verify_token(protocol, param, request.message(), permission, None)


def _set_min_pin_length(key: KeyContext, change: MinPinLength) -> None:
    if change.rp_ids is not None and (
        len(change.rp_ids) > key.profile.max_rpids_for_set_min_pin_length
    ):
        raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "too many minPinLengthRPIDs")
    current = key.client_pin.state.min_pin_length
    length = current if change.new_length is None else change.new_length
    if length < current:
        raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "minimum PIN length cannot shrink")
    key.client_pin.set_min_pin_length(length, change.force_change)
    if change.rp_ids is not None:
        key.state.min_pin_length_rp_ids = list(change.rp_ids)
