"""Raw report access for the ctaphid suite, and bench-side framing faults.

`polling_reader` / `select_reader` give a read-with-timeout over any CtapHidConnection, so
a raw test never blocks forever. `WireFaultConnection` breaks an emulated key's CTAPHID
framing on its way to the host: stand-ins for transport faults the emulator does not offer,
so that every ctaphid test is shown to fail against a broken device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

RAW_POLL_SECONDS = 0.02


def polling_reader(connection: Any) -> Callable[[float], bytes | None]:
    """read(timeout) over a connection whose read_packet() raises TimeoutError when idle."""

    def read(timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return bytes(connection.read_packet())
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return None

    return read


def select_reader(connection: Any) -> Callable[[float], bytes | None]:
    """read(timeout) over a hidraw file handle, using select() so nothing blocks forever."""
    import select

    def read(timeout: float) -> bytes | None:
        ready, _, _ = select.select([connection.handle], [], [], timeout)
        return bytes(connection.read_packet()) if ready else None

    return read


WIRE_FAULTS = ("bad-length", "no-errors", "fixed-cid", "u2f-status", "no-keepalive")
CTAPHID_MSG_INIT = 0x80 | 0x03
CTAPHID_KEEPALIVE_INIT = 0x80 | 0x3B
SW_OK = b"\x90\x00"
SW_BROKEN = b"\x6f\x00"
FIXED_CID = b"\x00\x00\x00\x01"
INIT_CID_FIELD = slice(15, 19)  # report offset of the new channel id in an INIT answer
CTAPHID_ERROR_INIT = 0x80 | 0x3F


class WireFaultConnection:
    """Breaks the device's CTAPHID framing on the way to the host (bench-side fault).

    Stand-ins for transport faults the emulator does not offer (yet), so that every ctaphid
    test is shown to fail against a broken device: `bad-length` announces one byte more than
    every message holds; `no-errors` swallows every CTAPHID_ERROR answer; `fixed-cid` makes
    every broadcast INIT answer allocate the same channel id; `u2f-status` swaps the status
    word of short U2F answers (success <-> error); `no-keepalive` swallows keepalives.
    """

    def __init__(self, connection: Any, fault: str) -> None:
        self._connection = connection
        self._fault = fault

    def write_packet(self, data: bytes) -> None:
        self._connection.write_packet(data)

    def read_packet(self) -> bytes:
        while True:
            report = bytes(self._connection.read_packet())
            kind = report[4]
            if self._fault == "no-errors" and kind == CTAPHID_ERROR_INIT:
                continue
            if self._fault == "no-keepalive" and kind == CTAPHID_KEEPALIVE_INIT:
                continue
            if self._fault == "u2f-status" and kind == CTAPHID_MSG_INIT:
                report = _swap_status_word(report)
            if self._fault == "fixed-cid" and report[:5] == b"\xff\xff\xff\xff\x86":
                report = report[: INIT_CID_FIELD.start] + FIXED_CID + report[INIT_CID_FIELD.stop :]
            if self._fault == "bad-length" and kind & 0x80:
                length = int.from_bytes(report[5:7], "big") + 1
                report = report[:5] + length.to_bytes(2, "big") + report[7:]
            return report

    def close(self) -> None:
        self._connection.close()


def _swap_status_word(report: bytes) -> bytes:
    """A U2F answer that fits one report gets 9000 <-> 6F00 (errors become successes)."""
    length = int.from_bytes(report[5:7], "big")
    if not 2 <= length <= len(report) - 7:
        return report
    end = 7 + length
    status = report[end - 2 : end]
    swapped = SW_BROKEN if status == SW_OK else SW_OK
    return report[: end - 2] + swapped + report[end:]
