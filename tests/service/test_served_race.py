"""Several worker processes share one store without accepting a code twice.

Many clients send GetSessionToken with the same code at once to a server with 4 workers
(`tokenbench serve --workers 4`): exactly one session comes back, every other call is AWS's
AccessDenied. On SQLite (one file) and on PostgreSQL (a database of its own).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import aws_scenarios as sc
import psycopg
import pytest
from botocore.exceptions import ClientError
from served import ServedTarget, served

PG_ENV = "TOKENBENCH_PG_URL"
CLIENTS = 24
WORKERS = 4


@pytest.fixture
def pg_store() -> Iterator[str]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(f"${PG_ENV} is not set: run under scripts/with-services.sh (make test does)")
    name = f"tb_race_{secrets.token_hex(4)}"
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _race(target: ServedTarget) -> list[str]:
    user, device = sc.enrolled_user(target, "racer")
    code = user.app.code(device.account)
    clients = [target.client_for("sts", user.access_key_id, user.secret) for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    results: list[str] = []
    lock = threading.Lock()

    def call(client: object) -> None:
        barrier.wait()
        try:
            client.get_session_token(SerialNumber=device.serial, TokenCode=code)  # type: ignore[attr-defined]
            outcome = "accepted"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_code_one_session_sqlite(tmp_path: Path) -> None:
    with served(tmp_path, workers=WORKERS) as server:
        results = _race(ServedTarget(server))
    assert results.count("accepted") == 1, results
    assert results.count("AccessDenied") == CLIENTS - 1, results


def test_one_code_one_session_postgresql(tmp_path: Path, pg_store: str) -> None:
    kek = secrets.token_bytes(32).hex()
    with served(tmp_path, workers=WORKERS, store=pg_store, kek=kek) as server:
        results = _race(ServedTarget(server))
    assert results.count("accepted") == 1, results
    assert results.count("AccessDenied") == CLIENTS - 1, results
