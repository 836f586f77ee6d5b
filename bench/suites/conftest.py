"""Fixtures shared by the CTAP suites (the target plumbing lives in `tokenbench.bench.plugin`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fido2.ctap2 import Ctap2

from tokenbench.bench.suites._ctap import ctap2_of


def _reset(ctap_device: Any, power_cycle: Callable[[], Any]) -> Ctap2:
    """authenticatorReset is allowed only within 10 s of power-up: re-plug first."""
    power_cycle()
    ctap2 = ctap2_of(ctap_device)
    ctap2.reset()
    return Ctap2(ctap_device)


@pytest.fixture
def fresh_ctap2(ctap_device: Any, power_cycle: Callable[[], Any]) -> Iterator[Ctap2]:
    """A key reset to factory state (no PIN, no credentials); reset again afterwards.

    Only destructive tests use it: the plugin refuses them without --allow-destructive and,
    on a real key, without the person's confirmation.
    """
    yield _reset(ctap_device, power_cycle)
    _reset(ctap_device, power_cycle)


@pytest.fixture
def let_time_pass(key_target: Any) -> Callable[[float], None]:
    """Let seconds pass on the key (emulated: its clock moves; real: the bench waits)."""
    let_time_pass: Callable[[float], None] = key_target.let_time_pass
    return let_time_pass
