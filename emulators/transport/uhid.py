"""The emulated key as a kernel HID device through Linux's /dev/uhid.

The kernel then creates a /dev/hidrawN node with the FIDO report descriptor, which browsers,
libfido2 and python-fido2's Linux backend open like any USB key. Layout of the events:
linux/uhid.h (struct uhid_event is packed: a u32 type, then the largest request).
"""

from __future__ import annotations

import errno
import os
import select
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from tokenbench.emulators.transport.fido_hid import (
    EMULATOR_PRODUCT_ID,
    EMULATOR_VENDOR_ID,
    FIDO_REPORT_DESCRIPTOR,
    REPORT_SIZE,
    HidKey,
    strip_report_id,
)

UHID_PATH = "/dev/uhid"

# enum uhid_event_type
UHID_DESTROY = 1
UHID_START = 2
UHID_STOP = 3
UHID_OPEN = 4
UHID_CLOSE = 5
UHID_OUTPUT = 6
UHID_GET_REPORT = 9
UHID_GET_REPORT_REPLY = 10
UHID_CREATE2 = 11
UHID_INPUT2 = 12
UHID_SET_REPORT = 13
UHID_SET_REPORT_REPLY = 14

UHID_DATA_MAX = 4096
HID_MAX_DESCRIPTOR_SIZE = 4096
BUS_USB = 0x03
# struct uhid_create2_req: name[128] phys[64] uniq[64] rd_size u16 bus u16 vendor u32
# product u32 version u32 country u32 rd_data[4096]
CREATE2 = struct.Struct(f"<I128s64s64sHHIIII{HID_MAX_DESCRIPTOR_SIZE}s")
EVENT_SIZE = CREATE2.size  # the union's largest member decides sizeof(struct uhid_event)
OUTPUT_SIZE_AT = 4 + UHID_DATA_MAX  # struct uhid_output_req: data[4096] size u16 rtype u8
REQUEST_ID = struct.Struct("<I")  # get/set report requests start with a u32 id


class UhidUnavailable(OSError):
    """There is no /dev/uhid here (not Linux, module not loaded, or no permission)."""


class UhidDevice:
    """One uhid node bound to a report sink/source pair (an `EmulatedKey`)."""

    def __init__(
        self,
        deliver: Callable[[bytes], None],
        *,
        name: str = "tokenbench emulated FIDO key",
        uniq: str = "",
        path: str = UHID_PATH,
    ) -> None:
        self._deliver = deliver
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise UhidUnavailable(exc.errno, f"cannot open {path}: {exc.strerror}") from None
        self._write_lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.opened = threading.Event()
        self._write(
            CREATE2.pack(
                UHID_CREATE2,
                name.encode()[:127],
                b"tokenbench/uhid",
                uniq.encode()[:63],
                len(FIDO_REPORT_DESCRIPTOR),
                BUS_USB,
                EMULATOR_VENDOR_ID,
                EMULATOR_PRODUCT_ID,
                0x0100,
                0,
                FIDO_REPORT_DESCRIPTOR,
            )
        )

    def start(self) -> UhidDevice:
        self._thread = threading.Thread(target=self._read_loop, name="uhid", daemon=True)
        self._thread.start()
        return self

    def send(self, report: bytes) -> None:
        """An input report from the key to the host (the key's report sink)."""
        event = struct.pack(f"<IH{UHID_DATA_MAX}s", UHID_INPUT2, len(report), report)
        self._write(event.ljust(EVENT_SIZE, b"\0"))

    def hidraw_nodes(self) -> list[Path]:
        """The /dev/hidrawN nodes the kernel made for this device (found through sysfs)."""
        nodes = []
        pattern = f"*:{EMULATOR_VENDOR_ID:04X}:{EMULATOR_PRODUCT_ID:04X}.*"
        for device in Path("/sys/bus/hid/devices").glob(pattern):
            nodes += [Path("/dev") / p.name for p in (device / "hidraw").glob("hidraw*")]
        return nodes

    def close(self) -> None:
        if self._fd < 0:
            return
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self._write(struct.pack("<I", UHID_DESTROY).ljust(EVENT_SIZE, b"\0"))
        finally:
            os.close(self._fd)
            os.close(self._stop_r)
            os.close(self._stop_w)
            self._fd = -1

    def __enter__(self) -> UhidDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, event: bytes) -> None:
        with self._write_lock:
            os.write(self._fd, event.ljust(EVENT_SIZE, b"\0"))

    def _read_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                event = os.read(self._fd, EVENT_SIZE)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                return
            self._handle(event)

    def _handle(self, event: bytes) -> None:
        (kind,) = struct.unpack_from("<I", event)
        if kind == UHID_OUTPUT:
            (size,) = struct.unpack_from("<H", event, OUTPUT_SIZE_AT)
            report = strip_report_id(event[4 : 4 + size])
            if len(report) == REPORT_SIZE:
                self._deliver(report)
        elif kind == UHID_OPEN:
            self.opened.set()
        elif kind in (UHID_GET_REPORT, UHID_SET_REPORT):
            # FIDO keys have no feature reports: refuse, so the requester does not hang.
            (request_id,) = REQUEST_ID.unpack_from(event, 4)
            reply = UHID_GET_REPORT_REPLY if kind == UHID_GET_REPORT else UHID_SET_REPORT_REPLY
            self._write(struct.pack("<IIH", reply, request_id, errno.EIO))


def attach_uhid(key: HidKey, **kwargs: str) -> UhidDevice:
    """Expose an `EmulatedKey` through /dev/uhid; returns the running device."""
    device = UhidDevice(key.receive, **kwargs)
    key.add_sink(device.send)
    return device.start()
