"""Fixtures for the verifier's tests: a fake clock, stores on SQLite and PostgreSQL, a service.

PostgreSQL comes from $TOKENBENCH_PG_URL (set by scripts/with-services.sh, which `make test`
uses). Without it the PostgreSQL cases fail with a message saying how to run them: they are
part of the suite, not optional. Each store gets its own schema, dropped afterwards, so runs
and tests never see each other's rows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from verifier_helpers import BACKENDS, START, drop_schema, make_service, open_store  # noqa: E402

from tokenbench.emulators.clock import FakeClock  # noqa: E402
from tokenbench.verifier.iam import IamService  # noqa: E402
from tokenbench.verifier.seeds import SeedCipher  # noqa: E402
from tokenbench.verifier.store import Store  # noqa: E402


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    opened, schema = open_store(backend, tmp_path)
    yield opened
    opened.close()
    if schema:
        drop_schema(schema)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(str(tmp_path / "iam.db"))
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def cipher() -> SeedCipher:
    return SeedCipher(bytes(range(32)))


@pytest.fixture
def service(store: Store, cipher: SeedCipher, clock: FakeClock) -> IamService:
    return make_service(store, cipher, clock)


@pytest.fixture
def lite_service(sqlite_store: Store, cipher: SeedCipher, clock: FakeClock) -> IamService:
    return make_service(sqlite_store, cipher, clock)
