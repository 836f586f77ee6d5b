"""The emulated key as a USB device served over USB/IP.

`usbip attach -r HOST -b BUSID` on any Linux with vhci-hcd (or usbip-win on Windows) then
makes it a real USB HID key. The USB side (device, configuration, string and HID
descriptors, EP0 requests, URB queueing and UNLINK) comes from the `usbip` package, which
we evaluated and adopted rather than rewrote; this module only describes a FIDO key to it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import usbip
from usbip.classes.device.hid import HID

from tokenbench.emulators.transport.fido_hid import (
    EMULATOR_PRODUCT_ID,
    EMULATOR_VENDOR_ID,
    FIDO_REPORT_DESCRIPTOR,
    MANUFACTURER,
    REPORT_SIZE,
    HidKey,
    strip_report_id,
)

USBIP_PORT = 3240  # IANA-registered usbip port
DEFAULT_BUSID = "1-1"
POLL_INTERVAL_MS = 5  # bInterval of both interrupt endpoints (full speed: milliseconds)


@dataclass
class UsbipServer:
    device: usbip.USBDevice
    transport: usbip.USBIP
    host: str
    port: int
    busid: str

    def close(self) -> None:
        self.device.unplug()
        self.transport.stop()

    def __enter__(self) -> UsbipServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ensure_loopback(host: str, allow_remote: bool) -> None:
    """Refuse to expose a key beyond this machine unless the person asked for it."""
    if allow_remote:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"{host} is not a loopback address (pass --allow-remote to expose the key)"
        )


def fido_usb_device(key: HidKey, serial: str = "0001") -> tuple[usbip.USBDevice, HID]:
    """A full-speed USB device with one FIDO HID interface wired to `key`."""
    device = usbip.USBDevice(
        EMULATOR_VENDOR_ID,
        EMULATOR_PRODUCT_ID,
        manufacturer=MANUFACTURER,
        product=getattr(getattr(key, "profile", None), "model", "tokenbench FIDO key"),
        serial=serial,
    )
    interface = HID(
        FIDO_REPORT_DESCRIPTOR,
        in_ep=0x81,
        in_mps=REPORT_SIZE,
        in_interval=POLL_INTERVAL_MS,
        out_ep=0x01,
        out_mps=REPORT_SIZE,
        out_interval=POLL_INTERVAL_MS,
        on_output=lambda data: key.receive(strip_report_id(bytes(data))),
    )
    device.add(interface)
    key.add_sink(interface.send_report)
    return device, interface


def serve_usbip(
    key: HidKey,
    host: str = "127.0.0.1",
    port: int = USBIP_PORT,
    *,
    busid: str = DEFAULT_BUSID,
    allow_remote: bool = False,
) -> UsbipServer:
    """Export `key` on HOST:PORT as BUSID; returns once the listener is up."""
    ensure_loopback(host, allow_remote)
    device, _ = fido_usb_device(key)
    device.set_busid(busid)
    transport = usbip.USBIP(host, port)
    device.plug(via=transport)
    return UsbipServer(device, transport, host, port, busid)
