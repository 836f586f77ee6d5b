"""The sign-in hot path (`verifier/store_hot.py`) and its benchmark (`bench/perf`).

The hot path runs single statements outside `Store.transaction()`; these tests hold it to the
transactional path's answers, to its error types, and to leaving pooled connections as the
transactional path expects them. The race tests (exactly one winner) live in
test_verifier_store.py and run over the same code. pgbench is installed by `make test` (the
postgresql package), so a missing pgbench fails its test rather than skipping it.
"""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path

import pytest
import sqlalchemy.exc
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import column, create_engine, select, table
from verifier_helpers import ACCOUNT, START, drop_schema, open_store, pg_url

from tokenbench.bench.perf import pgbench, verifier_perf
from tokenbench.bench.perf.signin_workers import (
    Fleet,
    Measurement,
    Window,
    WorkerResult,
    measure_processes,
    measure_threads,
)
from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.iam import IamService, open_account
from tokenbench.verifier.migrations import accounts, mfa_devices
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Device, Store
from tokenbench.verifier.store_hot import GENERIC, HotPath
from tokenbench.verifier.totp import ALGORITHMS, DEFAULT_POLICY, TotpKey, TotpParams

SEED = bytes(range(20))
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on


def _device(serial: str, cipher: SeedCipher) -> Device:
    return Device(
        serial=serial,
        kind="hardware",
        created_at=START,
        seed_sealed=cipher.seal(serial, SEED),
        algorithm="SHA1",
        digits=6,
        period=30,
        enable_date=START,
    )


def _assigned(service: IamService, user: str, serial: str) -> None:
    service.create_user(UserName=user)
    identity = service.identity(user)
    device = _device(serial, service.cipher)
    assert service.store.add_assigned_device(device, identity, limit=8) == "ok"


# --- the store's hot statements ---------------------------------------------------------------


def test_device_with_owner_matches_the_transactional_reads(service: IamService) -> None:
    store = service.store
    _assigned(service, "alice", "GAHT00000001")
    store.add_devices([_device("GAHT00000002", service.cipher)])
    device, owner = store.device_with_owner("GAHT00000001")
    assert device == store.device("GAHT00000001")
    assert owner is not None and owner == store.identity_by_id(owner.id)
    assert device is not None and type(device.possibly_cloned) is bool
    assert type(owner.is_root) is bool
    lone, nobody = store.device_with_owner("GAHT00000002")
    assert lone == store.device("GAHT00000002") and nobody is None
    assert store.device_with_owner("GAHT00000003") == (None, None)


def test_check_and_set_and_lockout_through_the_hot_path(store: Store, cipher: SeedCipher) -> None:
    store.add_devices([_device("GAHT00000009", cipher)])
    assert store.record_totp_success("GAHT00000009", None, step=10, drift_steps=1, now=5.0)
    assert not store.record_totp_success("GAHT00000009", None, step=10, drift_steps=0, now=5.0)
    assert not store.record_totp_success("GAHT00000009", 7, step=11, drift_steps=0, now=5.0)
    for _ in range(3):
        store.record_totp_failure("GAHT00000009", now=6.0, limit=3, cooldown=60.0)
    device = store.device("GAHT00000009")
    assert device is not None
    assert (device.last_step, device.drift_steps) == (10, 1)
    assert (device.failed_attempts, device.locked_until) == (3, 66.0)
    assert not store.record_totp_success("GAHT00000009", None, step=12, drift_steps=0, now=65.0)
    store.record_totp_failure("GAHT00000009", now=66.0, limit=3, cooldown=60.0)  # lapsed: 1
    device = store.device("GAHT00000009")
    assert device is not None and (device.failed_attempts, device.locked_until) == (1, None)
    assert store.record_totp_success("GAHT00000009", None, step=12, drift_steps=0, now=66.0)


def test_pooled_connections_stay_transactional(store: Store, cipher: SeedCipher) -> None:
    """After the hot path, a transaction that fails still rolls back (on PostgreSQL the
    connection must have left autocommit mode before it went back to the pool)."""
    store.add_devices([_device("GAHT00000004", cipher)])
    store.device_with_owner("GAHT00000004")
    store.record_totp_success("GAHT00000004", None, step=3, drift_steps=0, now=1.0)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(accounts.insert().values(account_id="999999999999", created_at=1.0))
        raise RuntimeError("roll back")
    assert "999999999999" not in store.accounts()


def test_driver_errors_are_sqlalchemy_errors(store: Store, cipher: SeedCipher) -> None:
    store.add_devices([_device("GAHT00000005", cipher)])
    path = HotPath(store.engine)
    missing = path.statement(select(column("x")).select_from(table("tokenbench_no_table")), None)
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        path.first(missing, {})
    assert store.device_with_owner("GAHT00000005")[0] is not None  # the pool still works


def test_a_dropped_connection_is_discarded_not_reused(cipher: SeedCipher, tmp_path: Path) -> None:
    """The server ends the pooled connection: the next call fails as a disconnect and the pool
    drops that connection, so the call after it works on a new one."""
    store, schema = open_store("postgres", tmp_path)
    try:
        store.add_devices([_device("GAHT00000007", cipher)])
        assert store.device_with_owner("GAHT00000007")[0] is not None
        other = create_engine(pg_url())  # not the store's pool, which would lend its own
        with other.connect() as killer:
            killer.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        other.dispose()
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
            store.device_with_owner("GAHT00000007")
        assert raised.value.connection_invalidated
        assert store.device_with_owner("GAHT00000007")[0] is not None
    finally:
        store.close()
        assert schema is not None
        drop_schema(schema)


@pytest.mark.parametrize("generic", [False, True])
def test_generic_mode_gives_the_same_answers(
    store: Store, cipher: SeedCipher, generic: bool
) -> None:
    """The fallback for other drivers (a transaction around each statement) is exercised on
    both databases by forcing it."""
    store.add_devices([_device("GAHT00000006", cipher)])
    path = HotPath(store.engine, generic=generic)
    assert (path.mode == GENERIC) is generic
    query = path.statement(
        select(mfa_devices.c.serial, mfa_devices.c.possibly_cloned).where(
            mfa_devices.c.serial == "GAHT00000006"
        ),
        store.schema,
    )
    assert path.first(query, {}) == ("GAHT00000006", False)
    update = path.statement(
        mfa_devices.update()
        .where(mfa_devices.c.serial == "GAHT00000006", mfa_devices.c.last_step.is_(None))
        .values(last_step=4),
        store.schema,
    )
    assert path.rowcount(update, {}) == 1
    assert path.rowcount(update, {}) == 0
    device = store.device("GAHT00000006")
    assert device is not None and device.last_step == 4


# --- TotpKey's precomputed pads ---------------------------------------------------------------


@given(
    secret=st.binary(min_size=1, max_size=200),
    step=st.integers(min_value=0, max_value=2**63 - 1),
    algorithm=st.sampled_from(sorted(ALGORITHMS)),
    digits=st.sampled_from([6, 8]),
)
def test_totp_key_matches_hmac(secret: bytes, step: int, algorithm: str, digits: int) -> None:
    mac = hmac.digest(secret, step.to_bytes(8, "big"), ALGORITHMS[algorithm])
    offset = mac[-1] & 0x0F
    value = (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % 10**digits
    key = TotpKey(secret, TotpParams(algorithm, digits))
    assert key.code_at_step(step) == str(value).zfill(digits)


# --- pgbench: output, target, run ---------------------------------------------------------------

NOISE = st.characters(exclude_categories=["Cs"], exclude_characters=LINE_BREAKS)
PG15_OUTPUT = """\
pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: /tmp/tokenbench-pgbench-x.sql
scaling factor: 1
query mode: prepared
number of clients: 1
number of threads: 1
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 12281
number of failed transactions: 0 (0.000%)
latency average = 0.163 ms
initial connection time = 2.360 ms
tps = 6140.834884 (without initial connection time)
"""

PG13_OUTPUT = """\
number of transactions actually processed: 100
latency average = 0.100 ms
tps = 9000.123456 (including connections establishing)
tps = 9200.654321 (excluding connections establishing)
"""


def test_parse_tps_real_outputs() -> None:
    assert pgbench.parse_tps(PG15_OUTPUT) == pytest.approx(6140.834884)
    assert pgbench.parse_tps(PG13_OUTPUT) == pytest.approx(9200.654321)
    with pytest.raises(pgbench.PgbenchError):
        pgbench.parse_tps("pgbench: error: connection to server failed\n")


@given(
    tps=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    noise=st.lists(st.text(alphabet=NOISE).filter(lambda line: "tps" not in line), max_size=5),
)
def test_parse_tps_finds_the_rate_among_any_lines(tps: float, noise: list[str]) -> None:
    line = f"tps = {tps:.6f} (without initial connection time)"
    output = "\n".join([*noise, line, *noise])
    assert pgbench.parse_tps(output) == pytest.approx(float(f"{tps:.6f}"))


PROGRESS = """\
progress: 1.0 s, 6144.9 tps, lat 0.162 ms stddev 0.023, 0 failed
progress: 2.0 s, 7001.5 tps, lat 0.140 ms stddev 0.019, 0 failed
pgbench: warning: something else
"""


def test_parse_progress_real_lines() -> None:
    assert pgbench.parse_progress(PROGRESS) == [6144.9, 7001.5]
    assert pgbench.parse_progress("progress: 3.0 s, 12.5 tps, lat 80.0 ms stddev 1.0") == [12.5]
    assert pgbench.parse_progress("") == []


@given(
    rates=st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), max_size=6),
    noise=st.lists(st.text(alphabet=NOISE).filter(lambda line: "progress" not in line)),
)
def test_parse_progress_keeps_every_interval(rates: list[float], noise: list[str]) -> None:
    lines = [
        f"progress: {n + 1}.0 s, {r:.1f} tps, lat 1.0 ms stddev 0.1" for n, r in enumerate(rates)
    ]
    report = "\n".join(noise + lines + noise)
    assert pgbench.parse_progress(report) == [float(f"{r:.1f}") for r in rates]


def test_best_slice_sums_the_workers_in_each_slice() -> None:
    window = Window(start=0.0, slices=3, slice_seconds=0.5)
    results = (WorkerResult((10, 40, 10)), WorkerResult((30, 10, 10)))
    measured = Measurement(results, window)
    assert measured.rate == 100.0  # slice 2: 40 + 10 in 0.5 s, not 40 + 30
    assert measured.mean_rate == 110 / 1.5
    assert measured.failure is None
    assert Measurement((WorkerResult((0, 0, 0), "boom"),), window).failure == "boom"


def test_libpq_target_strips_the_driver_and_keeps_the_password_out() -> None:
    target = pgbench.libpq_target("postgresql+psycopg://u:s3cret@127.0.0.1:5433/db")
    assert target.uri == "postgresql://u@127.0.0.1:5433/db"
    assert target.password == "s3cret"
    with pytest.raises(pgbench.PgbenchError):
        pgbench.libpq_target("sqlite:///x.db")


def test_pgbench_runs_the_check_and_set_on_postgres() -> None:
    url = pg_url()
    executable = pgbench.find_pgbench()
    assert executable is not None, "pgbench is missing: `make test` installs postgresql"
    store = Store.open(url, schema="tb_pgbench_test")
    try:
        assert store.schema is not None
        with store.engine.begin() as conn:
            pgbench.create_table(conn, store.schema, clients=2)
        tps = pgbench.run(
            executable,
            pgbench.libpq_target(url),
            store.schema,
            clients=2,
            seconds=1,
            protocol="prepared",
        )
        assert tps > 0
        with store.engine.begin() as conn:
            table = pgbench.table_name(store.schema)
            unused = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE last_step IS NULL")
            assert unused.scalar_one() == 0  # every client's rows took fresh steps
    finally:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql('DROP SCHEMA IF EXISTS "tb_pgbench_test" CASCADE')
        engine.dispose()
        store.close()


# --- workers: threads and processes -----------------------------------------------------------


def _fleet(store: Store, url: str, devices: int) -> Fleet:
    clock = FakeClock(START)
    account = open_account(store, clock, ACCOUNT)
    kek = bytes(range(32))
    service = IamService(store, SeedCipher(kek), clock, account)
    for n in range(devices):
        _assigned(service, f"w{n}", f"WORK{n:08d}")
    return Fleet(
        url,
        store.schema,
        kek,
        account,
        tuple(f"w{n}" for n in range(devices)),
        tuple(f"WORK{n:08d}" for n in range(devices)),
        (SEED,) * devices,
        DEFAULT_POLICY,
    )


def test_workers_sign_in_as_threads_and_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "workers.db")
    store = Store.open(path)
    try:
        fleet = _fleet(store, path, 4)
        threads = measure_threads(store, fleet, 2, 0.3, START + 10**6)
        processes = measure_processes(fleet, 2, 0.3, START + 10**8)
        for measured in (threads, processes):
            assert measured.failure is None
            assert len(measured.results) == 2
            assert all(sum(r.per_slice) > 0 for r in measured.results)
            assert measured.rate >= measured.mean_rate > 0
        device = store.device("WORK00000001")
        assert device is not None and device.last_step is not None
        assert device.last_step > (START + 10**8) // 30  # the processes' sign-ins were stored
    finally:
        store.close()


# --- the benchmark's report -------------------------------------------------------------------


def test_benchmark_reports_sqlite_and_says_what_it_did_not_measure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(verifier_perf.PG_ENV, raising=False)
    assert verifier_perf.main(["--seconds", "0.2", "--skip-totp"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out and f"{os.cpu_count()} cores" in out
    for name in ("1 thread", "8 threads", "1 process", "2 processes", "4 processes"):
        assert re.search(rf"SQLite \(WAL\), {name}: [\d,]+ sign-ins/s", out), name
    assert "PostgreSQL: not measured" in out


def test_benchmark_without_pgbench_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(verifier_perf.PG_ENV, pg_url())
    monkeypatch.setattr(pgbench, "find_pgbench", lambda: None)
    monkeypatch.setattr(verifier_perf, "THREADS", (1,))  # fewer figures: a quicker test
    monkeypatch.setattr(verifier_perf, "PROCESSES", (2,))
    assert verifier_perf.main(["--seconds", "0.2", "--skip-totp"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    assert re.search(r"PostgreSQL, 2 processes: [\d,]+ sign-ins/s", out)
    assert out.count("pgbench (the database's limit): not measured") == 2


def test_pgbench_limit_line_gives_both_protocols_and_our_share() -> None:
    url = pg_url()
    executable = pgbench.find_pgbench()
    assert executable is not None, "pgbench is missing: `make test` installs postgresql"
    store = Store.open(url, schema="tb_pgbench_limit_test")
    try:
        limit = verifier_perf.PgbenchLimit(executable, pgbench.libpq_target(url), store, 1.0)
        line = limit(1, 100.0)
        pattern = r"1 client\(s\): [\d,]+/s prepared \(ours \d+%\), [\d,]+/s simple \(ours \d+%\)"
        assert re.search(pattern, line), line
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql('DROP SCHEMA IF EXISTS "tb_pgbench_limit_test" CASCADE')
        store.close()
