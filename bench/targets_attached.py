"""Keys attached to this machine: HID keys through python-fido2's backend, and keys in PC/SC
readers (real ones, or the `key emulate --vpcd` card), plus the listing of both.

Split from `targets` so that module holds the target model and the emulated kinds; these
two reach hardware and are loaded only when a `hid:` or `pcsc:` target is used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fido2.ctap import CtapDevice, CtapError

from tokenbench.bench.errors import UserError
from tokenbench.bench.rig_hooks import hook_env
from tokenbench.bench.targets import REPLUG_SECONDS, KeyTarget, TargetKind
from tokenbench.bench.targets_wire import select_reader

if TYPE_CHECKING:
    from tokenbench.emulators.transport.control import UdpControlClient


class HidKeyTarget(KeyTarget):
    """`hid:auto` / `hid:/dev/hidrawN` / `hid:serial=S`: a real key (or a uhid/USB-IP/umockdev
    emulated one). Once its serial is known the key is followed by it: the kernel numbers
    hidraw nodes anew on every re-plug."""

    def __init__(self, uri: str, path: str | None, serial: str | None = None) -> None:
        super().__init__(uri)
        self.kind = TargetKind.HID
        self.emulated = False
        self.path = path
        self.serial = serial  # asked for in the URI
        self._serial: str | None = serial  # what the key reported

    def _open(self) -> CtapDevice:
        from fido2.hid import CtapHidDevice, open_connection

        descriptor = self._descriptor()
        try:  # CTAPHID_INIT: a key still starting up may refuse it (then it is looked for again)
            device = CtapHidDevice(descriptor, open_connection(descriptor))
        except (OSError, CtapError) as exc:
            raise UserError(f"cannot open {os.fsdecode(descriptor.path)}: {exc}") from None
        self.path = os.fsdecode(descriptor.path)
        self._serial = device.serial_number or self._serial
        return device

    def _descriptor(self) -> Any:
        """The key's HidDescriptor: by serial if given, else by path, else the first key."""
        from fido2.hid import get_descriptor, list_descriptors

        if self.serial is None and self.path is not None:
            try:
                return get_descriptor(self.path)
            except (OSError, ValueError) as exc:
                raise UserError(f"cannot open {self.path}: {exc}") from None
        try:
            found = [d for d in list_descriptors() if self.serial in (None, d.serial_number)]
        except OSError as exc:
            raise UserError(f"cannot list HID devices: {exc}") from None
        if not found and self.serial is not None:
            raise UserError(f"no FIDO HID key has serial {self.serial} (see `key list`)")
        if not found:
            raise UserError("no FIDO HID key attached (hid:auto found none)")
        return found[0]

    def power_cycle(self) -> CtapDevice:
        if self.serial is None and self._serial:  # its node may come back under a new number
            self.serial = self._serial
        return super().power_cycle()

    def _hook_env(self) -> dict[str, str]:
        return hook_env(self.uri, self._serial, self.path)

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
                (self._serial and d.serial_number == self._serial)
                or str(d.descriptor.path) == self.path
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

    def __init__(
        self,
        uri: str,
        reader: str,
        control: tuple[str, int] | None = None,
        serial: str | None = None,
    ) -> None:
        super().__init__(uri)
        self.kind = TargetKind.NFC
        self.emulated = control is not None
        self.reader = reader
        self.serial = serial  # pcsc:serial=S: the reader (CCID) serial, see reader_serial
        self.control_address = control
        self._control: UdpControlClient | None = None

    def _open(self) -> CtapDevice:
        try:
            from fido2.pcsc import CtapPcscDevice
        except ImportError:
            raise UserError("PC/SC needs pyscard (pip install tokenbench[hardware])") from None
        try:
            if self.serial is not None:
                return self._open_by_serial(self.serial)
            devices = list(CtapPcscDevice.list_devices(self.reader))
        except UserError:
            raise
        except Exception as exc:  # pyscard raises its own types when pcscd is absent
            raise UserError(f"PC/SC unavailable: {exc}") from None
        if not devices:
            raise UserError(f"no FIDO card in a PC/SC reader matching {self.reader or 'any'!r}")
        return devices[0]

    def _open_by_serial(self, serial: str) -> CtapDevice:
        from fido2.pcsc import CtapPcscDevice
        from smartcard.System import readers

        from tokenbench.bench.keytools.discovery import reader_serial

        seen = {reader.name: reader_serial(reader) for reader in readers()}
        for reader in readers():
            if seen[reader.name] == serial:
                self.reader = reader.name
                return CtapPcscDevice(reader.createConnection(), reader.name)
        readable = ", ".join(f"{n!r} has {s}" for n, s in seen.items() if s)
        if not readable:
            readable = "no reader reports a serial here: name it as pcsc:READER instead"
        raise UserError(f"no PC/SC reader reports serial {serial} ({readable})")

    def identity(self) -> str:
        return f"the card in reader {self.reader or 'auto'}"

    def _hook_env(self) -> dict[str, str]:
        return hook_env(self.uri, self.serial, self.reader)

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

    def presence_needed(self) -> Callable[[], None] | None:
        if self.control_address is None:
            return super().presence_needed()
        with contextlib.suppress(RuntimeError, OSError):  # a key with automatic presence
            self._control_client().touch()
        return None

    def withhold_presence(self) -> bool:
        """The emulated card declines its next presence request (a key started with
        `--presence touch`; one that approves by itself answers False)."""
        if self.control_address is None:
            return super().withhold_presence()
        try:
            return self._control_client().decline()
        except (RuntimeError, OSError) as exc:
            raise UserError(f"cannot reach the control socket of {self.uri}: {exc}") from None


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
