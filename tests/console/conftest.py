"""Fixtures for the console tests: a service on SQLite with a movable clock, the console mounted
at /console as `tokenbench serve` mounts it, and a signed-up user."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from console_helpers import ConsoleUser, add_user, make_service, mounted  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from tokenbench.verifier.service import Service  # noqa: E402


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    opened = make_service(tmp_path)
    add_user(opened)
    yield opened
    opened.close()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(mounted(service)) as opened:
        yield opened


@pytest.fixture
def user(client: TestClient) -> ConsoleUser:
    return ConsoleUser(client)
