"""What makes a HID device a FIDO security key to an operating system.

Browsers, libfido2 and udev recognise a key by the FIDO usage page (0xF1D0) in its report
descriptor: 64-byte input and output reports without report IDs (CTAP 2.1, 11.2.8.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

REPORT_SIZE = 64

# Usage page 0xF1D0 (FIDO), usage 0x01 (CTAPHID); input usage 0x20, output usage 0x21.
FIDO_REPORT_DESCRIPTOR = bytes.fromhex(
    "06 D0 F1 09 01 A1 01 09 20 15 00 26 FF 00 75 08 95 40 81 02"
    " 09 21 15 00 26 FF 00 75 08 95 40 91 02 C0"
)

# pid.codes test VID/PID shared by every emulated transport, so udev rules match them all.
EMULATOR_VENDOR_ID = 0x1209
EMULATOR_PRODUCT_ID = 0x7B01
MANUFACTURER = "tokenbench"


class HidKey(Protocol):
    """A key as a HID transport drives it (`EmulatedKey` is one): reports in, reports out."""

    def receive(self, report: bytes) -> None: ...
    def add_sink(self, sink: Callable[[bytes], None]) -> None: ...


def strip_report_id(data: bytes) -> bytes:
    """Host output with the leading report-ID byte 0 that unnumbered reports carry on some paths."""
    if len(data) == REPORT_SIZE + 1 and data[0] == 0:
        return data[1:]
    return data
