"""The emulated key inside the test process, reached through python-fido2's own HID client.

`InProcessHid` plays the part of the kernel's hidraw node: every open `InProcessConnection`
sees every input report the device sends (as with hidraw), and writes go to the CTAPHID
endpoint. A `fido2.hid.CtapHidDevice` built on such a connection drives the emulator with
exactly the code path it uses for a real key, down to the 64-byte reports.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

from tokenbench.emulators.transport.ctaphid import REPORT_SIZE
from tokenbench.emulators.transport.fido_hid import EMULATOR_PRODUCT_ID, EMULATOR_VENDOR_ID

DEFAULT_READ_TIMEOUT = 5.0  # silence longer than this (keepalives come every 100 ms) = lost


class DeviceDisconnected(OSError):
    """The emulated key was unplugged or power-cycled; open it again as after a re-plug."""


class InProcessConnection(CtapHidConnection):
    """One open handle on an `InProcessHid` device (one `CtapHidDevice`)."""

    def __init__(self, hid: InProcessHid, read_timeout: float | None) -> None:
        self._hid = hid
        self._inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._read_timeout = read_timeout
        self._closed = False

    def write_packet(self, data: bytes) -> None:
        if self._closed:
            raise DeviceDisconnected("emulated key handle is closed")
        # python-fido2 writes exactly one report; hidraw would reject any other size.
        self._hid.write(bytes(data))

    def read_packet(self) -> bytes:
        report = self.read_report(self._read_timeout)
        if report is None:
            raise TimeoutError(f"no report from the emulated key within {self._read_timeout} s")
        return report

    def read_report(self, timeout: float | None) -> bytes | None:
        """The next input report, or None after `timeout` seconds (None = wait forever).

        For clients with their own timeout per read (libfido2's `read(handle, buf, len, ms)`).
        """
        if self._closed:
            raise DeviceDisconnected("emulated key handle is closed")
        try:
            report = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if report is None:
            self._closed = True
            raise DeviceDisconnected("emulated key was unplugged")
        return report

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hid.detach(self)

    def deliver(self, report: bytes) -> None:
        self._inbox.put(report)

    def disconnect(self) -> None:
        self._inbox.put(None)


class InProcessHid:
    """The emulated HID node: fans device reports out to every open connection.

    `write` is set once the CTAPHID endpoint exists (the endpoint needs `send`, and this
    object needs the endpoint's `receive`).
    """

    def __init__(self, name: str = "emu", product_name: str = "tokenbench emulated key") -> None:
        self.name = name  # also the descriptor's path (typed `str | bytes` there)
        self.descriptor = HidDescriptor(
            path=name,
            vid=EMULATOR_VENDOR_ID,
            pid=EMULATOR_PRODUCT_ID,
            report_size_in=REPORT_SIZE,
            report_size_out=REPORT_SIZE,
            product_name=product_name,
            serial_number=None,
        )
        self._connections: list[InProcessConnection] = []
        self._lock = threading.Lock()
        self.write: Callable[[bytes], None] = self._unattached

    @staticmethod
    def _unattached(report: bytes) -> None:
        raise DeviceDisconnected("emulated key has no endpoint")

    def send(self, report: bytes) -> None:
        """Device -> host: one input report to every open handle."""
        for connection in self._connections:  # list is replaced, never mutated in place
            connection.deliver(report)

    def connect(self, read_timeout: float | None = DEFAULT_READ_TIMEOUT) -> InProcessConnection:
        connection = InProcessConnection(self, read_timeout)
        with self._lock:
            self._connections = [*self._connections, connection]
        return connection

    def detach(self, connection: InProcessConnection) -> None:
        with self._lock:
            self._connections = [c for c in self._connections if c is not connection]

    def unplug(self) -> None:
        """Every open handle fails from now on, as when a USB key is pulled."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.disconnect()


class HasHid(Protocol):
    hid: InProcessHid


def open_device(
    target: InProcessHid | HasHid, read_timeout: float | None = DEFAULT_READ_TIMEOUT
) -> CtapHidDevice:
    """A python-fido2 `CtapHidDevice` on a fresh handle (runs CTAPHID_INIT like a real open).

    `target` is the HID node or anything that has one as `.hid` (an `EmulatedKey`).
    """
    hid = target if isinstance(target, InProcessHid) else target.hid
    connection = hid.connect(read_timeout)
    try:
        return CtapHidDevice(hid.descriptor, connection)
    except BaseException:
        connection.close()
        raise
