"""Which USB devices are FIDO keys or CCID readers, from their descriptors (pyusb).

HID enumeration (hidraw) only shows keys whose HID driver is bound and readable; walking USB
descriptors also finds keys the current user cannot open yet (no udev rule), and CCID readers
whether or not pcscd runs. A device is:
  - a FIDO key if a HID interface's report descriptor starts with usage page 0xF1D0 (CTAP 2.1,
    11.2.8.1), or, when the report descriptor cannot be read, if its VID:PID is in
    `KNOWN_FIDO_IDS`. The descriptor is read from Linux sysfs when there (usbfs refuses
    interface requests while usbhid holds the interface), else with a GET_DESCRIPTOR request;
  - a CCID reader if an interface has class 0x0B (USB CCID 1.1, 4.2).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.usb_spec import DT_HID_REPORT, REQ_GET_DESCRIPTOR

FIDO_USAGE_PAGE = 0xF1D0
USB_CLASS_HID = 0x03
USB_CLASS_CCID = 0x0B
HID_CLASS_DESCRIPTOR = 0x21
REQUEST_IN_STANDARD_INTERFACE = 0x81
CONTROL_TIMEOUT_MS = 500
BACKEND_ENV = "TOKENBENCH_PYUSB_BACKEND"
SYSFS_USB_DEVICES = Path("/sys/bus/usb/devices")

# VID:PID of FIDO keys, for when the report descriptor cannot be read. Keep in step with
# udev/70-tokenbench-fido.rules (tests/udev checks they agree).
KNOWN_FIDO_IDS: dict[tuple[int, int], str] = {
    (0x1050, 0x0113): "Yubico YubiKey NEO FIDO",
    (0x1050, 0x0114): "Yubico YubiKey NEO OTP+FIDO",
    (0x1050, 0x0115): "Yubico YubiKey NEO FIDO+CCID",
    (0x1050, 0x0116): "Yubico YubiKey NEO OTP+FIDO+CCID",
    (0x1050, 0x0120): "Yubico Security Key by Yubico",
    (0x1050, 0x0402): "Yubico YubiKey FIDO",
    (0x1050, 0x0403): "Yubico YubiKey OTP+FIDO",
    (0x1050, 0x0406): "Yubico YubiKey FIDO+CCID",
    (0x1050, 0x0407): "Yubico YubiKey OTP+FIDO+CCID",
    (0x18D1, 0x5026): "Google Titan Security Key",
    (0x096E, 0x0850): "Feitian ePass FIDO",
    (0x096E, 0x0853): "Feitian BioPass FIDO2",
    (0x096E, 0x0858): "Feitian ePass FIDO-NFC",
    (0x0483, 0xA2CA): "SoloKeys Solo",
    (0x1209, 0x5070): "SoloKeys Solo (pid.codes)",
    (0x1209, 0xBEEE): "SoloKeys Solo 2",
    (0x20A0, 0x42B1): "Nitrokey FIDO2",
    (0x20A0, 0x42B2): "Nitrokey 3",
    (0x1209, 0x7B01): "tokenbench emulated key",
}


def report_usage_page(descriptor: bytes) -> int | None:
    """The value of the first Usage Page item of a HID report descriptor (HID 1.11, 6.2.2.7).

    Items before it (none, in a FIDO descriptor) are skipped; None if there is none or the
    descriptor is truncated.
    """
    offset = 0
    while offset < len(descriptor):
        prefix = descriptor[offset]
        if prefix == 0xFE:  # long item: bDataSize follows
            if offset + 1 >= len(descriptor):
                return None
            offset += 3 + descriptor[offset + 1]
            continue
        size = (0, 1, 2, 4)[prefix & 0x03]
        data = descriptor[offset + 1 : offset + 1 + size]
        if len(data) < size:
            return None
        if prefix & 0xFC == 0x04:  # Usage Page, a global item (tag 0, type 1)
            return int.from_bytes(data, "little")
        offset += 1 + size
    return None


@dataclass
class UsbInterface:
    number: int
    usb_class: int
    subclass: int
    protocol: int
    usage_page: int | None = None  # HID only, when the report descriptor could be read

    @property
    def kind(self) -> str:
        if self.usb_class == USB_CLASS_CCID:
            return "ccid"
        if self.usb_class == USB_CLASS_HID:
            return "fido-hid" if self.usage_page == FIDO_USAGE_PAGE else "hid"
        return f"class-0x{self.usb_class:02x}"


@dataclass
class UsbDevice:
    bus: int
    address: int
    vid: int
    pid: int
    manufacturer: str | None
    product: str | None
    serial: str | None
    interfaces: list[UsbInterface] = field(default_factory=list)
    fido_by_id_only: bool = False  # FIDO because of the VID:PID list, descriptor unreadable

    @property
    def path(self) -> str:
        return f"usb:{self.bus:03d}:{self.address:03d}"

    @property
    def is_fido(self) -> bool:
        return self.fido_by_id_only or any(i.kind == "fido-hid" for i in self.interfaces)

    @property
    def is_ccid(self) -> bool:
        return any(i.kind == "ccid" for i in self.interfaces)


def _string(device: Any, index: int) -> str | None:
    if not index:
        return None
    import usb.core
    import usb.util

    with contextlib.suppress(usb.core.USBError, ValueError, NotImplementedError):
        text: str | None = usb.util.get_string(device, index)
        return text
    return None


def _report_length(extra: bytes) -> int:
    """wDescriptorLength of the report descriptor from an interface's HID class descriptor."""
    offset = 0
    while offset + 1 < len(extra):
        length, kind = extra[offset], extra[offset + 1]
        if length < 2:
            break
        if kind == HID_CLASS_DESCRIPTOR and length >= 9:
            count = extra[offset + 5]
            for n in range(count):
                item = offset + 6 + 3 * n
                if item + 2 < offset + length and extra[item] == DT_HID_REPORT:
                    return int.from_bytes(extra[item + 1 : item + 3], "little")
        offset += length
    return 0


def _sysfs_report_descriptor(device: Any, interface: Any, configuration: Any) -> bytes | None:
    """The report descriptor Linux keeps in sysfs (world-readable, as fido_id reads it).

    While the kernel's HID driver is bound, usbfs refuses interface requests (the interface is
    claimed), so on Linux this is the way to read it without detaching the driver.
    """
    ports = device.port_numbers
    if not ports:
        return None
    name = (
        f"{device.bus}-{'.'.join(str(p) for p in ports)}:"
        f"{configuration.bConfigurationValue}.{interface.bInterfaceNumber}"
    )
    for path in sorted((SYSFS_USB_DEVICES / name).glob("*:*:*.*/report_descriptor")):
        try:
            return path.read_bytes()
        except OSError:
            return None
    return None


def _usage_page(device: Any, interface: Any, configuration: Any, sysfs: bool) -> int | None:
    import usb.core

    if sysfs:
        descriptor = _sysfs_report_descriptor(device, interface, configuration)
        if descriptor is not None:
            return report_usage_page(descriptor)
    length = _report_length(bytes(interface.extra_descriptors or b""))
    if not length:
        return None
    try:
        descriptor = device.ctrl_transfer(
            REQUEST_IN_STANDARD_INTERFACE,
            REQ_GET_DESCRIPTOR,
            DT_HID_REPORT << 8,
            interface.bInterfaceNumber,
            length,
            CONTROL_TIMEOUT_MS,
        )
    except (usb.core.USBError, NotImplementedError, ValueError):
        return None
    return report_usage_page(bytes(descriptor))


def describe(device: Any, sysfs: bool = False) -> UsbDevice:
    """A pyusb device's identity and interfaces (reads string and report descriptors).

    `sysfs`: read HID report descriptors from Linux sysfs first (real devices only; a
    replayed recording must not pick up whatever sits on the same port of this machine).
    """
    found = UsbDevice(
        bus=int(device.bus or 0),
        address=int(device.address or 0),
        vid=int(device.idVendor),
        pid=int(device.idProduct),
        manufacturer=_string(device, device.iManufacturer),
        product=_string(device, device.iProduct),
        serial=_string(device, device.iSerialNumber),
    )
    hid_unreadable = False
    for configuration in device:
        for interface in configuration:
            if interface.bAlternateSetting:
                continue
            entry = UsbInterface(
                number=int(interface.bInterfaceNumber),
                usb_class=int(interface.bInterfaceClass),
                subclass=int(interface.bInterfaceSubClass),
                protocol=int(interface.bInterfaceProtocol),
            )
            if entry.usb_class == USB_CLASS_HID:
                entry.usage_page = _usage_page(device, interface, configuration, sysfs)
                hid_unreadable |= entry.usage_page is None
            found.interfaces.append(entry)
        break  # the active (first) configuration is what the OS binds
    if not found.is_fido and hid_unreadable and (found.vid, found.pid) in KNOWN_FIDO_IDS:
        found.fido_by_id_only = True
    return found


def scan_usb(backend: Any = None) -> list[UsbDevice]:
    """FIDO keys and CCID readers on USB; `backend` (or TOKENBENCH_PYUSB_BACKEND) for tests.

    Raises `usb.core.NoBackendError` when no libusb is installed and no backend is given.
    """
    import usb.core

    if backend is None:
        backend = backend_from_env()
    devices = usb.core.find(find_all=True, backend=backend)
    described = [describe(d, sysfs=backend is None) for d in devices]
    return [d for d in described if d.is_fido or d.is_ccid]


def backend_from_env() -> Any:
    """The pyusb backend TOKENBENCH_PYUSB_BACKEND=module:factory names (None: libusb).

    The factory is called without arguments and returns a `usb.backend.IBackend`, e.g.
    `tokenbench.bench.keytools.usb_replay:replay_from_env` for recorded descriptors.
    """
    spec = os.environ.get(BACKEND_ENV, "")
    if not spec:
        return None
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UserError(f"{BACKEND_ENV} must be module:factory, not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"{BACKEND_ENV}={spec}: {exc}") from None
    return factory()
