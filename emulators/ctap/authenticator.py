"""The emulated security key: a transport-free CTAP 2.1 / U2F authenticator.

`process(cmd || CBOR) -> status || CBOR` and `process_u2f(APDU) -> data || SW` never raise;
everything below them speaks `CtapError`. Commands live in their own modules and see the key
only as a `KeyContext` (context.py); this class is that context: the environment, the profile,
the persistent state, the PIN machinery, user presence, signature counters, and the one slot
for multi-call state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap import (
    bio_enrollment,
    builtin_uv,
    credential_management,
    get_assertion,
    large_blobs,
    make_credential,
    persistent_token,
    u2f,
)
from tokenbench.emulators.ctap import config as config_cmd
from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.client_pin import MAX_PIN_BYTES, ClientPin
from tokenbench.emulators.ctap.constants import (
    RESET_WINDOW_SECONDS,
    CtapCommand,
    CtapStatus,
    Version,
)
from tokenbench.emulators.ctap.context import Pending
from tokenbench.emulators.ctap.credentials import CredentialWrapper, counter_key
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.fingerprint import (
    USER_VERIFY_FINGERPRINT_INTERNAL,
    FingerprintSensor,
)
from tokenbench.emulators.ctap.getinfo_members import MEMBERS_BY_NAME, InfoValues, encode_info
from tokenbench.emulators.ctap.misbehaviour import CoreFaults, SignatureCounters
from tokenbench.emulators.ctap.pin_uv_token import DEFAULT_SUPPORTED_PERMISSIONS, Permission
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import CborMap, Response, decode_params
from tokenbench.emulators.ctap.state import KeyState, MemoryStore, StateManager
from tokenbench.emulators.ctap.transaction import Transaction

log = logging.getLogger(__name__)

GLOBAL_COUNTER = "global"
Command = Callable[[CborMap, Transaction | None], Response | None]
"""A command bound to this key: request map and transaction in, response map out."""


def _permissions(profile: DeviceProfile) -> Permission:
    """What subCommand 9 grants: the CTAP 2.1 set, and pcmr on a key with perCredMgmtRO."""
    extra = Permission.PCMR if profile.options.get("perCredMgmtRO") else Permission(0)
    if builtin_uv.has_sensor(profile):
        extra |= Permission.BE
    return DEFAULT_SUPPORTED_PERMISSIONS | extra


class Authenticator:
    """One emulated security key; implements `context.KeyContext` for the command modules."""

    def __init__(self, env: Env, profile: DeviceProfile) -> None:
        self.env = env
        self._profile = profile
        self._lock = threading.RLock()
        self.store = StateManager(env.store, env.rng)
        self._client_pin = ClientPin(
            rng=env.rng,
            persist=self.persist,
            state=self.store.state.pin,
            protocols=profile.pin_uv_auth_protocols or (1,),
            clock=env.clock,
            supported_permissions=_permissions(profile),
            faults=env.core_faults,
        )
        self._wrapper = CredentialWrapper(self.store.state.master_secret, env.rng)
        self._counters: SignatureCounters = env.core_faults.counters(
            self.store, dict(self.store.state.counters)
        )
        self._sensor = FingerprintSensor()
        self._client_pin.on_pin_verified = partial(builtin_uv.reset_retries, self)
        self.boot_time = env.clock.now()
        self.pending: Pending | None = None
        self.winks = 0
        self._commands = self._command_table()

    @classmethod
    def clone_of(cls, original: Authenticator, env: Env | None = None) -> Authenticator:
        """A second key holding a snapshot of `original`'s state (the 'clone' fault).

        Both keys know the same credentials and the same master secret; from now on their
        counters move independently, so a relying party sees counters that do not increase.
        """
        snapshot = original.store.snapshot()
        base = env if env is not None else original.env
        return cls(base.with_(store=MemoryStore(snapshot)), original.profile)

    # ---- KeyContext -------------------------------------------------------------------
    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @profile.setter
    def profile(self, profile: DeviceProfile) -> None:
        """Swap the model (tests, or a bench re-targeting a key): the command set follows."""
        self._profile = profile
        self._client_pin.supported_permissions = _permissions(profile)
        self._commands = self._command_table()

    @property
    def state(self) -> KeyState:
        return self.store.state

    @property
    def client_pin(self) -> ClientPin:
        return self._client_pin

    @property
    def sensor(self) -> FingerprintSensor:
        return self._sensor

    @property
    def wrapper(self) -> CredentialWrapper:
        return self._wrapper

    @property
    def attestation(self) -> VendorAuthority:
        return self.env.attestation

    @property
    def faults(self) -> CoreFaults:
        return self.env.core_faults

    def random(self, n: int) -> bytes:
        return self.env.rng(n)

    def now(self) -> float:
        return self.env.clock.now()

    def persist(self) -> None:
        """Write the state (ClientPin calls this too, after PIN changes)."""
        self.store.state.pin = self._client_pin.state
        self.store.save()

    def presence(self, transaction: Transaction | None, reason: str) -> bool:
        if self.faults.withholds_presence:
            return False
        if not self.env.presence.request(transaction, reason):
            raise CtapError(CtapStatus.OPERATION_DENIED, "user declined")
        return True

    def uv_protected(self) -> bool:
        pin = self.profile.supports_client_pin and self._client_pin.is_pin_set
        return pin or builtin_uv.configured(self)

    def remaining_resident_slots(self) -> int:
        return max(0, self.profile.max_resident_credentials - len(self.store.state.residents))

    def next_counter(self, cred_id: bytes, user_present: bool = True) -> int:
        return self._counters.next(self._counter_key(cred_id), user_present)

    def forget_counter(self, cred_id: bytes) -> None:
        self.store.forget_counter_for(cred_id)

    def _counter_key(self, cred_id: bytes) -> str:
        return GLOBAL_COUNTER if self._profile.global_counter else counter_key(cred_id)

    # ---- the two entry points ---------------------------------------------------------
    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        """One CTAP2 command: command byte + CBOR in, status byte + CBOR out. Never raises."""
        with self._lock:
            try:
                return bytes([CtapStatus.SUCCESS]) + self._run(bytes(request), transaction)
            except CtapError as e:
                return bytes([e.status])
            except Exception:
                log.exception("internal error in CTAP command")
                self._resync_state()
                return bytes([CtapStatus.OTHER])

    def _run(self, request: bytes, transaction: Transaction | None) -> bytes:
        if not request:
            raise CtapError(CtapStatus.INVALID_LENGTH, "empty request")
        command, body = request[0], request[1:]
        if self.pending is not None and not self.pending.continued_by(command, body):
            self.pending = None
        if len(body) > self.profile.max_msg_size:
            raise CtapError(CtapStatus.REQUEST_TOO_LARGE, "request above maxMsgSize")
        run = self._commands.get(command)
        if run is None:
            raise CtapError(CtapStatus.INVALID_COMMAND, f"command 0x{command:02x}")
        response = run(decode_params(body), transaction)
        encoded = b"" if response is None else cbor.encode(response)
        return self.faults.response_body(encoded)

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        """One CTAP1/U2F APDU: response data + status word. Never raises."""
        with self._lock:
            self.pending = None
            return u2f.process(self, bytes(apdu), transaction)

    def _command_table(self) -> dict[int, Command]:
        p = self.profile
        if not p.ctap2:
            return {}
        table: dict[int, Command] = {
            CtapCommand.MAKE_CREDENTIAL: partial(make_credential.handle, self),
            CtapCommand.GET_ASSERTION: partial(get_assertion.handle, self),
            CtapCommand.GET_NEXT_ASSERTION: partial(get_assertion.handle_next, self),
            CtapCommand.GET_INFO: self._get_info,
            CtapCommand.RESET: self._reset,
        }
        if p.supports_client_pin:
            table[CtapCommand.CLIENT_PIN] = self._client_pin_command
        if p.ctap21:
            table[CtapCommand.SELECTION] = self._selection
            if p.supports_cred_mgmt:
                table[CtapCommand.CREDENTIAL_MANAGEMENT] = partial(
                    credential_management.handle, self
                )
                table[CtapCommand.CREDENTIAL_MANAGEMENT_PRE] = table[
                    CtapCommand.CREDENTIAL_MANAGEMENT
                ]
            if p.supports_large_blobs:
                table[CtapCommand.LARGE_BLOBS] = partial(large_blobs.handle, self)
            if p.supports_config:
                table[CtapCommand.CONFIG] = partial(config_cmd.handle, self)
            if builtin_uv.has_sensor(p):
                for command in bio_enrollment.COMMANDS:
                    table[command] = partial(bio_enrollment.handle, self)
        # clientPIN's UV subCommands follow the profile too (none without a sensor)
        self._client_pin.uv_subcommands = builtin_uv.client_pin_subcommands(self)
        return table

    def _resync_state(self) -> None:
        """After a failed command (e.g. a state write that failed), forget changes that never
        reached the store, so memory matches what a restart would see."""
        try:
            self.store.reload()
        except Exception:
            log.exception("could not re-read the key state")
            return
        self._client_pin.state = self.store.state.pin
        self._rekey()

    def _rekey(self) -> None:
        self._wrapper = CredentialWrapper(self.store.state.master_secret, self.env.rng)

    def power_cycle(self) -> None:
        """Unplug and replug: volatile state gone, the reset window opens again."""
        with self._lock:
            self.boot_time = self.env.clock.now()
            self.pending = None
            self._client_pin.power_cycle()

    def wink(self) -> None:
        self.winks += 1

    # ---- small commands ---------------------------------------------------------------
    @property
    def info(self) -> Response:
        return self.get_info_map()

    def _live_versions_and_options(self) -> tuple[list[str], dict[str, bool]]:
        """getInfo's versions and options as the key's state makes them right now."""
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
        if builtin_uv.has_sensor(p):
            options.update(builtin_uv.live_options(self))
        return self.faults.versions(versions), options

    def _as_captured(
        self, captured: bytes, versions: list[str], options: dict[str, bool]
    ) -> Response:
        """A verbatim profile's getInfo: the capture, with the live members kept current."""
        info = cbor.decode(captured)
        assert isinstance(info, dict)  # DeviceProfile.from_getinfo encoded a map
        live: dict[str, CborType] = {
            "versions": versions,
            "force_pin_change": self._client_pin.state.force_pin_change,
            "min_pin_length": self._client_pin.state.min_pin_length,
            "remaining_disc_creds": self.remaining_resident_slots(),
        }
        for name, value in live.items():
            if MEMBERS_BY_NAME[name].key in info:
                info[MEMBERS_BY_NAME[name].key] = value
        captured_options = info.get(MEMBERS_BY_NAME["options"].key)
        if isinstance(captured_options, dict):
            for option, value in captured_options.items():
                captured_options[option] = options.get(option, value)
        return info

    def get_info_map(self) -> Response:
        """getInfo from the profile and the live state (clientPin, alwaysUv, ep, PIN policy)."""
        p = self.profile
        versions, options = self._live_versions_and_options()
        if p.captured_info is not None:
            return self._as_captured(p.captured_info, versions, options)
        pin = self.client_pin.state if p.supports_client_pin else None
        values = InfoValues(  # the CTAP 2.0 members
            versions=versions,
            extensions=p.extensions or None,
            aaguid=p.aaguid,
            options=options or None,
            max_msg_size=p.max_msg_size,
            pin_uv_protocols=p.pin_uv_auth_protocols if pin is not None else None,
        )
        if p.ctap21:
            values = replace(
                values,
                max_creds_in_list=p.max_credential_count_in_list,
                max_cred_id_length=p.max_credential_id_length,
                transports=p.transports,
                algorithms=[{"alg": a, "type": "public-key"} for a in p.algorithms],
                max_large_blob=(
                    p.max_serialized_large_blob_array if p.supports_large_blobs else None
                ),
                force_pin_change=pin.force_pin_change if pin is not None else None,
                min_pin_length=pin.min_pin_length if pin is not None else None,
                firmware_version=p.firmware_version,
                max_cred_blob_length=p.max_cred_blob_length if "credBlob" in p.extensions else None,
                max_rpids_for_min_pin=(
                    p.max_rpids_for_set_min_pin_length if p.options.get("setMinPINLength") else None
                ),
                remaining_disc_creds=self.remaining_resident_slots() if p.supports_rk else None,
            )
        if p.ctap22_info:
            values = self._ctap22_members(values)
        if builtin_uv.has_sensor(p):
            values = replace(
                values,
                preferred_platform_uv_attempts=builtin_uv.PREFERRED_PLATFORM_UV_ATTEMPTS,
                uv_modality=USER_VERIFY_FINGERPRINT_INTERNAL,
            )
        return encode_info(values)

    def _ctap22_members(self, values: InfoValues) -> InfoValues:
        """The CTAP 2.2 members: formats (attestationFormatsPreference may pick "none"), the
        PIN length limit, config subCommands; encIdentifier and encCredStoreState once a
        persistent token exists."""
        p = self.profile
        values = replace(
            values,
            attestation_formats=["none"] if p.attestation == "none" else ["packed", "none"],
            max_pin_length=MAX_PIN_BYTES,
            authenticator_config_commands=(
                sorted(config_cmd.SUBCOMMANDS) if p.supports_config else None
            ),
        )
        token = self.client_pin.state.persistent_token
        if not p.options.get("perCredMgmtRO") or token is None:
            return values
        residents = [(c.id, c.user_name, c.user_display_name) for c in self.state.residents]
        identifier = persistent_token.device_identifier(self.state.master_secret)
        store_state = persistent_token.cred_store_state(residents)
        return replace(
            values,
            enc_identifier=persistent_token.encrypt_to_token(
                token,
                persistent_token.ENC_IDENTIFIER_INFO,
                identifier,
                self.random(persistent_token.IV_LENGTH),
            ),
            enc_cred_store_state=persistent_token.encrypt_to_token(
                token,
                persistent_token.ENC_CRED_STORE_STATE_INFO,
                store_state,
                self.random(persistent_token.IV_LENGTH),
            ),
        )

    def _get_info(self, params: CborMap, transaction: Transaction | None) -> Response:
        return self.get_info_map()

    def _reset(self, params: CborMap, transaction: Transaction | None) -> None:
        """authenticatorReset: only shortly after power-up, and only with a touch (§6.6)."""
        if self.env.clock.now() - self.boot_time > RESET_WINDOW_SECONDS:
            raise CtapError(CtapStatus.NOT_ALLOWED, "reset only within 10 s of power-up")
        if not self.presence(transaction, "reset"):
            raise CtapError(CtapStatus.OPERATION_DENIED, "reset needs user presence")
        self.store.wipe(keep_bio=not self.faults.reset_removes_enrollments)
        self._client_pin.reset()
        self.store.state.pin = self._client_pin.state
        self.store.save()
        self._rekey()
        self._counters.reset()

    def _selection(self, params: CborMap, transaction: Transaction | None) -> None:
        if not self.presence(transaction, "selection"):
            raise CtapError(CtapStatus.OPERATION_DENIED, "no presence")

    def _client_pin_command(
        self, params: CborMap, transaction: Transaction | None
    ) -> Response | None:
        """authenticatorClientPIN; subcommands that answer nothing send an empty body."""
        return self._client_pin.handle(params) or None
