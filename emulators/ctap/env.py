"""Everything the authenticator core takes from the outside world, in one place.

Randomness, time, user presence, persistent storage, the vendor's attestation keys and the
active faults come in through an `Env`, so tests can make every run reproducible.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tokenbench.emulators.clock import Clock, FakeClock, SystemClock
from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.presence import AutoApprove, PresencePolicy
from tokenbench.emulators.ctap.state import FileStore, MemoryStore, StateStore

TEST_EPOCH = 1_700_000_000.0


class SeededRandom:
    """A reproducible byte stream: SHA-256 in counter mode over the seed (tests only)."""

    def __init__(self, seed: int | bytes) -> None:
        self._seed = seed if isinstance(seed, bytes) else seed.to_bytes(16, "big", signed=True)
        self._counter = 0
        self._buffer = b""
        self._lock = threading.Lock()

    def __call__(self, n: int) -> bytes:
        with self._lock:
            while len(self._buffer) < n:
                block = self._counter.to_bytes(8, "big")
                self._buffer += hashlib.sha256(b"tokenbench-rng" + self._seed + block).digest()
                self._counter += 1
            out, self._buffer = self._buffer[:n], self._buffer[n:]
            return out


@dataclass
class Env:
    rng: Callable[[int], bytes]
    clock: Clock
    presence: PresencePolicy
    store: StateStore
    attestation: VendorAuthority
    faults: FaultSet = field(default_factory=FaultSet)

    @classmethod
    def seeded(cls, seed: int = 0, **overrides: Any) -> Env:
        """Like for_tests, but named for reproducible runs outside the test suite."""
        return cls.for_tests(seed, **overrides)

    @classmethod
    def for_tests(cls, seed: int = 0, **overrides: Any) -> Env:
        """Seeded RNG, FakeClock, a key that is always touched, state in memory."""
        values: dict[str, Any] = {
            "rng": SeededRandom(seed),
            "clock": FakeClock(TEST_EPOCH),
            "presence": AutoApprove(),
            "store": MemoryStore(),
            "faults": FaultSet(),
        }
        values.update(overrides)
        if "attestation" not in values:
            values["attestation"] = VendorAuthority.default()
        return cls(**values)

    @classmethod
    def system(
        cls,
        state_path: str | Path | None = None,
        presence: PresencePolicy | None = None,
        faults: FaultSet | None = None,
    ) -> Env:
        """The real thing: OS randomness, wall clock, optional state file."""
        return cls(
            rng=os.urandom,
            clock=SystemClock(),
            presence=presence if presence is not None else AutoApprove(),
            store=FileStore(state_path) if state_path is not None else MemoryStore(),
            attestation=VendorAuthority.default(),
            faults=faults if faults is not None else FaultSet(),
        )

    def with_(self, **changes: Any) -> Env:
        return replace(self, **changes)
