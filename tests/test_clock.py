"""Clocks: the drift arithmetic that every hardware-token test relies on."""

import pytest

from tokenbench.emulators.clock import Clock, DriftingClock, FakeClock, SystemClock

YEAR = 365 * 24 * 3600


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(100.0)
    assert clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.set(7)
    assert clock.now() == 7.0


def test_drifting_clock_gains_ppm_over_a_year() -> None:
    base = FakeClock(1_700_000_000)
    crystal = DriftingClock(base, ppm=20)
    base.advance(YEAR)
    assert crystal.now() - base.now() == pytest.approx(630.72, abs=1e-3)
    assert crystal.error_at(base.now()) == pytest.approx(630.72, abs=1e-3)


def test_drifting_clock_slow_with_offset() -> None:
    base = FakeClock(0)
    crystal = DriftingClock(base, ppm=-50, offset=3.0)
    assert crystal.now() == 3.0
    base.advance(1_000_000)
    assert crystal.now() == pytest.approx(1_000_000 + 3.0 - 50.0)


def test_all_clocks_satisfy_the_protocol() -> None:
    for clock in (SystemClock(), FakeClock(), DriftingClock(FakeClock())):
        assert isinstance(clock, Clock)
