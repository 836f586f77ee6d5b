"""Target URIs -> the device a suite talks to, plus the target's control interface.

A suite only ever holds a python-fido2 `CtapDevice` (or, for TOTP, a `TotpSource` from
`targets_totp`). What differs between an emulated and a real device lives here and in
`targets_totp` (TOTP tokens) and `targets_wire` (raw report readers): an emulated
key is touched and power-cycled through its control interface, a real one by asking the
person at the bench (with a visible countdown). Only these modules import `emulators`.

| URI | reaches |
| --- | --- |
| `emu:` / `emu:profile=NAME,state=FILE,fault=NAME` | a fresh emulated key, in-process CTAPHID |
| `udp:HOST:PORT[,reply=PORT]` | `tokenbench key emulate --udp` (simulator convention) |
| `hid:auto`, `hid:/dev/hidrawN` | real keys through python-fido2's HID backend |
| `pcsc:auto`, `pcsc:READER` | keys in PC/SC readers through python-fido2's `CtapPcscDevice` |
| `pcsc:READER,control=HOST:PORT` | the `key emulate --vpcd` card, touched/re-plugged unattended |
| `totp:emu[,count=N,drift-ppm=X,age-days=D,fault=F]` | emulated TOTP tokens minted on the fly |
| `totp:manual,serial=S,pskc=FILE` | a real token whose code a person types |
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from fido2.ctap import CtapDevice

from tokenbench.bench.errors import UserError
from tokenbench.bench.targets_wire import RAW_POLL_SECONDS, polling_reader, select_reader

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
    "totp": "hardware TOTP tokens: codes against their PSKC seed, drift, display",
    "verifier": "the device against the verifier core end to end (WebAuthn, TOTP, IAM rules)",
}
REPLUG_SECONDS = 10.0
DEFAULT_UDP_REPLY_PORT = 7112  # simulator convention: replies go to port 7112
PRESENCE_SECONDS = 30.0
EMULATED_READ_TIMEOUT = 2.0  # an in-process key answers (or keeps alive) within milliseconds
UDP_TIMEOUT = 2.0  # keepalives come every 100 ms; silence this long means nobody is there
PCSC_REOPEN_POLL = 0.05  # seconds between looks for a re-plugged card in its reader


class TargetKind(StrEnum):
    HID = "hid"  # a CTAP key over CTAPHID (emulated in-process, UDP, or a real hidraw device)
    NFC = "nfc"  # a CTAP key over ISO 7816 / PC/SC
    TOTP = "totp"  # hardware TOTP tokens


SUITES_BY_KIND: dict[TargetKind, tuple[str, ...]] = {
    TargetKind.HID: ("ctaphid", "ctap2", "u2f", "verifier"),
    TargetKind.NFC: ("nfc", "ctap2", "u2f", "verifier"),
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
    if scheme == "hid":
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
        return PcscKeyTarget(
            uri, "" if reader == "auto" else reader, _control_address(uri, control)
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
        self._device: CtapDevice | None = None
        self._open_error: UserError | None = None

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
        self._ask_replug()
        return self.device()

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
        self.prompter.countdown("waiting", seconds, lambda: False)

    def presence_needed(self) -> Callable[[], None] | None:
        """Called when the key asks for user presence; returns a function to call when done."""
        countdown = PresenceCountdown(self.prompter)
        countdown.start(f"touch {self.identity()} now")
        return countdown.stop

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


class HidKeyTarget(KeyTarget):
    """`hid:auto` / `hid:/dev/hidrawN`: a real key (or a uhid/USB-IP emulated one)."""

    def __init__(self, uri: str, path: str | None) -> None:
        super().__init__(uri)
        self.kind = TargetKind.HID
        self.emulated = False
        self.path = path
        self._serial: str | None = None

    def _open(self) -> CtapDevice:
        from fido2.hid import CtapHidDevice, get_descriptor, open_connection

        if self.path is None:
            devices = list(CtapHidDevice.list_devices())
            if not devices:
                raise UserError("no FIDO HID key attached (hid:auto found none)")
            device = devices[0]
            self.path = str(device.descriptor.path)
        else:
            try:
                descriptor = get_descriptor(self.path)
                device = CtapHidDevice(descriptor, open_connection(descriptor))
            except OSError as exc:
                raise UserError(f"cannot open {self.path}: {exc}") from None
        self._serial = device.serial_number
        return device

    def identity(self) -> str:
        return f"the key at {self.path or 'hid:auto'} (serial {self._serial or 'unknown'})"

    def raw_connection(self) -> tuple[Any, Callable[[float], bytes | None]]:
        from fido2.hid import get_descriptor, open_connection

        self.device()
        self._drop_device()  # every handle sees every report: keep the suite's handle clean
        assert self.path is not None
        connection = open_connection(get_descriptor(self.path))
        return connection, select_reader(connection)

    def _replugged(self) -> bool:
        from fido2.hid import CtapHidDevice

        try:
            return any(
                d.serial_number == self._serial or str(d.descriptor.path) == self.path
                for d in CtapHidDevice.list_devices()
            )
        except OSError:
            return False

    def _ask_replug(self) -> None:
        self.prompter.notify(f"unplug {self.identity()}")
        self.prompter.countdown("unplug the key", REPLUG_SECONDS, lambda: not self._replugged())
        if not self.prompter.countdown("plug the key back in", REPLUG_SECONDS, self._replugged):
            raise UserError("the key was not re-plugged in time")


class PcscKeyTarget(KeyTarget):
    """`pcsc:auto` / `pcsc:READER`: a key in a PC/SC reader (real, or the vpcd virtual card).

    With `control=HOST:PORT` it is the card of `tokenbench key emulate --vpcd`: touches and
    re-plugs go to the emulator's control socket instead of a person, so presence-gated,
    destructive and power-cycle tests run unattended. A re-plug takes the card out of the
    field and back; pcscd sees a new card, which is opened again.
    """

    def __init__(self, uri: str, reader: str, control: tuple[str, int] | None = None) -> None:
        super().__init__(uri)
        self.kind = TargetKind.NFC
        self.emulated = control is not None
        self.reader = reader
        self.control_address = control
        self._control: UdpControlClient | None = None

    def _open(self) -> CtapDevice:
        try:
            from fido2.pcsc import CtapPcscDevice
        except ImportError:
            raise UserError("PC/SC needs pyscard (pip install tokenbench[hardware])") from None
        try:
            devices = list(CtapPcscDevice.list_devices(self.reader))
        except Exception as exc:  # pyscard raises its own types when pcscd is absent
            raise UserError(f"PC/SC unavailable: {exc}") from None
        if not devices:
            raise UserError(f"no FIDO card in a PC/SC reader matching {self.reader or 'any'!r}")
        return devices[0]

    def identity(self) -> str:
        return f"the card in reader {self.reader or 'auto'}"

    def _ask_replug(self) -> None:
        if not self.prompter.countdown(
            "remove the key from the reader and present it again", REPLUG_SECONDS, lambda: False
        ):
            return

    def _control_client(self) -> UdpControlClient:
        from tokenbench.emulators.transport.control import UdpControlClient

        if self._control is None:
            assert self.control_address is not None
            self._control = UdpControlClient(self.control_address)
        return self._control

    def power_cycle(self) -> CtapDevice:
        if self.control_address is None:
            return super().power_cycle()
        self._drop_device()  # our card handle would only see the card that left
        try:
            self._control_client().replug()
        except (RuntimeError, OSError) as exc:
            raise UserError(f"cannot re-plug {self.uri}: {exc}") from None
        self._device = self._reopen()
        return self._device

    def _reopen(self) -> CtapDevice:
        """The returned card, once pcscd lists it (it may lag the emulator's answer briefly)."""
        deadline = time.monotonic() + REPLUG_SECONDS
        while True:
            try:
                return self._open()
            except UserError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(PCSC_REOPEN_POLL)

    def presence_needed(self) -> Callable[[], None] | None:
        if self.control_address is None:
            return super().presence_needed()
        with contextlib.suppress(RuntimeError, OSError):  # a key with automatic presence
            self._control_client().touch()
        return None


# --------------------------------------------------------------------------- discovery


def list_attached() -> Iterator[tuple[str, str]]:
    """(uri, description) for every attached HID key and PC/SC reader; notes when none."""
    try:
        from fido2.hid import CtapHidDevice

        hid = list(CtapHidDevice.list_devices())
    except Exception as exc:  # no hidraw support in this environment
        yield "hid:", f"HID enumeration unavailable: {exc}"
        hid = []
    for device in hid:
        d = device.descriptor
        yield (
            f"hid:{os.fsdecode(d.path)}",  # bytes on Windows
            f"{d.product_name or 'FIDO key'} vid={d.vid:04x} pid={d.pid:04x} "
            f"serial={d.serial_number or '-'}",
        )
    if not hid:
        yield "hid:", "no FIDO HID keys attached"
    try:
        from smartcard.System import readers

        found = [str(r) for r in readers()]
    except Exception as exc:  # pyscard missing, or pcscd not running
        yield "pcsc:", f"PC/SC unavailable: {type(exc).__name__}: {exc}".strip()
        return
    for reader in found:
        yield f"pcsc:{reader}", "PC/SC reader"
    if not found:
        yield "pcsc:", "no PC/SC readers"
