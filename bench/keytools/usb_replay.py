"""A pyusb backend that replays recorded USB descriptors instead of talking to a bus.

`tokenbench key list` enumerates USB with pyusb. To test (or reproduce a user's report) without
the device, this backend answers pyusb from a recording: the device descriptor, the full
configuration descriptor(s) as the device returns them to GET_DESCRIPTOR, string descriptors and
HID report descriptors. Control transfers are answered like a device would answer them (standard
GET_DESCRIPTOR for strings, the interface-recipient GET_DESCRIPTOR for HID report descriptors);
anything else stalls (a `usb.core.USBError`), as a real device would for an unknown request.

Recording format (JSON, hex strings; see tests/data/usb/README.md):
    {"bus": 1, "address": 5, "port_numbers": [2], "speed": 2,
     "device_descriptor": "<18 bytes>", "configuration_descriptors": ["<wTotalLength bytes>"],
     "strings": {"1": "Yubico"}, "hid_report_descriptors": {"<bInterfaceNumber>": "<hex>"}}

The hook (`usb_scan.backend_from_env`): TOKENBENCH_PYUSB_BACKEND=module:factory names a
zero-argument callable returning an `IBackend`; `replay_from_env` here is such a factory,
reading the recordings listed (os.pathsep separated) in TOKENBENCH_USB_RECORDINGS.
"""

from __future__ import annotations

import array
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import usb.backend
import usb.core

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.usb_spec import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_ENDPOINT,
    DT_HID_REPORT,
    DT_INTERFACE,
    DT_STRING,
    ENGLISH_US,
    REQ_GET_DESCRIPTOR,
)

RECORDINGS_ENV = "TOKENBENCH_USB_RECORDINGS"

LIBUSB_ERROR_PIPE = -9  # a stall, as libusb reports it


MINIMUM_LENGTHS = {DT_CONFIGURATION: 9, DT_INTERFACE: 9, DT_ENDPOINT: 7}


class _Fields:
    """A descriptor as pyusb wants it: every field an attribute."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _unpack(fmt: str, names: str, data: bytes) -> dict[str, Any]:
    return dict(zip(names.split(), struct.unpack_from(fmt, data), strict=True))


DEVICE_FIELDS = (
    "<BBHBBBBHHHBBBB",
    "bLength bDescriptorType bcdUSB bDeviceClass bDeviceSubClass bDeviceProtocol "
    "bMaxPacketSize0 idVendor idProduct bcdDevice iManufacturer iProduct iSerialNumber "
    "bNumConfigurations",
)
CONFIG_FIELDS = (
    "<BBHBBBBB",
    "bLength bDescriptorType wTotalLength bNumInterfaces bConfigurationValue iConfiguration "
    "bmAttributes bMaxPower",
)
INTERFACE_FIELDS = (
    "<BBBBBBBBB",
    "bLength bDescriptorType bInterfaceNumber bAlternateSetting bNumEndpoints "
    "bInterfaceClass bInterfaceSubClass bInterfaceProtocol iInterface",
)
ENDPOINT_FIELDS = (
    "<BBBBHB",
    "bLength bDescriptorType bEndpointAddress bmAttributes wMaxPacketSize bInterval",
)


@dataclass
class _Interface:
    fields: dict[str, Any]
    extra: bytearray = field(default_factory=bytearray)
    endpoints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Configuration:
    fields: dict[str, Any]
    raw: bytes
    extra: bytearray = field(default_factory=bytearray)
    interfaces: list[list[_Interface]] = field(default_factory=list)  # [intf][alt]


def parse_configuration(raw: bytes) -> _Configuration:
    """Split a configuration descriptor bundle into its interfaces and endpoints.

    Class-specific descriptors (HID 0x21, CCID 0x21, ...) become the `extra_descriptors` of
    the interface (or endpoint) they follow, as libusb does. ValueError on a malformed bundle.
    """
    if len(raw) < MINIMUM_LENGTHS[DT_CONFIGURATION] or raw[1] != DT_CONFIGURATION:
        raise ValueError("not a configuration descriptor")
    config = _Configuration(_unpack(*CONFIG_FIELDS, raw), bytes(raw))
    offset = raw[0]
    interface: _Interface | None = None
    while offset < len(raw):
        length, kind = raw[offset], raw[offset + 1] if offset + 1 < len(raw) else 0
        if length < 2 or offset + length > len(raw):
            raise ValueError(f"descriptor at offset {offset} overruns the bundle")
        chunk = raw[offset : offset + length]
        if kind in MINIMUM_LENGTHS and length < MINIMUM_LENGTHS[kind]:
            raise ValueError(f"descriptor type {kind} at offset {offset} is too short ({length})")
        if kind == DT_INTERFACE:
            interface = _Interface(_unpack(*INTERFACE_FIELDS, chunk))
            number = interface.fields["bInterfaceNumber"]
            alternates = next(
                (a for a in config.interfaces if a[0].fields["bInterfaceNumber"] == number), None
            )
            if alternates is None:
                config.interfaces.append([interface])
            else:
                alternates.append(interface)
        elif kind == DT_ENDPOINT and interface is not None:
            endpoint = _unpack(*ENDPOINT_FIELDS, chunk)
            endpoint.update(bRefresh=0, bSynchAddress=0, extra_descriptors=[])
            interface.endpoints.append(endpoint)
        elif interface is not None:
            interface.extra += chunk
        else:
            config.extra += chunk
        offset += length
    return config


@dataclass
class Recording:
    """One recorded USB device."""

    device: dict[str, Any]
    configurations: list[_Configuration]
    strings: dict[int, str]
    report_descriptors: dict[int, bytes]
    bus: int
    address: int
    port_numbers: tuple[int, ...]
    speed: int
    origin: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        try:
            data = json.loads(Path(path).read_text())
            return cls(
                device=_unpack(*DEVICE_FIELDS, bytes.fromhex(data["device_descriptor"])),
                configurations=[
                    parse_configuration(bytes.fromhex(c)) for c in data["configuration_descriptors"]
                ],
                strings={int(k): str(v) for k, v in data.get("strings", {}).items()},
                report_descriptors={
                    int(k): bytes.fromhex(v)
                    for k, v in data.get("hid_report_descriptors", {}).items()
                },
                bus=int(data.get("bus", 1)),
                address=int(data.get("address", 1)),
                port_numbers=tuple(data.get("port_numbers", ())),
                speed=int(data.get("speed", 0)),
                origin=str(data.get("origin", "")),
            )
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            raise UserError(f"bad USB recording {path}: {exc}") from None


class ReplayBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb is untyped: Any
    """pyusb backend over recorded descriptors (read-only: no data transfers)."""

    def __init__(self, recordings: Iterable[Recording]) -> None:
        super().__init__()
        self.recordings = list(recordings)

    def enumerate_devices(self) -> Iterator[Recording]:
        return iter(self.recordings)

    def get_parent(self, dev: Recording) -> None:
        return None

    def get_device_descriptor(self, dev: Recording) -> _Fields:
        ports = dev.port_numbers
        return _Fields(
            **dev.device,
            bus=dev.bus,
            address=dev.address,
            port_number=ports[-1] if ports else None,
            port_numbers=ports or None,
            speed=dev.speed,
        )

    def get_configuration_descriptor(self, dev: Recording, config: int) -> _Fields:
        configuration = dev.configurations[config]
        return _Fields(**configuration.fields, extra_descriptors=list(configuration.extra))

    def get_interface_descriptor(self, dev: Recording, intf: int, alt: int, config: int) -> _Fields:
        interface = dev.configurations[config].interfaces[intf][alt]
        return _Fields(**interface.fields, extra_descriptors=list(interface.extra))

    def get_endpoint_descriptor(
        self, dev: Recording, ep: int, intf: int, alt: int, config: int
    ) -> _Fields:
        interface = dev.configurations[config].interfaces[intf][alt]
        return _Fields(**interface.endpoints[ep])

    def open_device(self, dev: Recording) -> Recording:
        return dev

    def close_device(self, dev_handle: Recording) -> None:
        return None

    def get_configuration(self, dev_handle: Recording) -> int:
        return int(dev_handle.configurations[0].fields["bConfigurationValue"])

    def set_configuration(self, dev_handle: Recording, config_value: int) -> None:
        return None

    def claim_interface(self, dev_handle: Recording, intf: int) -> None:
        return None

    def release_interface(self, dev_handle: Recording, intf: int) -> None:
        return None

    def is_kernel_driver_active(self, dev_handle: Recording, intf: int) -> bool:
        return False

    def ctrl_transfer(
        self,
        dev_handle: Recording,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        answer = self._answer(dev_handle, bmRequestType, bRequest, wValue, wIndex)
        if answer is None:
            raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, LIBUSB_ERROR_PIPE)
        size = min(len(answer), len(data))
        data[:size] = array.array("B", answer[:size])
        return size

    @staticmethod
    def _answer(
        dev: Recording, request_type: int, request: int, value: int, index: int
    ) -> bytes | None:
        if request != REQ_GET_DESCRIPTOR:
            return None
        kind, number = value >> 8, value & 0xFF
        if request_type == 0x80 and kind == DT_STRING:
            if number == 0:
                return struct.pack("<BBH", 4, DT_STRING, ENGLISH_US)
            text = dev.strings.get(number)
            if text is None:
                return None
            encoded = text.encode("utf-16-le")
            return bytes((2 + len(encoded), DT_STRING)) + encoded
        if request_type == 0x80 and kind == DT_DEVICE:
            return struct.pack(DEVICE_FIELDS[0], *dev.device.values())
        if request_type == 0x80 and kind == DT_CONFIGURATION and number < len(dev.configurations):
            return dev.configurations[number].raw
        if request_type == 0x81 and kind == DT_HID_REPORT:
            return dev.report_descriptors.get(index)
        return None


def replay_from_env() -> ReplayBackend:
    """Factory for TOKENBENCH_PYUSB_BACKEND: recordings named in TOKENBENCH_USB_RECORDINGS."""
    paths = [p for p in os.environ.get(RECORDINGS_ENV, "").split(os.pathsep) if p]
    return ReplayBackend(Recording.load(p) for p in paths)
