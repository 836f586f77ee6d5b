"""Injected time.

Every time-dependent component takes a `Clock`, so tests can fix, step or skew time.
`SystemClock` is the only place in the project that reads the wall clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

PPM = 1_000_000


@runtime_checkable
class Clock(Protocol):
    """Seconds since the Unix epoch, as a float."""

    def now(self) -> float: ...


class SystemClock:
    """The host's wall clock."""

    def now(self) -> float:
        return time.time()


class MonotonicClock:
    """A clock for measuring intervals (timeouts); never jumps with wall-clock changes."""

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; thread-safe so transports can share it."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class DriftingClock:
    """A crystal oscillator that gains `ppm` parts per million against a base clock.

    At base time `epoch` the clock reads `epoch + offset`; from then on every true second
    lasts `1 + ppm/1e6` seconds on this clock. A hardware token set at the factory at
    `epoch` and running +20 ppm is about 631 s ahead after a year.
    """

    def __init__(
        self,
        base: Clock,
        ppm: float = 0.0,
        offset: float = 0.0,
        epoch: float | None = None,
    ) -> None:
        self.base = base
        self.ppm = float(ppm)
        self.offset = float(offset)
        self.epoch = base.now() if epoch is None else float(epoch)

    def now(self) -> float:
        elapsed = self.base.now() - self.epoch
        return self.epoch + self.offset + elapsed * (1.0 + self.ppm / PPM)

    def error_at(self, when: float) -> float:
        """How far this clock is ahead of the base clock at base time `when`."""
        return self.offset + (when - self.epoch) * self.ppm / PPM
