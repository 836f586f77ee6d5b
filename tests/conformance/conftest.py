"""Fixtures shared by the harnesses that run python-fido2's device suite (see fido2_suite.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance.fido2_suite import Allowance, fetch_sdist, read_allowances, unpack_sdist


@pytest.fixture(scope="session")
def device_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh unpacked copy of the verified sdist (downloaded once into build/)."""
    try:
        sdist = fetch_sdist()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"python-fido2's device suite is unavailable: {exc}")
    return unpack_sdist(sdist, tmp_path_factory.mktemp("fido2-sdist"))


@pytest.fixture(scope="session")
def allowances() -> list[Allowance]:
    """The rows of docs/conformance.md's table of allowed skips and expected failures."""
    return read_allowances()
