"""The scenario targets. Against moto: `moto.mock_aws()` in process, any clock.

A target for `tokenbench serve` gives the same three things (admin clients, `client_for`, and
the service's own clock); see aws_scenarios.AwsTarget.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tokenbench.emulators.clock import FakeClock

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from moto_target import MotoTarget  # noqa: E402
from served import Served, ServedTarget, served  # noqa: E402

START = 1_800_000_000.0  # 2027-01-15, a multiple of 30 s


@pytest.fixture
def moto_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoTarget]:
    # No file or variable of the machine's own AWS setup may leak in.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with mock_aws():
        yield MotoTarget(FakeClock(START))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `tokenbench serve --clock fake` per test module (a fresh SQLite store)."""
    with served(tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture
def target(server: Served) -> ServedTarget:
    return ServedTarget(server)
