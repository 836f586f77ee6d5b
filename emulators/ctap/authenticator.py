"""The emulated security key: a transport-free CTAP 2.1 / U2F authenticator.

`process(cmd || CBOR) -> status || CBOR` and `process_u2f(APDU) -> data || SW` never raise;
everything below them speaks `CtapError`. Commands live in their own modules; this class holds
what they share: the environment, the profile, the persistent state, the PIN machinery, user
presence, signature counters and the core fault injections.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from fido2 import cbor

from tokenbench.emulators.ctap import config as config_cmd
from tokenbench.emulators.ctap import (
    credential_management,
    get_assertion,
    large_blobs,
    make_credential,
    u2f,
)
from tokenbench.emulators.ctap.client_pin import ClientPin
from tokenbench.emulators.ctap.constants import (
    RESET_WINDOW_SECONDS,
    CtapCommand,
    CtapStatus,
    InfoKey,
    Version,
)
from tokenbench.emulators.ctap.credentials import CredentialWrapper, counter_key
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.faults import Fault
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import decode_params
from tokenbench.emulators.ctap.state import MemoryStore, StateManager
from tokenbench.emulators.ctap.transaction import Transaction

log = logging.getLogger(__name__)

ROLLBACK_START = 0x7FFFFFFF
GLOBAL_COUNTER = "global"
CREDENTIAL_MANAGEMENT_COMMANDS = (
    CtapCommand.CREDENTIAL_MANAGEMENT,
    CtapCommand.CREDENTIAL_MANAGEMENT_PRE,
)
Handler = Callable[["Authenticator", dict[Any, Any], Transaction | None], dict[Any, Any] | None]


class Authenticator:
    """One emulated security key."""

    def __init__(self, env: Env, profile: DeviceProfile) -> None:
        self.env = env
        self._profile = profile
        self._lock = threading.RLock()
        self.store = StateManager(env.store, env.rng)
        self.client_pin = ClientPin(
            rng=env.rng,
            persist=self.persist,
            state=self.store.state.pin,
            protocols=profile.pin_uv_auth_protocols or (1,),
            clock=env.clock,
        )
        self.wrapper = CredentialWrapper(self.store.state.master_secret, env.rng)
        self.boot_time = env.clock.now()
        self.next_assertions: get_assertion.PendingAssertions | None = None
        self.large_blob_write: large_blobs.PendingWrite | None = None
        self.cred_mgmt_enumeration: credential_management.Enumeration | None = None
        self.winks = 0
        self._rollback: dict[str, int] = {}
        self._clone_counters: dict[str, int] = {}
        self._clone_turn = False
        self._clone_snapshot = dict(self.store.state.counters)
        self._faults_source: object = None
        self._faults: frozenset[Fault] = frozenset()
        self._handlers = self._command_table()

    # ---- construction helpers ---------------------------------------------------------
    @classmethod
    def clone_of(cls, original: Authenticator, env: Env | None = None) -> Authenticator:
        """A second key holding a snapshot of `original`'s state (the 'clone' fault).

        Both keys know the same credentials and the same master secret; from now on their
        counters move independently, so a relying party sees counters that do not increase.
        """
        snapshot = original.store.snapshot()
        base = env if env is not None else original.env
        return cls(base.with_(store=MemoryStore(snapshot)), original.profile)

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @profile.setter
    def profile(self, profile: DeviceProfile) -> None:
        """Swap the model (tests, or a bench re-targeting a key): the command set follows."""
        self._profile = profile
        self._handlers = self._command_table()

    def _command_table(self) -> dict[int, Handler]:
        p = self.profile
        if not p.ctap2:
            return {}
        table: dict[int, Handler] = {
            CtapCommand.MAKE_CREDENTIAL: make_credential.make_credential,
            CtapCommand.GET_ASSERTION: get_assertion.get_assertion,
            CtapCommand.GET_NEXT_ASSERTION: get_assertion.get_next_assertion,
            CtapCommand.GET_INFO: Authenticator._get_info,
            CtapCommand.RESET: Authenticator._reset,
        }
        if p.supports_client_pin:
            table[CtapCommand.CLIENT_PIN] = Authenticator._client_pin
        if p.ctap21:
            table[CtapCommand.SELECTION] = Authenticator._selection
            if p.supports_cred_mgmt:
                table[CtapCommand.CREDENTIAL_MANAGEMENT] = credential_management.handle
                table[CtapCommand.CREDENTIAL_MANAGEMENT_PRE] = credential_management.handle
            if p.supports_large_blobs:
                table[CtapCommand.LARGE_BLOBS] = large_blobs.handle
            if p.supports_config:
                table[CtapCommand.CONFIG] = config_cmd.handle
        return table

    # ---- the two entry points ---------------------------------------------------------
    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        """One CTAP2 command: command byte + CBOR in, status byte + CBOR out. Never raises."""
        with self._lock:
            try:
                if not request:
                    raise CtapError(CtapStatus.INVALID_LENGTH, "empty request")
                command = request[0]
                if command != CtapCommand.GET_NEXT_ASSERTION:
                    self.next_assertions = None
                if command != CtapCommand.LARGE_BLOBS:
                    self.large_blob_write = None
                if command not in CREDENTIAL_MANAGEMENT_COMMANDS:
                    self.cred_mgmt_enumeration = None
                if len(request) - 1 > self.profile.max_msg_size:
                    raise CtapError(CtapStatus.REQUEST_TOO_LARGE, "request above maxMsgSize")
                handler = self._handlers.get(command)
                if handler is None:
                    raise CtapError(CtapStatus.INVALID_COMMAND, f"command 0x{command:02x}")
                params = decode_params(bytes(request[1:]))
                response = handler(self, params, transaction)
                body = b""
                if response is not None:
                    body = cbor.encode({int(k): v for k, v in response.items()})
                return bytes([CtapStatus.SUCCESS]) + self._malform(body)
            except CtapError as e:
                return bytes([e.status])
            except Exception:
                log.exception("internal error in CTAP command")
                self._resync_state()
                return bytes([CtapStatus.OTHER])

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        """One CTAP1/U2F APDU: response data + status word. Never raises."""
        with self._lock:
            self.next_assertions = None
            return u2f.process(self, bytes(apdu), transaction)

    def _resync_state(self) -> None:
        """After a failed command (e.g. a state write that failed), forget changes that never
        reached the store, so memory matches what a restart would see."""
        try:
            self.store.reload()
        except Exception:
            log.exception("could not re-read the key state")
            return
        self.client_pin.state = self.store.state.pin
        self.rekey()

    def power_cycle(self) -> None:
        """Unplug and replug: volatile state gone, the reset window opens again."""
        with self._lock:
            self.boot_time = self.env.clock.now()
            self.next_assertions = None
            self.large_blob_write = None
            self.cred_mgmt_enumeration = None
            self.client_pin.power_cycle()

    def wink(self) -> None:
        self.winks += 1

    # ---- shared services for the command modules ----------------------------------------
    @property
    def faults(self) -> frozenset[Fault]:
        """The active faults as a plain frozenset (cheap membership tests on the hot path)."""
        current = self.env.faults
        if current is not self._faults_source:
            self._faults_source = current
            self._faults = frozenset(Fault(f) for f in current)
        return self._faults

    @property
    def state(self) -> Any:
        return self.store.state

    def persist(self) -> None:
        """Write the state (called by ClientPin too, after PIN changes)."""
        self.store.state.pin = self.client_pin.state
        self.store.save()

    def presence(self, transaction: Transaction | None, reason: str) -> bool:
        """A test of user presence: True if the user touched; OPERATION_DENIED if declined.

        With the no-presence fault the key does not ask and reports no presence.
        """
        if Fault.NO_PRESENCE in self.faults:
            return False
        if not self.env.presence.request(transaction, reason):
            raise CtapError(CtapStatus.OPERATION_DENIED, "user declined")
        return True

    def ask_presence(self, transaction: Transaction | None, reason: str) -> Callable[[], None]:
        def ask() -> None:
            self.presence(transaction, reason)

        return ask

    def output_rp_hash(self, rp_hash: bytes) -> bytes:
        """The rpIdHash put into authenticatorData (the wrong-rpid-hash fault changes it)."""
        if Fault.WRONG_RPID_HASH in self.faults:
            return hashlib.sha256(b"wrong-rpid-hash:" + rp_hash).digest()
        return rp_hash

    def output_signature(self, signature: bytes) -> bytes:
        """The signature as sent (the bad-signature fault flips one bit)."""
        if Fault.BAD_SIGNATURE in self.faults and signature:
            return signature[:-1] + bytes([signature[-1] ^ 0x01])
        return signature

    def next_counter(self, cred_id: bytes, user_present: bool = True) -> int:
        """Advance the credential's signature counter; faults may make it misbehave."""
        key = GLOBAL_COUNTER if self._profile.global_counter else counter_key(cred_id)
        faults = self.faults
        if Fault.COUNTER_ROLLBACK in faults:
            value = self._rollback.get(key, ROLLBACK_START) - 1
            self._rollback[key] = value
            return value
        if Fault.CLONE in faults and user_present:
            # Every other user-present signature comes from a twin that started from the
            # state at power-up; silent (up=false) probes always use the primary.
            self._clone_turn = not self._clone_turn
            if self._clone_turn:
                value = self._clone_counters.get(key, self._clone_snapshot.get(key, 0)) + 1
                self._clone_counters[key] = value
                return value
        return self.store.next_counter(key)

    def _malform(self, body: bytes) -> bytes:
        if Fault.MALFORMED_CBOR not in self.faults:
            return body
        return body[: max(1, len(body) // 2)] if len(body) > 1 else b"\xff"

    def uv_protected(self) -> bool:
        """Whether some form of user verification is configured (here: a PIN)."""
        return self.profile.supports_client_pin and self.client_pin.is_pin_set

    def rekey(self) -> None:
        self.wrapper = CredentialWrapper(self.store.state.master_secret, self.env.rng)

    # ---- small commands ---------------------------------------------------------------
    @property
    def info(self) -> dict[int, Any]:
        return self.get_info_map()

    def get_info_map(self) -> dict[int, Any]:
        p = self.profile
        state = self.store.state
        options = dict(p.options)
        if p.supports_client_pin:
            options["clientPin"] = self.client_pin.is_pin_set
        versions = list(p.versions)
        if p.supports_always_uv:
            options["alwaysUv"] = state.always_uv
            if state.always_uv:
                # alwaysUv turns off what would let a ceremony skip UV (§6.11.2, §7.2.3):
                # makeCredUvNotRqd reads false and CTAP1/U2F is disabled.
                if "makeCredUvNotRqd" in options:
                    options["makeCredUvNotRqd"] = False
                versions = [v for v in versions if v != Version.U2F_V2]
        if p.supports_ep:
            options["ep"] = state.enterprise_attestation
        info: dict[int, Any] = {
            InfoKey.VERSIONS: versions,
            InfoKey.AAGUID: p.aaguid,
        }
        if p.extensions:
            info[InfoKey.EXTENSIONS] = list(p.extensions)
        if options:
            info[InfoKey.OPTIONS] = options
        info[InfoKey.MAX_MSG_SIZE] = p.max_msg_size
        if p.supports_client_pin:
            info[InfoKey.PIN_UV_AUTH_PROTOCOLS] = list(p.pin_uv_auth_protocols)
        if p.ctap21:
            info[InfoKey.MAX_CREDENTIAL_COUNT_IN_LIST] = p.max_credential_count_in_list
            info[InfoKey.MAX_CREDENTIAL_ID_LENGTH] = p.max_credential_id_length
            info[InfoKey.TRANSPORTS] = list(p.transports)
            info[InfoKey.ALGORITHMS] = [{"alg": a, "type": "public-key"} for a in p.algorithms]
            if p.supports_large_blobs:
                info[InfoKey.MAX_SERIALIZED_LARGE_BLOB_ARRAY] = p.max_serialized_large_blob_array
            if p.supports_client_pin:
                info[InfoKey.FORCE_PIN_CHANGE] = self.client_pin.state.force_pin_change
                info[InfoKey.MIN_PIN_LENGTH] = self.client_pin.state.min_pin_length
            info[InfoKey.FIRMWARE_VERSION] = p.firmware_version
            if "credBlob" in p.extensions:
                info[InfoKey.MAX_CRED_BLOB_LENGTH] = p.max_cred_blob_length
            if p.options.get("setMinPINLength"):
                info[InfoKey.MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH] = p.max_rpids_for_set_min_pin_length
            if p.supports_rk:
                info[InfoKey.REMAINING_DISCOVERABLE_CREDENTIALS] = self.remaining_resident_slots()
        return {int(k): v for k, v in info.items()}

    def remaining_resident_slots(self) -> int:
        return max(0, self.profile.max_resident_credentials - len(self.store.state.residents))

    def _get_info(self, params: dict[Any, Any], transaction: Transaction | None) -> dict[int, Any]:
        return self.get_info_map()

    def _reset(self, params: dict[Any, Any], transaction: Transaction | None) -> None:
        """authenticatorReset: only shortly after power-up, and only with a touch (§6.6)."""
        if self.env.clock.now() - self.boot_time > RESET_WINDOW_SECONDS:
            raise CtapError(CtapStatus.NOT_ALLOWED, "reset only within 10 s of power-up")
        if not self.presence(transaction, "reset"):
            raise CtapError(CtapStatus.OPERATION_DENIED, "reset needs user presence")
        self.store.wipe()
        self.client_pin.reset()
        self.store.state.pin = self.client_pin.state
        self.store.save()
        self.rekey()
        self._rollback.clear()
        self._clone_counters.clear()
        self._clone_snapshot = {}
        return None

    def _selection(self, params: dict[Any, Any], transaction: Transaction | None) -> None:
        if not self.presence(transaction, "selection"):
            raise CtapError(CtapStatus.OPERATION_DENIED, "no presence")
        return None

    def _client_pin(self, params: dict[Any, Any], transaction: Transaction | None) -> Any:
        result = self.client_pin.handle(params, self.ask_presence(transaction, "clientPIN"))
        return result or None
