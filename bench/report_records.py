"""What one bench run records: each test's outcome, duration and timed CTAP commands.

`TimedDevice` wraps the target's `CtapDevice` so every `call()` a suite makes (through
`Ctap2`, `Ctap1`, `ClientPin`, ...) is timed and attributed to the running test, by CTAP
command: the CTAP2 command byte inside a CTAPHID CBOR message, the U2F INS inside MSG, or
the CTAPHID command itself (PING, WINK, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fido2.ctap import STATUS, CtapDevice
from fido2.hid import CTAPHID

CTAP2_COMMANDS = {
    0x01: "makeCredential",
    0x02: "getAssertion",
    0x04: "getInfo",
    0x06: "clientPIN",
    0x07: "reset",
    0x08: "getNextAssertion",
    0x09: "bioEnrollment",
    0x0A: "credentialManagement",
    0x0B: "selection",
    0x0C: "largeBlobs",
    0x0D: "config",
    0x40: "bioEnrollmentPreview",
    0x41: "credentialManagementPreview",
}
U2F_INSTRUCTIONS = {0x01: "U2F_REGISTER", 0x02: "U2F_AUTHENTICATE", 0x03: "U2F_VERSION"}

OUTCOMES = ("passed", "failed", "error", "skipped")
SKIP_UNCLAIMED = "unclaimed"  # the device does not claim the feature in getInfo / capabilities
SKIP_NOT_PERMITTED = "not-permitted"  # destructive or interactive test not allowed in this run
SKIP_OTHER = "other"  # anything else: counts against the run
SKIP_PREFIXES = {"unclaimed:": SKIP_UNCLAIMED, "not permitted:": SKIP_NOT_PERMITTED}


def classify_skip(reason: str) -> str:
    """Which kind of skip a reason describes (by its prefix, set by the suites' helpers)."""
    text = reason.removeprefix("Skipped: ").strip().lower()
    for prefix, kind in SKIP_PREFIXES.items():
        if text.startswith(prefix):
            return kind
    return SKIP_OTHER


def command_name(cmd: int, data: bytes) -> str:
    """A readable name for one CTAPHID call: the CTAP2 command or U2F instruction inside it."""
    if cmd == CTAPHID.CBOR and data:
        return CTAP2_COMMANDS.get(data[0], f"ctap2-0x{data[0]:02x}")
    if cmd == CTAPHID.MSG and len(data) > 1:
        return U2F_INSTRUCTIONS.get(data[1], f"u2f-ins-0x{data[1]:02x}")
    try:
        return f"CTAPHID_{CTAPHID(cmd).name}"
    except ValueError:
        return f"ctaphid-0x{cmd:02x}"


@dataclass
class CommandTiming:
    command: str
    seconds: float
    ok: bool


@dataclass
class TestRecord:
    __test__ = False  # a record, not a pytest test class
    nodeid: str
    target: str
    suite: str
    name: str
    outcome: str = "passed"
    duration: float = 0.0
    message: str = ""
    skip_kind: str = ""
    commands: list[CommandTiming] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        commands = [CommandTiming(**c) for c in data.get("commands", [])]
        return cls(**{**data, "commands": commands})


class TimedDevice(CtapDevice):
    """A `CtapDevice` that forwards to the target's current device and times each call.

    It asks `device()` on every call, so after a power cycle (which re-opens the device)
    the suite keeps using the same object. When the key reports UPNEEDED in a keepalive,
    `presence_needed()` runs once per call: the emulator is touched, or the person prompted.
    """

    def __init__(
        self,
        device: Callable[[], CtapDevice],
        record: Callable[[CommandTiming], None],
        presence_needed: Callable[[], Callable[[], None] | None] = lambda: None,
    ) -> None:
        self._device = device
        self._record = record
        self._presence_needed = presence_needed

    @property
    def unwrapped(self) -> CtapDevice:
        return self._device()

    @property
    def capabilities(self) -> int:
        return self._device().capabilities

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: Any = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        finish: list[Callable[[], None] | None] = []

        def keepalive(status: STATUS) -> None:
            if status == STATUS.UPNEEDED and not finish:
                finish.append(self._presence_needed())
            if on_keepalive is not None:
                on_keepalive(status)

        name = command_name(cmd, data)
        started = time.perf_counter()
        ok = False
        try:
            response = self._device().call(cmd, data, event, keepalive)
            ok = True
            return response
        finally:
            self._record(CommandTiming(name, time.perf_counter() - started, ok))
            for done in finish:
                if done is not None:
                    done()

    def close(self) -> None:
        """The target owns the device; a suite closing its handle does nothing."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device(), name)

    @classmethod
    def list_devices(cls) -> Any:
        """A wrapper is never discovered; targets find devices."""
        return iter(())
