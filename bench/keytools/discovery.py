"""Every FIDO device this machine can see: HID (hidraw), PC/SC readers, raw USB descriptors.

Each source may be missing (no hidraw, no pcscd, no libusb): that is a note in the listing,
never an error, so `key list` always says what it could and could not look at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tokenbench.bench.keytools.usb_scan import UsbDevice, scan_usb


@dataclass
class FoundDevice:
    source: str  # hid | pcsc | usb
    path: str  # a target URI for hid/pcsc entries, usb:BUS:ADDR for USB
    vid: int | None = None
    pid: int | None = None
    product: str | None = None
    serial: str | None = None
    interfaces: list[str] = field(default_factory=list)

    @property
    def vid_pid(self) -> str:
        if self.vid is None or self.pid is None:
            return "-"
        return f"{self.vid:04x}:{self.pid:04x}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["vid_pid"] = self.vid_pid
        return data


@dataclass
class Listing:
    devices: list[FoundDevice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def list_hid() -> tuple[list[FoundDevice], list[str]]:
    from fido2.hid import CtapHidDevice

    try:
        devices = list(CtapHidDevice.list_devices())
    except Exception as exc:  # no hidraw support here (containers, other OSes)
        return [], [f"HID: enumeration unavailable ({_first_line(exc)})"]
    found = []
    for device in devices:
        d = device.descriptor
        found.append(
            FoundDevice(
                "hid",
                f"hid:{os.fsdecode(d.path)}",  # bytes on Windows
                d.vid,
                d.pid,
                d.product_name,
                d.serial_number,
                ["fido-hid (usage page 0xF1D0)"],
            )
        )
        device.close()
    return found, ([] if found else ["HID: no FIDO HID device"])


def reader_serial(reader: Any) -> str | None:
    """The serial a PC/SC reader reports (SCARD_ATTR_VENDOR_IFD_SERIAL_NO), or None.

    The CCID driver answers with the USB serial of the reader, which for a key that is its
    own CCID reader (a YubiKey's CCID interface) is the key's. Readers that keep it to
    themselves (vpcd, many NFC readers) answer nothing: name those by reader instead.
    """
    from smartcard.scard import SCARD_ATTR_VENDOR_IFD_SERIAL_NO

    connection = reader.createConnection()
    try:
        connection.connect()
        raw = bytes(connection.getAttrib(SCARD_ATTR_VENDOR_IFD_SERIAL_NO))
    except Exception:  # no card, or the driver has no such attribute
        return None
    finally:
        with contextlib.suppress(Exception):
            connection.disconnect()
    text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    return text or None


def list_pcsc() -> tuple[list[FoundDevice], list[str]]:
    """FIDO cards in PC/SC readers (python-fido2 selects the FIDO applet on each)."""
    try:
        from fido2.pcsc import CtapPcscDevice
        from smartcard.System import readers
    except ImportError:
        return [], ["PC/SC: pyscard is not installed (pip install tokenbench[hardware])"]
    try:
        found_readers = list(readers())
    except Exception as exc:  # pyscard raises its own types when pcscd is absent
        return [], [f"PC/SC: not available, is pcscd running? ({_first_line(exc)})"]
    found, notes = [], []
    for reader in found_readers:
        try:  # what CtapPcscDevice.list_devices does, keeping the exact reader name
            device = CtapPcscDevice(reader.createConnection(), reader.name)
        except Exception:  # no card, or a card without the FIDO applet
            notes.append(f"PC/SC: reader {reader.name!r} holds no FIDO card")
            continue
        found.append(
            FoundDevice(
                "pcsc",
                f"pcsc:{reader.name}",
                product=reader.name,
                serial=reader_serial(reader),
                interfaces=["fido-iso7816"],
            )
        )
        device.close()
    if not found_readers:
        notes.append("PC/SC: pcscd runs but sees no reader")
    return found, notes


def _usb_entry(device: UsbDevice) -> FoundDevice:
    interfaces = []
    for interface in device.interfaces:
        label = f"{interface.number}:{interface.kind}"
        if interface.kind == "fido-hid":
            label += " (usage page 0xF1D0)"
        interfaces.append(label)
    if device.fido_by_id_only:
        interfaces.append("fido (known VID:PID; report descriptor not readable)")
    name = device.product
    if device.manufacturer and not (name or "").startswith(device.manufacturer):
        name = f"{device.manufacturer} {name}" if name else device.manufacturer
    return FoundDevice("usb", device.path, device.vid, device.pid, name, device.serial, interfaces)


def list_usb(backend: Any = None) -> tuple[list[FoundDevice], list[str]]:
    try:
        import usb.core
    except ImportError:
        return [], ["USB: pyusb is not installed (pip install tokenbench[hardware])"]
    try:
        devices = scan_usb(backend)
    except usb.core.NoBackendError:
        return [], ["USB: no libusb found (install libusb-1.0-0)"]
    except usb.core.USBError as exc:
        return [], [f"USB: enumeration failed ({_first_line(exc)})"]
    found = [_usb_entry(d) for d in devices]
    return found, ([] if found else ["USB: no FIDO key or CCID reader"])


def list_all(
    usb_backend: Any = None,
    sources: tuple[Callable[[], tuple[list[FoundDevice], list[str]]], ...] | None = None,
) -> Listing:
    """HID, PC/SC and USB in that order."""
    listing = Listing()
    for source in sources or (list_hid, list_pcsc, lambda: list_usb(usb_backend)):
        devices, notes = source()
        listing.devices += devices
        listing.notes += notes
    return listing
