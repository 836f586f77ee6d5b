"""Target URIs -> the device a suite talks to, plus the target's control interface.

A suite only ever holds a python-fido2 `CtapDevice` (or, for TOTP, a `TotpSource` from
`targets_totp`). What differs between an emulated and a real device lives here and in
`targets_totp` (TOTP tokens), `targets_attached` (HID keys and PC/SC readers of this
machine) and `targets_wire` (raw report readers): an emulated
key is touched and power-cycled through its control interface, a real one by asking the
person at the bench (with a visible countdown). Only these modules import `emulators`.

| URI | reaches |
| --- | --- |
| `emu:` / `emu:profile=NAME,state=FILE,fault=NAME` | a fresh emulated key, in-process CTAPHID |
| `udp:HOST:PORT[,reply=PORT]` | `tokenbench key emulate --udp` (simulator convention) |
| `hid:auto`, `hid:/dev/hidrawN` | real keys through python-fido2's HID backend |
| `hid:serial=S` | the HID key whose USB serial is S, wherever it is re-plugged |
| `pcsc:auto`, `pcsc:READER` | keys in PC/SC readers through python-fido2's `CtapPcscDevice` |
| `pcsc:serial=S` | the FIDO card whose reader reports serial S (CCID/USB serial) |
| `pcsc:READER,control=HOST:PORT` | the `key emulate --vpcd` card, touched/re-plugged unattended |
| `totp:emu[,count=N,drift-ppm=X,age-days=D,fault=F]` | emulated TOTP tokens minted on the fly |
| `totp:manual,serial=S,pskc=FILE` | a real token whose code a person types |
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from fido2.ctap import CtapDevice

from tokenbench.bench.errors import UserError
from tokenbench.bench.rig_hooks import HookError, RigHooks, hook_env
from tokenbench.bench.targets_wire import RAW_POLL_SECONDS, polling_reader

if TYPE_CHECKING:  # imported where used: each kind of target loads only its own transport
    from tokenbench.emulators.clock import Clock
    from tokenbench.emulators.key import EmulatedKey
    from tokenbench.emulators.transport.control import UdpControlClient

# Suites and the kinds of target they apply to.
SUITES: dict[str, str] = {
    "ctaphid": "CTAPHID framing: INIT, channels, ping, fragmentation, errors, cancel, lock",
    "ctap2": "CTAP 2.1 commands: getInfo, makeCredential, getAssertion, clientPIN, ...",
    "u2f": "CTAP1/U2F: version, register, authenticate, CTAP1/CTAP2 interplay",
    "nfc": "ISO 7816 over PC/SC: SELECT, chaining, NFCCTAP_GETRESPONSE",
    "oath": "the YKOATH applet over PC/SC: RFC 4226/6238 codes, status words, password, reset",
    "totp": "hardware TOTP tokens: codes against their PSKC seed, drift, display",
    "verifier": "the device against the verifier core end to end (WebAuthn, TOTP, IAM rules)",
}
REPLUG_SECONDS = 10.0
DEFAULT_UDP_REPLY_PORT = 7112  # simulator convention: replies go to port 7112
PRESENCE_SECONDS = 30.0
EMULATED_READ_TIMEOUT = 2.0  # an in-process key answers (or keeps alive) within milliseconds
UDP_TIMEOUT = 2.0  # keepalives come every 100 ms; silence this long means nobody is there
REOPEN_POLL = 0.05  # seconds between looks for a re-plugged key (or card in its reader)
SERIAL_OPTION = "serial="  # hid:serial=S, pcsc:serial=S


class TargetKind(StrEnum):
    HID = "hid"  # a CTAP key over CTAPHID (emulated in-process, UDP, or a real hidraw device)
    NFC = "nfc"  # a CTAP key over ISO 7816 / PC/SC
    TOTP = "totp"  # hardware TOTP tokens


SUITES_BY_KIND: dict[TargetKind, tuple[str, ...]] = {
    TargetKind.HID: ("ctaphid", "ctap2", "u2f", "verifier"),
    TargetKind.NFC: ("nfc", "oath", "ctap2", "u2f", "verifier"),
    TargetKind.TOTP: ("totp", "verifier"),
}


# --------------------------------------------------------------------------- the person


class Prompter(Protocol):
    """What the bench needs from the person at a real device."""

    def countdown(self, message: str, seconds: float, done: Callable[[], bool]) -> bool: ...
    def confirm(self, question: str) -> bool: ...
    def ask(self, question: str) -> str: ...
    def notify(self, message: str) -> None: ...


class TerminalPrompter:
    """Prompts on stderr with a countdown; answers come from stdin (which must be a TTY)."""

    def __init__(self, out: TextIO | None = None, inp: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.inp = inp or sys.stdin

    def notify(self, message: str) -> None:
        self.out.write(f"\n>>> {message}\n")
        self.out.flush()

    def countdown(self, message: str, seconds: float, done: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                self.out.write("\n")
                return False
            self.out.write(f"\r>>> {message} ({left:4.1f} s left) ")
            self.out.flush()
            time.sleep(min(0.1, left))
        self.out.write("\n")
        self.out.flush()
        return True

    def confirm(self, question: str) -> bool:
        return self.ask(f"{question} [y/N]").lower() in ("y", "yes")

    def ask(self, question: str) -> str:
        if not self.inp.isatty():
            raise UserError(f"needs a person at the terminal to answer: {question}")
        self.out.write(f"\n>>> {question} ")
        self.out.flush()
        return self.inp.readline().strip()


class PresenceCountdown:
    """A 'touch the key now' countdown shown while a CTAP call blocks waiting for UP."""

    def __init__(self, prompter: Prompter, seconds: float = PRESENCE_SECONDS) -> None:
        self.prompter = prompter
        self.seconds = seconds
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, message: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.prompter.countdown,
                args=(message, self.seconds, self._done.is_set),
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


# --------------------------------------------------------------------------- URIs


def split_options(text: str) -> dict[str, str]:
    """'a=1,b=2' -> {'a': '1', 'b': '2'}; a bare word is a flag with value ''."""
    options: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, value = part.partition("=")
        if not name:
            raise UserError(f"bad target option {part!r}")
        options[name.strip()] = value.strip()
    return options


def _is_port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


def _control_address(uri: str, text: str | None) -> tuple[str, int] | None:
    """The `control=HOST:PORT` of a target URI, checked now so a typo is one line at start."""
    if text is None:
        return None
    from tokenbench.emulators.transport.udp import is_loopback, parse_address

    try:
        host, port = parse_address(text)
    except ValueError as exc:
        raise UserError(f"bad target {uri!r}: control {exc}") from None
    if not port:
        raise UserError(f"bad target {uri!r}: control port must be 1-65535")
    if not is_loopback(host):  # the emulator binds it on loopback only (owner-only channel)
        raise UserError(f"bad target {uri!r}: control {host} is not loopback")
    return host, port


def parse_target(uri: str) -> Target:
    """Build the target a URI names; a malformed URI is one UserError line."""
    scheme, sep, rest = uri.partition(":")
    if not sep:
        raise UserError(f"bad target {uri!r}: expected SCHEME:..., e.g. emu: or hid:auto")
    if scheme == "emu":
        return EmulatedKeyTarget(uri, split_options(rest))
    if scheme == "udp":
        address, _, opts = rest.partition(",")
        host, _, port = address.rpartition(":")
        options = split_options(opts)
        reply = options.pop("reply", str(DEFAULT_UDP_REPLY_PORT))
        if options or not host or not _is_port(port) or not _is_port(reply):
            raise UserError(f"bad target {uri!r}: expected udp:HOST:PORT[,reply=PORT]")
        return UdpKeyTarget(uri, host, int(port), int(reply))
    if scheme in ("hid", "pcsc"):
        from tokenbench.bench.targets_attached import HidKeyTarget, PcscKeyTarget
    if scheme == "hid":
        if rest.startswith(SERIAL_OPTION):
            return HidKeyTarget(uri, None, _serial_of(uri, rest))
        if not rest:
            raise UserError(f"bad target {uri!r}: expected hid:auto or hid:/dev/hidrawN")
        return HidKeyTarget(uri, None if rest == "auto" else rest)
    if scheme == "pcsc":
        reader, _, opts = rest.partition(",")
        options = split_options(opts)
        control = options.pop("control", None)
        if not reader or options or control == "":
            raise UserError(
                f"bad target {uri!r}: expected pcsc:auto or pcsc:READER[,control=HOST:PORT]"
            )
        serial = _serial_of(uri, reader) if reader.startswith(SERIAL_OPTION) else None
        return PcscKeyTarget(
            uri,
            "" if reader == "auto" or serial else reader,
            _control_address(uri, control),
            serial,
        )
    if scheme == "totp":
        mode, _, opts = rest.partition(",")
        options = split_options(opts)
        from tokenbench.bench.targets_totp import EmulatedTotpTarget, ManualTotpTarget

        if mode == "emu":
            return EmulatedTotpTarget(uri, options)
        if mode == "manual":
            return ManualTotpTarget(uri, options)
        raise UserError(f"bad target {uri!r}: expected totp:emu or totp:manual,serial=S")
    raise UserError(f"unknown target scheme {scheme!r} in {uri!r} (emu, udp, hid, pcsc, totp)")


def _serial_of(uri: str, text: str) -> str:
    serial = text.removeprefix(SERIAL_OPTION).strip()
    if not serial:
        raise UserError(f"bad target {uri!r}: serial= needs the serial `tokenbench key list` shows")
    return serial


def attach_hooks(target: Target, hooks: RigHooks) -> None:
    """Give a real key's target its rig hooks; any other target refuses them (one line)."""
    if not hooks:
        return
    if not isinstance(target, KeyTarget) or target.emulated:
        raise UserError(
            f"{target.uri}: --power-cycle-cmd/--touch-cmd are for real keys (hid:, pcsc:); "
            "emulated targets are driven through their control channel"
        )
    target.hooks = hooks


# --------------------------------------------------------------------------- CTAP targets


@dataclass
class Target(ABC):
    uri: str
    kind: TargetKind = field(init=False)
    emulated: bool = field(init=False, default=True)

    @property
    def suites(self) -> tuple[str, ...]:
        return SUITES_BY_KIND[self.kind]

    def identity(self) -> str:
        """What the person confirms before a destructive test (serial or path)."""
        return self.uri

    @property
    def unattended(self) -> bool:
        """Runs with nobody at the device (no prompt, no confirmation, no terminal)."""
        return self.emulated

    def clock(self) -> Clock:
        """True time as this target sees it (a verifier running next to it uses this)."""
        from tokenbench.emulators.clock import SystemClock

        return SystemClock()

    def close(self) -> None:  # noqa: B027 - most targets hold nothing to release
        """Release the device."""


class KeyTarget(Target):
    """A CTAP security key: opens a `CtapDevice`, handles presence and power cycles."""

    prompter: Prompter

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.prompter = TerminalPrompter()
        self.hooks = RigHooks()  # a rig's commands in place of the person (attach_hooks)
        self._device: CtapDevice | None = None
        self._open_error: UserError | None = None

    @property
    def unattended(self) -> bool:
        return self.emulated or self.hooks.unattended

    def _hook_env(self) -> dict[str, str]:
        return hook_env(self.uri, None, None)

    @abstractmethod
    def _open(self) -> CtapDevice: ...

    def device(self) -> CtapDevice:
        """The open device; re-opened after a power cycle.

        A target that could not be opened is not tried again for every test: the first
        failure is remembered and repeated, so an unreachable device fails fast.
        """
        if self._open_error is not None:
            raise self._open_error
        if self._device is None:
            try:
                self._device = self._open()
            except UserError as exc:
                self._open_error = exc
                raise
        return self._device

    def _drop_device(self) -> None:
        if self._device is not None:
            with contextlib.suppress(Exception):  # a replugged device may already be gone
                self._device.close()
            self._device = None

    def power_cycle(self) -> CtapDevice:
        """Unplug and re-plug (or power-cycle) the key; returns the re-opened device."""
        self._drop_device()
        if self.hooks.power_cycle is None:
            self._ask_replug()
            return self.device()
        self.hooks.power_cycle.run(self._hook_env())
        try:
            self._device = self._reopen()
        except UserError as exc:
            raise HookError(f"no key after the power-cycle hook: {exc}") from None
        return self._device

    def _reopen(self) -> CtapDevice:
        """The key once the host lists it again (enumeration lags the re-plug briefly)."""
        deadline = time.monotonic() + REPLUG_SECONDS
        while True:
            try:
                return self._open()
            except UserError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(REOPEN_POLL)

    def _ask_replug(self) -> None:
        self.prompter.notify(f"unplug {self.identity()} now")
        gone = self.prompter.countdown(
            "unplug the key and plug it back in", REPLUG_SECONDS, self._replugged
        )
        if not gone:
            raise UserError("the key was not re-plugged in time")

    def _replugged(self) -> bool:
        return False

    def raw_connection(self) -> tuple[Any, Callable[[float], bytes | None]]:
        """A second handle for raw CTAPHID reports, and a read-with-timeout for it."""
        raise UserError(f"{self.uri} has no raw HID access")

    def let_time_pass(self, seconds: float) -> None:
        """Wait (a real key) or move the emulated key's clock (an emulated one)."""
        if self.unattended:
            time.sleep(seconds)
            return
        self.prompter.countdown("waiting", seconds, lambda: False)

    def presence_needed(self) -> Callable[[], None] | None:
        """Called when the key asks for user presence; returns a function to call when done."""
        if self.hooks.touch is not None:  # the rig touches, in a thread, as a person would
            return self.hooks.touch.start(self._hook_env())
        countdown = PresenceCountdown(self.prompter)
        countdown.start(f"touch {self.identity()} now")
        return countdown.stop

    def withhold_presence(self) -> bool:
        """Make the key refuse its next presence request; False if this target cannot
        (a real key: over NFC the tap itself is the touch, so the bench does not ask)."""
        return False

    def present_finger(self, readings: str, instruction: str) -> bool:
        """Have the next fingerprint readings be `readings` (words of the emulator's control
        channel: `nomatch`, `match`, `absent`...); a real key's person is asked to follow
        `instruction` instead. False if nobody can (an unattended rig has no fingers)."""
        if self.unattended:
            return False
        return self.prompter.confirm(instruction)

    def close(self) -> None:
        self._drop_device()


class OffsetClock:
    """The emulated key's clock: true time plus whatever the bench let pass in between."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset = 0.0

    def now(self) -> float:
        return self.base.now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class EmulatedKeyTarget(KeyTarget):
    """`emu:`: a fresh emulated key in-process, reached through python-fido2's CtapHidDevice.

    The URI is checked at once; the key is built on first use, so a runner can validate
    URIs without building keys.
    """

    def __init__(self, uri: str, options: dict[str, str]) -> None:
        super().__init__(uri)
        self.kind = TargetKind.HID
        self.options = options
        from tokenbench.emulators.key import parse_emu_uri

        emu_uri = "emu:" + ",".join(f"{k}={v}" for k, v in options.items())
        try:
            self._kwargs = parse_emu_uri(emu_uri)
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"bad target {uri!r}: {exc}") from None
        self._key: EmulatedKey | None = None

    @property
    def key(self) -> EmulatedKey:
        """The emulated key (its control interface: touch, replug)."""
        if self._key is None:
            from tokenbench.emulators.clock import SystemClock
            from tokenbench.emulators.key import EmulatedKey

            self.key_clock = OffsetClock(SystemClock())
            try:
                self._key = EmulatedKey.create(**{"clock": self.key_clock, **self._kwargs})
            except (ValueError, KeyError) as exc:
                raise UserError(f"bad target {self.uri!r}: {exc}") from None
        return self._key

    def _open(self) -> CtapDevice:
        return self.key.hid_device(read_timeout=EMULATED_READ_TIMEOUT)

    def raw_connection(self) -> tuple[Any, Callable[[float], bytes | None]]:
        self._drop_device()  # every handle sees every report: keep the suite's handle clean
        connection = self.key.hid.connect(RAW_POLL_SECONDS)
        return connection, polling_reader(connection)

    def power_cycle(self) -> CtapDevice:
        self._drop_device()
        self.key.replug()
        return self.device()

    def let_time_pass(self, seconds: float) -> None:
        self.key  # noqa: B018 - the clock exists once the key does
        self.key_clock.advance(seconds)

    def clock(self) -> OffsetClock:
        self.key  # noqa: B018 - the clock exists once the key does
        return self.key_clock

    def present_finger(self, readings: str, instruction: str) -> bool:
        return self.key.present_finger(readings)

    def presence_needed(self) -> Callable[[], None] | None:
        touch = getattr(self.key, "touch", None)
        if touch is not None:
            touch()
        return None

    def close(self) -> None:
        super().close()
        if self._key is not None:
            self._key.close()
            self._key = None


class UdpKeyTarget(KeyTarget):
    """`udp:HOST:PORT`: an emulator started with `tokenbench key emulate --udp`."""

    def __init__(self, uri: str, host: str, port: int, reply: int) -> None:
        super().__init__(uri)
        self.kind = TargetKind.HID
        self.host, self.port, self.reply = host, port, reply
        self._control: UdpControlClient | None = None

    def _open(self) -> CtapDevice:
        from tokenbench.emulators.transport import udp

        try:
            return udp.open_udp_device(
                (self.host, self.port), (self.host, self.reply), timeout=UDP_TIMEOUT
            )
        except OSError as exc:
            raise UserError(f"cannot reach {self.uri}: {exc}") from None

    def raw_connection(self) -> tuple[Any, Callable[[float], bytes | None]]:
        from tokenbench.emulators.transport import udp

        self._drop_device()  # the simulator answers one reply port: take it over
        connection = udp.UdpHidConnection(
            (self.host, self.port), (self.host, self.reply), timeout=RAW_POLL_SECONDS
        )
        return connection, polling_reader(connection)

    def _control_client(self) -> UdpControlClient:
        from tokenbench.emulators.transport import udp

        if self._control is None:
            # The key's host: a key elsewhere has no control channel we may reach (loopback only).
            port = udp.default_control_address((self.host, self.port))[1]
            self._control = udp.UdpControlClient((self.host, port))
        return self._control

    def power_cycle(self) -> CtapDevice:
        self._drop_device()
        try:  # no answer or no token: not this user's key (the channel is owner-only)
            self._control_client().replug()
        except (RuntimeError, OSError) as exc:
            raise UserError(f"cannot re-plug {self.uri}: {exc}") from None
        return self.device()

    def presence_needed(self) -> Callable[[], None] | None:
        with contextlib.suppress(RuntimeError, OSError):  # a key with automatic presence
            self._control_client().touch()
        return None

    def present_finger(self, readings: str, instruction: str) -> bool:
        try:
            return self._control_client().present_finger(readings)
        except (RuntimeError, OSError) as exc:
            raise UserError(f"cannot reach the sensor of {self.uri}: {exc}") from None
