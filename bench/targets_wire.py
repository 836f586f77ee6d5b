"""Raw report access for the ctaphid suite.

`polling_reader` / `select_reader` give a read-with-timeout over any CtapHidConnection, so
a raw test never blocks forever. Broken framing comes from the emulator's own transport
faults (`emu:fault=bad-length`, ...; emulators/ctap/faults.py), never from the bench.
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
