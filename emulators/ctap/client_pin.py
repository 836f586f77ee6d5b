"""authenticatorClientPIN (CTAP 2.1 §6.5): the PIN, its retry counters and the pinUvAuthToken.

`ClientPin.handle` is the whole 0x06 command; `ClientPin.verify_token` is what makeCredential,
getAssertion, credentialManagement, largeBlobs and authenticatorConfig call to check a
pinUvAuthParam. The persistent part (`PinState`) lives in the authenticator's state file;
everything else here is volatile and disappears on `power_cycle()`, like on a real key.

The UV subcommands (6 and 7) exist only on a key with a fingerprint sensor, which plugs them
in through `uv_subcommands` (builtin_uv.py); elsewhere they answer INVALID_SUBCOMMAND, as the
spec says for a key without built-in UV. Neither the PIN nor the token ever appears in a
repr, a log line or an exception message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from tokenbench.emulators.clock import Clock
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.misbehaviour import CoreFaults
from tokenbench.emulators.ctap.pin_protocols import PinProtocolOne, make_protocol
from tokenbench.emulators.ctap.pin_uv_token import (
    DEFAULT_SUPPORTED_PERMISSIONS,
    LEGACY_TOKEN_PERMISSIONS,
    Permission,
    PinUvAuthTokenState,
)
from tokenbench.emulators.ctap.request import CborMap, Members, Response
from tokenbench.emulators.ctap.state_fields import bool_field, int_field

DEFAULT_MIN_PIN_LENGTH = 4
PIN_RETRIES_MAX = 8
MAX_CONSECUTIVE_PIN_FAILURES = 3
"""After this many wrong PINs in a row the key wants a power cycle (PIN_AUTH_BLOCKED)."""
PADDED_PIN_LENGTH = 64
MAX_PIN_BYTES = 63
PIN_HASH_LENGTH = 16
TOKEN_LENGTH = 32


class SubCommand(IntEnum):
    GET_PIN_RETRIES = 0x01
    GET_KEY_AGREEMENT = 0x02
    SET_PIN = 0x03
    CHANGE_PIN = 0x04
    GET_PIN_TOKEN = 0x05
    GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS = 0x06
    GET_UV_RETRIES = 0x07
    GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS = 0x09


class ClientPinParam(IntEnum):
    """authenticatorClientPIN request keys (§6.5.5.1)."""

    PIN_UV_AUTH_PROTOCOL = 0x01
    SUB_COMMAND = 0x02
    KEY_AGREEMENT = 0x03
    PIN_UV_AUTH_PARAM = 0x04
    NEW_PIN_ENC = 0x05
    PIN_HASH_ENC = 0x06
    PERMISSIONS = 0x09
    RP_ID = 0x0A


class ClientPinResponse(IntEnum):
    KEY_AGREEMENT = 0x01
    PIN_UV_AUTH_TOKEN = 0x02
    PIN_RETRIES = 0x03
    POWER_CYCLE_STATE = 0x04
    UV_RETRIES = 0x05


T = TypeVar("T")


@dataclass(frozen=True)
class ClientPinRequest:
    """An authenticatorClientPIN request map, type-checked (§6.5.5.1).

    `parse` checks every member that is present first (CBOR_UNEXPECTED_TYPE, a negative
    protocol, subCommand or permissions included), then that subCommand is there
    (MISSING_PARAMETER). What each subCommand further requires, it asks for with `needed`.
    """

    sub_command: int
    protocol: int | None = None
    key_agreement: CborMap | None = None
    """The platform's COSE_Key (its contents are checked by the PIN protocol)."""
    pin_uv_auth_param: bytes | None = field(default=None, repr=False)
    new_pin_enc: bytes | None = field(default=None, repr=False)
    pin_hash_enc: bytes | None = field(default=None, repr=False)
    permissions: int | None = None
    rp_id: str | None = None

    @classmethod
    def parse(cls, params: object) -> ClientPinRequest:
        members = Members.of(params, "clientPIN request")
        protocol = members.unsigned(ClientPinParam.PIN_UV_AUTH_PROTOCOL)
        sub_command = members.unsigned(ClientPinParam.SUB_COMMAND)
        key_agreement = members.optional(ClientPinParam.KEY_AGREEMENT, dict)
        pin_uv_auth_param = members.optional(ClientPinParam.PIN_UV_AUTH_PARAM, bytes)
        new_pin_enc = members.optional(ClientPinParam.NEW_PIN_ENC, bytes)
        pin_hash_enc = members.optional(ClientPinParam.PIN_HASH_ENC, bytes)
        permissions = members.unsigned(ClientPinParam.PERMISSIONS)
        rp_id = members.optional(ClientPinParam.RP_ID, str)
        if sub_command is None:
            raise CtapError(CtapStatus.MISSING_PARAMETER, "subCommand missing")
        return cls(
            sub_command,
            protocol,
            key_agreement,
            pin_uv_auth_param,
            new_pin_enc,
            pin_hash_enc,
            permissions,
            rp_id,
        )

    @staticmethod
    def needed(value: T | None, member: ClientPinParam) -> T:
        """A member the subCommand requires: MISSING_PARAMETER without it."""
        if value is None:
            raise CtapError(CtapStatus.MISSING_PARAMETER, f"{member.name} missing")
        return value


def pin_hash(pin: bytes) -> bytes:
    """LEFT(SHA-256(pin), 16): what the key stores and what the platform sends encrypted."""
    return hashlib.sha256(pin).digest()[:PIN_HASH_LENGTH]


@dataclass
class PinState:
    """The persistent part of the PIN machinery, stored inside the authenticator state file."""

    pin_hash: bytes | None = field(default=None, repr=False)  # LEFT(SHA-256(pin), 16)
    pin_length: int = 0  # code points of the current PIN
    retries: int = PIN_RETRIES_MAX
    min_pin_length: int = DEFAULT_MIN_PIN_LENGTH
    force_pin_change: bool = False
    persistent_token: bytes | None = field(default=None, repr=False)
    """CTAP 2.2's persistent pinUvAuthToken (pcmr only): it outlives power cycles."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pin_hash": self.pin_hash.hex() if self.pin_hash is not None else None,
            "pin_length": self.pin_length,
            "retries": self.retries,
            "min_pin_length": self.min_pin_length,
            "force_pin_change": self.force_pin_change,
        }
        if self.persistent_token is not None:
            out["persistent_token"] = self.persistent_token.hex()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PinState:
        """Inverse of `to_dict`; ValueError/TypeError on a corrupt record (see state_fields)."""
        raw_hash = data.get("pin_hash")
        hash_bytes = bytes.fromhex(raw_hash) if raw_hash is not None else None
        if hash_bytes is not None and len(hash_bytes) != PIN_HASH_LENGTH:
            raise ValueError("stored PIN hash has the wrong length")
        raw_token = data.get("persistent_token")
        token = bytes.fromhex(raw_token) if raw_token is not None else None
        if token is not None and len(token) != TOKEN_LENGTH:
            raise ValueError("stored persistent token has the wrong length")
        return cls(
            pin_hash=hash_bytes,
            pin_length=int_field(data, "pin_length", 0, 0, MAX_PIN_BYTES),
            retries=int_field(data, "retries", PIN_RETRIES_MAX, 0, PIN_RETRIES_MAX),
            min_pin_length=int_field(data, "min_pin_length", DEFAULT_MIN_PIN_LENGTH, low=1),
            force_pin_change=bool_field(data, "force_pin_change", False),
            persistent_token=token,
        )


class ClientPin:
    """The authenticator side of authenticatorClientPIN and of pinUvAuthParam checks.

    `rng` supplies key-agreement keys, IVs and tokens; `persist` is called after every change
    to `state` (retry counters are persisted *before* a PIN is compared, so pulling the plug
    mid-guess does not save a retry). `clock` drives the token usage timers of §6.5.2.1; without
    one, tokens live until the next power cycle. `supported_permissions` (see
    `supported_permissions_for`) limits what subCommand 9 grants; `pin_uv_auth_token=False`
    gives a CTAP 2.0 key, which knows only subCommands 1-5.
    """

    def __init__(
        self,
        rng: Callable[[int], bytes],
        persist: Callable[[], None],
        state: PinState,
        protocols: Sequence[int] = (2, 1),
        *,
        clock: Clock | None = None,
        supported_permissions: Permission = DEFAULT_SUPPORTED_PERMISSIONS,
        pin_uv_auth_token: bool = True,
        faults: CoreFaults | None = None,
    ) -> None:
        self._rng = rng
        self._faults = faults if faults is not None else CoreFaults()
        self._persist = persist
        self.state = state
        self.protocols = tuple(protocols)
        self.supported_permissions = supported_permissions
        self.pin_uv_auth_token = pin_uv_auth_token
        self._protocols = {v: make_protocol(v, rng) for v in self.protocols}
        self._token = PinUvAuthTokenState(clock)
        self._tokens: dict[int, bytes] = {}
        self._consecutive_failures = 0
        self.uv_subcommands: dict[int, Callable[[ClientPinRequest], Response]] = {}
        """subCommands 6 and 7, from a key with built-in UV (builtin_uv.py)."""
        self.on_pin_verified: Callable[[], None] | None = None
        """Called after a correct PIN (it resets the built-in UV retries)."""
        self._reset_tokens()

    def __repr__(self) -> str:
        return (
            f"ClientPin(protocols={self.protocols}, pin_set={self.is_pin_set}, "
            f"retries={self.state.retries}, token_in_use={self.pin_uv_auth_token_in_use})"
        )

    # -- the contract used by the rest of the authenticator ----------------------------------

    @property
    def is_pin_set(self) -> bool:
        return self.state.pin_hash is not None

    @property
    def pin_uv_auth_token_in_use(self) -> bool:
        self._token.observe()
        return self._token.in_use

    @property
    def power_cycle_required(self) -> bool:
        """True after 3 consecutive wrong PINs: no PIN operation until power cycle."""
        return self._consecutive_failures >= MAX_CONSECUTIVE_PIN_FAILURES

    @property
    def permissions_rp_id(self) -> str | None:
        return self._token.rp_id

    def protocol(self, version: int) -> PinProtocolOne:
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or version not in self._protocols
        ):
            raise CtapError(CtapStatus.INVALID_PARAMETER, "unsupported pinUvAuthProtocol")
        return self._protocols[version]

    def verify_token(
        self,
        version: int,
        param: bytes,
        message: bytes,
        permission: Permission,
        rp_id: str | None,
        *,
        forbid_rp_id: bool = False,
    ) -> None:
        """Check a pinUvAuthParam against the current token (§6.5.5.7 and the commands' rules).

        The param must verify under the token of protocol `version`, the token must be in use,
        carry `permission` and its userVerified flag; a permissions RP ID on the token must equal
        `rp_id`, or be absent when `forbid_rp_id` (credential-management calls that span all
        RPs). A token without an RP ID is bound to `rp_id` on its first use. A CTAP 2.0 key's
        pinToken (`pin_uv_auth_token=False`) knows neither RP binding nor one-shot flags: it is
        good for any RP until the next power cycle.
        """
        proto = self.protocol(version)
        token = self._token
        token.observe()
        if not token.in_use or not proto.verify(self._tokens[version], message, param):
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "pinUvAuthParam does not verify")
        if token.permissions & permission != permission:
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, f"token lacks {permission!r}")
        if not self.pin_uv_auth_token:
            token.mark_used()
            return
        other_rp = rp_id is not None and rp_id != token.rp_id
        if token.rp_id is not None and (forbid_rp_id or other_rp):
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "token is bound to another RP")
        if not token.user_verified:
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "token is no longer user-verified")
        if token.rp_id is None and rp_id is not None:
            token.rp_id = rp_id
        token.mark_used()

    def verify_persistent_token(self, version: int, param: bytes, message: bytes) -> bool:
        """Whether `param` was made with the persistent token (pcmr) under protocol `version`."""
        token = self.state.persistent_token
        return token is not None and self.protocol(version).verify(token, message, param)

    def token_user_present(self) -> bool:
        return self._token.user_present_value()

    def clear_user_present(self) -> None:
        self._token.user_present = False

    def clear_user_verified(self) -> None:
        self._token.user_verified = False

    def clear_permissions_except_lbw(self) -> None:
        """What makeCredential/getAssertion do after using a token (§6.1.2, §6.2.2)."""
        self._token.permissions &= Permission.LBW

    def set_min_pin_length(self, length: int, force_change: bool = False) -> None:
        """authenticatorConfig setMinPINLength's effect on the PIN (§6.11.4).

        The minimum can only grow; a current PIN shorter than the new minimum, or an explicit
        request, forces a PIN change before the next token is issued.
        """
        if length < self.state.min_pin_length:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "minimum PIN length cannot shrink")
        if force_change and not self.is_pin_set:
            raise CtapError(CtapStatus.PIN_NOT_SET, "no PIN to force a change of")
        self.state.min_pin_length = length
        if self.is_pin_set and (force_change or self.state.pin_length < length):
            self.state.force_pin_change = True
        self._persist()

    def power_cycle(self) -> None:
        if self.state.persistent_token is not None and not self._faults.persistent_token_survives:
            self.state.persistent_token = None
            self._persist()
        for proto in self._protocols.values():
            proto.regenerate()
        self._reset_tokens()
        self._consecutive_failures = 0

    def reset(self) -> None:
        self.state.persistent_token = None
        self.state.pin_hash = None
        self.state.pin_length = 0
        self.state.retries = PIN_RETRIES_MAX
        self.state.min_pin_length = DEFAULT_MIN_PIN_LENGTH
        self.state.force_pin_change = False
        self._persist()
        self.power_cycle()

    # -- authenticatorClientPIN --------------------------------------------------------------

    def handle(self, params: CborMap, ask_presence: Callable[[], None] | None = None) -> Response:
        """One authenticatorClientPIN request map in, its response map out (or CtapError).

        `ask_presence` is not used: no clientPIN subcommand needs a touch (in subCommand 6 the
        finger on the sensor is the touch).
        """
        request = ClientPinRequest.parse(params)
        handlers: dict[int, Callable[[ClientPinRequest], Response]] = {
            SubCommand.GET_PIN_RETRIES: self._get_pin_retries,
            SubCommand.GET_KEY_AGREEMENT: self._get_key_agreement,
            SubCommand.SET_PIN: self._set_pin,
            SubCommand.CHANGE_PIN: self._change_pin,
            SubCommand.GET_PIN_TOKEN: self._get_pin_token,
        }
        if self.pin_uv_auth_token:
            handlers[SubCommand.GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS] = (
                self._get_token_with_perms
            )
        handlers.update(self.uv_subcommands)
        handler = handlers.get(request.sub_command)
        if handler is None:
            # Includes subCommands 6 and 7 on a key without built-in UV.
            raise CtapError(
                CtapStatus.INVALID_SUBCOMMAND, f"subCommand {request.sub_command} not supported"
            )
        return handler(request)

    def _get_pin_retries(self, request: ClientPinRequest) -> Response:
        """Retries left; PIN_NOT_SET on a key without a PIN, as YubiKeys and OpenSK answer and
        python-fido2's device suite expects (CTAP 2.1 leaves it open)."""
        if not self.is_pin_set and not self._faults.retries_without_pin:
            raise CtapError(CtapStatus.PIN_NOT_SET, "no PIN set")
        return {
            ClientPinResponse.PIN_RETRIES: self.state.retries,
            ClientPinResponse.POWER_CYCLE_STATE: self.power_cycle_required,
        }

    def _get_key_agreement(self, request: ClientPinRequest) -> Response:
        proto = self._selected_protocol(request)
        return {ClientPinResponse.KEY_AGREEMENT: proto.key_agreement_cose()}

    def _set_pin(self, request: ClientPinRequest) -> Response:
        key_agreement = request.needed(request.key_agreement, ClientPinParam.KEY_AGREEMENT)
        param = request.needed(request.pin_uv_auth_param, ClientPinParam.PIN_UV_AUTH_PARAM)
        new_pin_enc = request.needed(request.new_pin_enc, ClientPinParam.NEW_PIN_ENC)
        proto = self._selected_protocol(request)
        if self.is_pin_set:
            raise CtapError(CtapStatus.NOT_ALLOWED, "a PIN is already set")
        shared = proto.decapsulate(key_agreement)
        if not proto.verify(shared, new_pin_enc, param):
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "pinUvAuthParam does not verify")
        new_pin = self._decrypt_new_pin(proto, shared, new_pin_enc)
        self._store_pin(new_pin)
        return {}

    def _change_pin(self, request: ClientPinRequest) -> Response:
        key_agreement = request.needed(request.key_agreement, ClientPinParam.KEY_AGREEMENT)
        param = request.needed(request.pin_uv_auth_param, ClientPinParam.PIN_UV_AUTH_PARAM)
        new_pin_enc = request.needed(request.new_pin_enc, ClientPinParam.NEW_PIN_ENC)
        pin_hash_enc = request.needed(request.pin_hash_enc, ClientPinParam.PIN_HASH_ENC)
        proto = self._selected_protocol(request)
        self._require_pin_usable()
        shared = proto.decapsulate(key_agreement)
        if not proto.verify(shared, new_pin_enc + pin_hash_enc, param):
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "pinUvAuthParam does not verify")
        self._check_pin_hash(proto, shared, pin_hash_enc)
        new_pin = self._decrypt_new_pin(proto, shared, new_pin_enc)
        if self.state.force_pin_change and pin_hash(new_pin) == self.state.pin_hash:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "the forced change must change it")
        self.state.persistent_token = None  # a new PIN revokes the persistent grant too
        self._store_pin(new_pin)
        self._reset_tokens()
        return {}

    def _get_pin_token(self, request: ClientPinRequest) -> Response:
        key_agreement = request.needed(request.key_agreement, ClientPinParam.KEY_AGREEMENT)
        pin_hash_enc = request.needed(request.pin_hash_enc, ClientPinParam.PIN_HASH_ENC)
        proto = self._selected_protocol(request)
        with_permissions = request.permissions is not None or request.rp_id is not None
        if self.pin_uv_auth_token and with_permissions:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "getPinToken takes no permissions")
        shared = self._pin_shared_secret(proto, key_agreement, pin_hash_enc)
        return self._issue_token(proto, shared, LEGACY_TOKEN_PERMISSIONS, None)

    def _get_token_with_perms(self, request: ClientPinRequest) -> Response:
        key_agreement = request.needed(request.key_agreement, ClientPinParam.KEY_AGREEMENT)
        pin_hash_enc = request.needed(request.pin_hash_enc, ClientPinParam.PIN_HASH_ENC)
        permissions = request.needed(request.permissions, ClientPinParam.PERMISSIONS)
        proto = self._selected_protocol(request)
        if permissions == 0:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "no permissions requested")
        if permissions & ~int(self.supported_permissions):
            raise CtapError(CtapStatus.UNAUTHORIZED_PERMISSION, "permission not supported")
        if permissions & Permission.PCMR and permissions != Permission.PCMR:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "pcmr is granted alone")
        shared = self._pin_shared_secret(proto, key_agreement, pin_hash_enc)
        if permissions == Permission.PCMR:
            return self._issue_persistent_token(proto, shared)
        return self._issue_token(proto, shared, Permission(permissions), request.rp_id)

    # -- steps shared by the subcommands -----------------------------------------------------

    def _selected_protocol(self, request: ClientPinRequest) -> PinProtocolOne:
        version = request.needed(request.protocol, ClientPinParam.PIN_UV_AUTH_PROTOCOL)
        return self.protocol(version)

    def _require_pin_usable(self) -> None:
        if not self.is_pin_set:
            raise CtapError(CtapStatus.PIN_NOT_SET, "no PIN set")
        if self.state.retries == 0:
            raise CtapError(CtapStatus.PIN_BLOCKED, "PIN blocked: reset the key")
        if self.power_cycle_required:
            raise CtapError(CtapStatus.PIN_AUTH_BLOCKED, "power cycle the key first")

    def _pin_shared_secret(
        self, proto: PinProtocolOne, key_agreement: CborMap, pin_hash_enc: bytes
    ) -> bytes:
        """The shared secret of a token request, once its PIN hash has proven the PIN."""
        self._require_pin_usable()
        shared = proto.decapsulate(key_agreement)
        self._check_pin_hash(proto, shared, pin_hash_enc)
        if self.state.force_pin_change:
            # The PIN was right (retries are restored), but it must be changed first: deployed
            # keys answer PIN_INVALID here (OpenSK; YubiKey, per python-fido2's device suite).
            raise CtapError(self._faults.force_change_status, "the PIN must be changed first")
        return shared

    def issue_token_after_uv(
        self,
        proto: PinProtocolOne,
        key_agreement: CborMap,
        permissions: Permission,
        rp_id: str | None,
        verify_user: Callable[[], object],
    ) -> Response:
        """subCommand 6's token, once `verify_user` (built-in UV, which raises on failure) has
        passed; the key agreement is checked first, so a bad one costs no UV attempt. A finger
        on the sensor is a touch too, so the token starts with userPresent set."""
        shared = proto.decapsulate(key_agreement)
        verify_user()
        if permissions == Permission.PCMR:
            return self._issue_persistent_token(proto, shared)
        return self._issue_token(proto, shared, permissions, rp_id, user_present=True)

    def _issue_token(
        self,
        proto: PinProtocolOne,
        shared: bytes,
        permissions: Permission,
        rp_id: str | None,
        *,
        user_present: bool = False,
    ) -> Response:
        self._reset_tokens()
        self._token.begin_using(permissions, rp_id, user_present=user_present)
        encrypted = proto.encrypt(shared, self._tokens[proto.version])
        return {ClientPinResponse.PIN_UV_AUTH_TOKEN: encrypted}

    def _issue_persistent_token(self, proto: PinProtocolOne, shared: bytes) -> Response:
        """A new persistent token (the old one stops working); the ordinary token is left as
        it is, so a platform may hold both."""
        self.state.persistent_token = self._rng(TOKEN_LENGTH)
        self._persist()
        encrypted = proto.encrypt(shared, self.state.persistent_token)
        return {ClientPinResponse.PIN_UV_AUTH_TOKEN: encrypted}

    def _check_pin_hash(self, proto: PinProtocolOne, shared: bytes, pin_hash_enc: bytes) -> None:
        """Compare the platform's PIN hash with ours, spending a retry first (§6.5.5.6-7)."""
        self.state.retries -= 1
        self._persist()
        try:
            candidate = proto.decrypt(shared, pin_hash_enc)
        except CtapError:
            candidate = b""  # undecryptable counts as a wrong PIN: the retry is already spent
        stored = self.state.pin_hash or b""
        if len(candidate) == PIN_HASH_LENGTH and hmac.compare_digest(candidate, stored):
            self.state.retries = PIN_RETRIES_MAX
            self._consecutive_failures = 0
            self._persist()
            if self.on_pin_verified is not None:
                self.on_pin_verified()
            return
        proto.regenerate()
        self._consecutive_failures += 1
        if self.state.retries == 0:
            raise CtapError(CtapStatus.PIN_BLOCKED, "PIN blocked: reset the key")
        if self.power_cycle_required:
            raise CtapError(CtapStatus.PIN_AUTH_BLOCKED, "3 wrong PINs: power cycle needed")
        raise CtapError(CtapStatus.PIN_INVALID, "wrong PIN")

    def _decrypt_new_pin(self, proto: PinProtocolOne, shared: bytes, new_pin_enc: bytes) -> bytes:
        try:
            padded = proto.decrypt(shared, new_pin_enc)
        except CtapError:
            raise CtapError(CtapStatus.PIN_AUTH_INVALID, "newPinEnc does not decrypt") from None
        if len(padded) != PADDED_PIN_LENGTH:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "padded PIN is not 64 bytes")
        new_pin = padded.rstrip(b"\x00")
        if len(new_pin) > MAX_PIN_BYTES:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "PIN longer than 63 bytes")
        try:
            code_points = len(new_pin.decode("utf-8"))
        except UnicodeDecodeError:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "PIN is not UTF-8") from None
        if code_points < self.state.min_pin_length:
            raise CtapError(CtapStatus.PIN_POLICY_VIOLATION, "PIN shorter than the minimum")
        return new_pin

    def _store_pin(self, new_pin: bytes) -> None:
        self.state.pin_hash = pin_hash(new_pin)
        self.state.pin_length = len(new_pin.decode("utf-8"))
        self.state.retries = PIN_RETRIES_MAX
        self.state.force_pin_change = False
        self._persist()

    def _reset_tokens(self) -> None:
        """resetPinUvAuthToken for every protocol: new random tokens, nothing in use (§6.5.5.2)."""
        self._tokens = {v: self._rng(TOKEN_LENGTH) for v in self.protocols}
        self._token.stop_using()
