"""The assembled emulated security key and its control interface.

`EmulatedKey` = authenticator core + its `Env` + a CTAPHID endpoint + an in-process HID node,
and, for its contactless side (`nfc_card()`), the YubiKey OATH and Management applets that sit
next to the FIDO applet on the card (sharing the key's state file, presence and faults).
Conformance suites never see this class: they get a `fido2.hid.CtapHidDevice` from
`hid_device()` (or over UDP) and ask their target to touch or re-plug the key, and the target
calls `touch()` / `replug()` here. A real key's target asks a person instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fido2.hid import CtapHidDevice

from tokenbench.emulators.clock import Clock, MonotonicClock
from tokenbench.emulators.ctap import builtin_uv
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.fingerprint import Reading
from tokenbench.emulators.ctap.presence import (
    AutoApprove,
    Button,
    Deny,
    NeverAnswer,
    PresencePolicy,
    TerminalPrompt,
    Touch,
)
from tokenbench.emulators.ctap.profiles import DeviceProfile, get_profile
from tokenbench.emulators.ctap.state import StateStore
from tokenbench.emulators.oath.applet import OathApplet
from tokenbench.emulators.oath.management import ManagementApplet
from tokenbench.emulators.transport.ctaphid import (
    Capability,
    CtapHidEndpoint,
    FaultTuning,
)
from tokenbench.emulators.transport.inproc import DEFAULT_READ_TIMEOUT, InProcessHid, open_device

if TYPE_CHECKING:
    from tokenbench.emulators.transport.nfc import NfcBreakage, NfcCard

PRESENCE_MODES = ("auto", "deny", "touch", "button", "prompt", "never")
EMU_SCHEME = "emu:"


def presence_policy(mode: str | PresencePolicy) -> PresencePolicy:
    """The presence policy behind a CLI/URI word (or a ready policy, passed through)."""
    if not isinstance(mode, str):
        return mode
    policies: dict[str, Callable[[], PresencePolicy]] = {
        "auto": AutoApprove,
        "deny": Deny,
        "touch": Touch,
        "button": Button,
        "prompt": TerminalPrompt,
        "never": NeverAnswer,
    }
    try:
        return policies[mode]()
    except KeyError:
        raise ValueError(
            f"unknown presence mode {mode!r} (known: {', '.join(PRESENCE_MODES)})"
        ) from None


def hid_capabilities(profile: DeviceProfile) -> Capability:
    """CTAPHID_INIT capabilities: CBOR for CTAP2 models, NMSG for models without U2F."""
    caps = Capability.WINK
    if profile.ctap2:
        caps |= Capability.CBOR
    if not profile.u2f:
        caps |= Capability.NMSG
    return caps


class EmulatedKey:
    """One emulated key, reachable in-process (`hid_device()`) and by any other report sink."""

    def __init__(
        self,
        env: Env,
        profile: DeviceProfile,
        *,
        tuning: FaultTuning | None = None,
        transport_clock: Clock | None = None,
        name: str = "emu",
        authenticator: Authenticator | None = None,
    ) -> None:
        self.env = env
        self.profile = profile
        self.authenticator = authenticator or Authenticator(env, profile)
        self.hid = InProcessHid(name=name, product_name=profile.model)
        self._sinks: list[Callable[[bytes], None]] = [self.hid.send]
        self._sinks_lock = threading.Lock()
        self.endpoint = CtapHidEndpoint(
            self.authenticator,
            self._send,
            clock=transport_clock or MonotonicClock(),
            faults=env.faults,
            capabilities=hid_capabilities(profile),
            device_version=(profile.firmware_version & 0xFF, 0, 0),
            tuning=tuning,
        )
        self.hid.write = self.endpoint.receive
        self.oath = OathApplet(
            self.authenticator.store,
            env,
            version=profile.card_version,
            max_credentials=profile.max_oath_credentials,
        )
        self.management = ManagementApplet(profile)
        self.power_cycles = 0
        self._tuning = tuning

    @classmethod
    def create(
        cls,
        profile: str | DeviceProfile = "default",
        state_path: str | Path | None = None,
        faults: str | FaultSet = "",
        presence: str | PresencePolicy = "auto",
        seed: int | None = None,
        clock: Clock | None = None,
        *,
        store: StateStore | None = None,
        slow_delay: float | None = None,
    ) -> EmulatedKey:
        """A fresh key. `seed` makes keys and credential IDs reproducible (tests only).

        `state_path` keeps the key's persistent state (credentials, PIN, counters) in a file;
        without it the state lives in memory. `store` passes a ready `StateStore` instead.
        """
        device = get_profile(profile) if isinstance(profile, str) else profile
        fault_set = faults if isinstance(faults, FaultSet) else FaultSet.parse(faults)
        policy = presence_policy(presence)
        if store is None and state_path is not None:
            env = Env.system(state_path=state_path, presence=policy, faults=fault_set)
        else:
            env = Env.system(presence=policy, faults=fault_set)
            if store is not None:
                env = env.with_(store=store)
        if seed is not None:
            env = Env.seeded(
                seed,
                clock=env.clock,
                presence=policy,
                store=env.store,
                faults=fault_set,
                attestation=env.attestation,
            )
        if clock is not None:
            env = env.with_(clock=clock)
        tuning = FaultTuning(slow_delay=slow_delay) if slow_delay is not None else None
        return cls(env, device, tuning=tuning)

    # -- the device seen by a client ----------------------------------------------------------

    def hid_device(self, read_timeout: float | None = DEFAULT_READ_TIMEOUT) -> CtapHidDevice:
        """A python-fido2 `CtapHidDevice` for this key, as if its hidraw node were opened."""
        return open_device(self.hid, read_timeout)

    def nfc_card(self, breakages: Iterable[NfcBreakage] = (), **options: Any) -> NfcCard:
        """The key as a contactless card: FIDO, plus OATH and Management when the profile has
        them (a YubiKey 5 NFC's applets). `options` go to `NfcCard` (e.g. status_wait)."""
        from tokenbench.emulators.transport.nfc import NfcCard

        applets = (self.oath, self.management) if self.profile.oath else ()
        return NfcCard(self.authenticator, breakages=breakages, applets=applets, **options)

    def add_sink(self, sink: Callable[[bytes], None]) -> None:
        """Also deliver every device report to `sink` (the UDP server uses this)."""
        with self._sinks_lock:
            self._sinks = [*self._sinks, sink]

    def remove_sink(self, sink: Callable[[bytes], None]) -> None:
        with self._sinks_lock:
            self._sinks = [s for s in self._sinks if s is not sink]

    def receive(self, report: bytes) -> None:
        """A report from a host on any transport."""
        self.endpoint.receive(report)

    def _send(self, report: bytes) -> None:
        for sink in self._sinks:
            sink(report)

    # -- the control interface ----------------------------------------------------------------

    def touch(self) -> bool:
        """The user touches the key: answers the pending (or the next) presence request.

        Only a key created with presence="touch" waits for touches; on any other key a touch
        does nothing, as touching a real key that asks for nothing does. Returns whether the
        touch was taken.
        """
        policy = self.env.presence
        if not isinstance(policy, Touch):
            return False
        policy.touch()
        return True

    def decline(self) -> bool:
        """The user refuses the pending presence request (presence="touch" keys only)."""
        policy = self.env.presence
        if not isinstance(policy, Touch):
            return False
        policy.decline()
        return True

    def hold(self, held: bool) -> bool:
        """The user (or a rig's relay) holds the button down, or lets go of it.

        Only a key created with presence="button" has such a button: while it is held every
        presence request is approved at once. Returns whether the key has the button.
        """
        policy = self.env.presence
        if not isinstance(policy, Button):
            return False
        policy.hold(held)
        return True

    def present_finger(self, readings: str) -> bool:
        """Queue what the fingerprint sensor reads next: space-separated words of
        `fingerprint.Reading.parse` (`nomatch`, `match=HEXID`, `absent`, `sample=too-fast`).

        Unqueued readings are a match of the first enrolled finger, so unattended runs need
        nothing here. Returns whether the key has a sensor (False: nothing was queued);
        ValueError for a word that is not a reading.
        """
        parsed = [Reading.parse(word) for word in readings.split()]
        if not builtin_uv.has_sensor(self.profile):
            return False
        self.authenticator.sensor.present(*parsed)
        return True

    def power_cycle(self) -> None:
        """Unplug and plug back in: open handles fail, channels and volatile state are gone.

        Persistent state (credentials, PIN, counters) stays. Open a new `hid_device()` after.
        """
        self.hid.unplug()
        self.endpoint.reset()
        self.authenticator.power_cycle()
        self.oath.power_cycle()
        self.power_cycles += 1

    replug = power_cycle

    def wink(self) -> None:
        self.authenticator.wink()

    def clone(self) -> EmulatedKey:
        """A second key holding a copy of this key's persistent state (the `clone` fault).

        Both answer for the same credentials from now on; their signature counters diverge,
        which a relying party is expected to notice.
        """
        twin = Authenticator.clone_of(self.authenticator, self.env.with_(presence=AutoApprove()))
        name = f"{self.hid.name}-clone"
        return type(self)(
            twin.env, self.profile, tuning=self._tuning, name=name, authenticator=twin
        )

    def status(self) -> dict[str, Any]:
        """What the control channel reports: plain JSON types, no secrets."""
        policy = self.env.presence
        return {
            "profile": self.profile.name,
            "model": self.profile.model,
            "faults": sorted(str(f) for f in self.env.faults),
            "presence": type(policy).__name__,
            "presence_requests": len(getattr(policy, "requests", [])),
            "channels": len(self.endpoint.channels),
            "busy": self.endpoint.busy,
            "power_cycles": self.power_cycles,
            "oath": self.oath.summary(),
            **self._sensor_status(),
        }

    def _sensor_status(self) -> dict[str, Any]:
        if not builtin_uv.has_sensor(self.profile):
            return {}
        sensor = self.authenticator.sensor
        return {"sensor": {"queued": sensor.queued, "readings": sensor.readings}}

    def close(self) -> None:
        """Stop the transport threads and disconnect every handle."""
        self.endpoint.close()
        self.hid.unplug()

    def __enter__(self) -> EmulatedKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


URI_KEYS = {
    "profile": "profile",
    "state": "state_path",
    "fault": "faults",
    "faults": "faults",
    "presence": "presence",
    "seed": "seed",
    "slow": "slow_delay",
}


def parse_emu_uri(uri: str) -> dict[str, Any]:
    """`emu:profile=ctap20,fault=slow` -> keyword arguments for `EmulatedKey.create`.

    Several faults: `fault=slow+drop-packet` or repeated `fault=` items. Raises ValueError with
    a one-line message for anything else.
    """
    if not uri.startswith(EMU_SCHEME):
        raise ValueError(f"not an emulated-key target: {uri!r} (expected emu:...)")
    kwargs: dict[str, Any] = {}
    faults: list[str] = []
    for item in filter(None, uri[len(EMU_SCHEME) :].split(",")):
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise ValueError(f"emu target item {item!r} is not NAME=VALUE")
        key = URI_KEYS.get(name)
        if key is None:
            raise ValueError(f"unknown emu target option {name!r} (known: {', '.join(URI_KEYS)})")
        if key == "faults":
            faults.extend(value.split("+"))
        elif key == "seed":
            try:
                kwargs[key] = int(value, 0)
            except ValueError:
                raise ValueError(f"emu seed must be an integer, not {value!r}") from None
        elif key == "slow_delay":
            try:
                kwargs[key] = float(value)
            except ValueError:
                raise ValueError(f"emu slow delay must be seconds, not {value!r}") from None
        else:
            kwargs[key] = value
    if faults:
        FaultSet.parse(faults)  # validate names now, with the one-line message
        kwargs["faults"] = "+".join(faults)
    if "profile" in kwargs:
        get_profile(kwargs["profile"])
    if "presence" in kwargs and kwargs["presence"] not in PRESENCE_MODES:
        raise ValueError(f"unknown presence mode {kwargs['presence']!r}")
    return kwargs
