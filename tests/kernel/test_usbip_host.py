"""USB/IP without a kernel: the `usbip` package's host side imports the exported key.

A fast check of the USB side (descriptors, interrupt endpoints) on every run; the kernel's
own vhci-hcd client is exercised in test_kernel_guest.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import usbip
from fido2.ctap2 import Ctap2
from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.fido_hid import (
    EMULATOR_PRODUCT_ID,
    EMULATOR_VENDOR_ID,
    FIDO_REPORT_DESCRIPTOR,
    REPORT_SIZE,
)
from tokenbench.emulators.transport.usbip import ensure_loopback, serve_usbip

GET_DESCRIPTOR = 0x06
DEVICE_TO_HOST_STANDARD_DEVICE = 0x80
DEVICE_TO_HOST_STANDARD_INTERFACE = 0x81
DESCRIPTOR_DEVICE = 0x0100
DESCRIPTOR_CONFIGURATION = 0x0200
DESCRIPTOR_HID_REPORT = 0x2200
CLI = (sys.executable, "-m", "tokenbench.bench.cli")
USBIP_DESCRIPTOR = HidDescriptor(
    "usbip:1-1", EMULATOR_VENDOR_ID, EMULATOR_PRODUCT_ID, 64, 64, "tokenbench", "0001"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def split_descriptors(blob: bytes) -> list[bytes]:
    """A configuration descriptor set, one descriptor per item (bLength-prefixed)."""
    items, offset = [], 0
    while offset < len(blob):
        length = blob[offset]
        assert length >= 2, "malformed descriptor"
        items.append(blob[offset : offset + length])
        offset += length
    return items


class UsbipConnection(CtapHidConnection):
    """CTAPHID reports over the imported device's interrupt endpoints."""

    def __init__(self, handle: usbip.Handle) -> None:
        self.handle = handle

    def write_packet(self, data: bytes) -> None:
        self.handle.interrupt_out(0x01, data)

    def read_packet(self) -> bytes:
        return bytes(self.handle.interrupt_in(0x81, REPORT_SIZE))

    def close(self) -> None:
        self.handle.close()


@pytest.fixture
def imported() -> Iterator[usbip.Handle]:
    key = EmulatedKey.create(seed=3)
    port = free_port()
    server = serve_usbip(key, "127.0.0.1", port)
    handle = usbip.open(busid=server.busid, transport=usbip.USBIP("127.0.0.1", port))
    try:
        yield handle
    finally:
        handle.close()
        server.close()
        key.close()


def test_descriptors_make_a_fido_hid_device(imported: usbip.Handle) -> None:
    device = imported.control(
        DEVICE_TO_HOST_STANDARD_DEVICE, GET_DESCRIPTOR, DESCRIPTOR_DEVICE, 0, 18
    )
    assert int.from_bytes(device[8:10], "little") == EMULATOR_VENDOR_ID
    assert int.from_bytes(device[10:12], "little") == EMULATOR_PRODUCT_ID
    config = imported.control(
        DEVICE_TO_HOST_STANDARD_DEVICE, GET_DESCRIPTOR, DESCRIPTOR_CONFIGURATION, 0, 255
    )
    descriptors = split_descriptors(bytes(config))
    interfaces = [d for d in descriptors if d[1] == 0x04]
    assert [d[5] for d in interfaces] == [0x03]  # one interface, bInterfaceClass HID
    endpoints = {(d[2], d[3]) for d in descriptors if d[1] == 0x05}
    assert endpoints == {(0x81, 0x03), (0x01, 0x03)}  # interrupt IN and OUT
    report = imported.control(
        DEVICE_TO_HOST_STANDARD_INTERFACE,
        GET_DESCRIPTOR,
        DESCRIPTOR_HID_REPORT,
        0,
        len(FIDO_REPORT_DESCRIPTOR),
    )
    assert bytes(report) == FIDO_REPORT_DESCRIPTOR


def test_python_fido2_over_usbip(imported: usbip.Handle) -> None:
    device = CtapHidDevice(USBIP_DESCRIPTOR, UsbipConnection(imported))
    info = Ctap2(device).get_info()
    assert "FIDO_2_1" in info.versions
    assert device.ping(b"usbip" * 40) == b"usbip" * 40


def test_refuses_a_non_loopback_bind_unless_asked() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        ensure_loopback("0.0.0.0", allow_remote=False)
    ensure_loopback("0.0.0.0", allow_remote=True)
    ensure_loopback("::1", allow_remote=False)


def test_key_emulate_usbip_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "key.json"
    process = subprocess.Popen(
        [*CLI, "key", "emulate", "--usbip", f"127.0.0.1:{port}", "--state", str(state)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stderr.readline()
        assert f"usbip 127.0.0.1:{port} bus id 1-1" in banner
        handle = usbip.open(busid="1-1", transport=usbip.USBIP("127.0.0.1", port))
        device = CtapHidDevice(USBIP_DESCRIPTOR, UsbipConnection(handle))
        assert Ctap2(device).get_info().aaguid
        handle.close()
    finally:
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=20)[1]
    assert process.returncode == 0, rest
    assert "stopped" in rest
    assert state.exists()


def test_key_emulate_uhid_without_dev_uhid_is_one_line() -> None:
    if Path("/dev/uhid").exists():
        pytest.fail("this host has /dev/uhid; the guest test covers the real device path")
    run = subprocess.run(
        [*CLI, "key", "emulate", "--uhid"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "/dev/uhid" in run.stderr
