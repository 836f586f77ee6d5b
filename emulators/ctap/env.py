"""Everything the authenticator core takes from the outside world, in one place.

Randomness, time, user presence, persistent storage, the vendor's attestation keys and the
active faults come in through an `Env`, so tests can make every run reproducible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tokenbench.emulators.clock import Clock, FakeClock, SystemClock
from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.misbehaviour import CoreFaults
from tokenbench.emulators.ctap.presence import AutoApprove, PresencePolicy
from tokenbench.emulators.ctap.randomness import Rng, SeededRandom
from tokenbench.emulators.ctap.state import FileStore, MemoryStore, StateStore

TEST_EPOCH = 1_700_000_000.0


@dataclass
class Env:
    rng: Rng
    clock: Clock
    presence: PresencePolicy
    store: StateStore
    attestation: VendorAuthority
    faults: FaultSet = field(default_factory=FaultSet)
    core_faults: CoreFaults = field(init=False, repr=False)
    """The strategies the core runs with, chosen once from `faults`."""

    def __post_init__(self) -> None:
        self.core_faults = CoreFaults.select(self.faults)

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
