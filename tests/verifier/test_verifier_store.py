"""The storage suite, run on SQLite and on PostgreSQL: migrations and the atomic rules."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert
from verifier_helpers import ACCOUNT, enabled_virtual, make_service

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier import migrations
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Ceremony, Device, Store

THREADS = 8
PROCESSES = 4


def race(workers: int, attempt: Callable[[], object]) -> list[object]:
    """Run `attempt` in `workers` threads released together; return what each returned."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = attempt()
        except IamError as exc:
            results[index] = exc.code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fresh_store_is_at_latest_version(store: Store) -> None:
    assert store.schema_version() == migrations.LATEST_VERSION


def test_old_version_upgrades_in_place(store: Store, cipher: SeedCipher) -> None:
    # Rebuild the store's schema as version 1 and put a device in it.
    with store.engine.begin() as conn:
        migrations.metadata.drop_all(conn)
    assert store.upgrade(target=1) == 1
    with store.engine.begin() as conn:
        conn.execute(insert(migrations.accounts).values(account_id=ACCOUNT, created_at=1.0))
        conn.exec_driver_sql(
            f"INSERT INTO {_table(store, 'mfa_devices')} (serial, kind, path, drift_steps, "
            "created_at, possibly_cloned, seed_sealed) VALUES ('GAHT1', 'hardware', '/', 3, 1.0, "
            "false, NULL)"
        )
    assert store.schema_version() == 1
    assert store.upgrade() == migrations.LATEST_VERSION
    device = store.device("GAHT1")
    assert device is not None and device.drift_steps == 3 and device.failed_attempts == 0
    store.record_totp_failure("GAHT1", now=5.0, limit=1, cooldown=10.0)
    assert store.device("GAHT1").locked_until == 15.0  # the new columns work


def _table(store: Store, name: str) -> str:
    return f'"{store.schema}".{name}' if store.schema else name


def test_newer_database_refused(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(migrations.schema_version.update().values(version=99))
    with pytest.raises(RuntimeError, match="newer than this tokenbench"):
        store.upgrade()


def test_replay_race_threads_exactly_one_winner(service: IamService) -> None:
    serial, app = enabled_virtual(service)
    code = app.code()
    outcomes = race(
        THREADS, lambda: service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=code)
    )
    winners = [o for o in outcomes if not isinstance(o, str)]
    assert len(winners) == 1
    assert outcomes.count("AccessDenied") == THREADS - 1


def _sign_in_in_child(
    url: str, schema: str | None, start: float, serial: str, code: str, go, out
) -> None:
    store = Store.open(url, schema=schema)
    service = make_service(store, SeedCipher(bytes(range(32))), FakeClock(start))
    go.wait()
    try:
        service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=code)
        out.put("won")
    except IamError as exc:
        out.put(exc.code)


def test_replay_race_processes_exactly_one_winner(service: IamService, tmp_path: Path) -> None:
    serial, app = enabled_virtual(service)
    code = app.code()
    url = str(service.store.engine.url.render_as_string(hide_password=False))
    context = multiprocessing.get_context("fork")
    go, out = context.Event(), context.Queue()
    children = [
        context.Process(
            target=_sign_in_in_child,
            args=(url, service.store.schema, service.clock.now(), serial, code, go, out),
        )
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    go.set()
    results = sorted(out.get(timeout=60) for _ in children)
    for child in children:
        child.join(timeout=60)
    assert results == ["AccessDenied"] * (PROCESSES - 1) + ["won"]


def test_concurrent_failures_lock_the_device(store: Store, cipher: SeedCipher) -> None:
    store.add_account(ACCOUNT, 0.0)
    store.add_devices([Device(serial="GAHT1", kind="hardware", created_at=0.0)])
    race(THREADS, lambda: store.record_totp_failure("GAHT1", now=100.0, limit=5, cooldown=60.0))
    device = store.device("GAHT1")
    assert device.failed_attempts == THREADS and device.locked_until == 160.0
    # while locked even a fresh step is not recorded; after the cool-down it is
    assert not store.record_totp_success("GAHT1", None, step=10, drift_steps=0, now=120.0)
    assert store.record_totp_success("GAHT1", None, step=10, drift_steps=0, now=161.0)
    assert store.device("GAHT1").failed_attempts == 0


def test_device_limit_holds_under_concurrency(service: IamService) -> None:
    service.create_user(UserName="alice")
    identity = service.identity("alice")
    serials = [f"GAHT{n:04d}" for n in range(12)]
    service.store.add_devices([Device(serial=s, kind="hardware", created_at=0.0) for s in serials])
    pending = list(serials)
    lock = threading.Lock()

    def assign() -> str:
        with lock:
            serial = pending.pop()
        return service.store.assign_device(serial, identity, limit=8, enable_date=1.0)

    outcomes = race(len(serials), assign)
    assert outcomes.count("ok") == 8 and outcomes.count("limit") == 4
    assert service.store.count_assigned(identity.id) == 8


def test_assignment_race_one_identity_wins(service: IamService) -> None:
    for name in ("u1", "u2", "u3", "u4"):
        service.create_user(UserName=name)
    service.store.add_devices([Device(serial="GAHT1", kind="hardware", created_at=0.0)])
    identities = [service.identity(n) for n in ("u1", "u2", "u3", "u4")]
    queue = list(identities)
    lock = threading.Lock()

    def assign() -> str:
        with lock:
            identity = queue.pop()
        return service.store.assign_device("GAHT1", identity, limit=8, enable_date=1.0)

    assert sorted(race(4, assign)) == ["ok", "taken", "taken", "taken"]


def test_sign_count_never_lowers(store: Store) -> None:
    store.add_account(ACCOUNT, 0.0)
    store.add_devices([Device(serial="FIDO1", kind="fido", created_at=0.0, sign_count=5)])
    assert store.record_sign_count("FIDO1", new_count=7, backup_state=False)
    assert not store.record_sign_count("FIDO1", new_count=6, backup_state=False)
    assert store.device("FIDO1").sign_count == 7
    store.mark_possibly_cloned("FIDO1")
    assert store.device("FIDO1").possibly_cloned


def test_ceremony_answered_once(store: Store, cipher: SeedCipher, clock: FakeClock) -> None:
    service = make_service(store, cipher, clock)
    root = store.root_identity(service.account_id)
    store.save_ceremony(Ceremony("c1", "register", root.id, b"x" * 32, None, 500.0), now=0.0)
    results = race(THREADS, lambda: store.take_ceremony("c1", "register"))
    assert sum(r is not None for r in results) == 1
    assert store.take_ceremony("c1", "register") is None


def test_tags_limit_and_case(store: Store) -> None:
    store.add_account(ACCOUNT, 0.0)
    store.add_devices([Device(serial="S1", kind="virtual", created_at=0.0, account_id=ACCOUNT)])
    assert store.put_tags("S1", [("Team", "a")], limit=2)
    assert store.put_tags("S1", [("team", "b")], limit=2)  # same key, new value
    assert store.tags("S1") == [("team", "b")]
    assert store.put_tags("S1", [("Owner", "x")], limit=2)
    assert not store.put_tags("S1", [("Third", "y")], limit=2)
    store.remove_tags("S1", ["OWNER"])
    assert store.tags("S1") == [("team", "b")]


def test_postgres_url_scheme_is_normalized() -> None:
    from tokenbench.verifier.store import normalize_url

    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("x.db").startswith("sqlite:////")
