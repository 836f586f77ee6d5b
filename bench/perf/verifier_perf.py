"""Verifier speed: TOTP checks in memory against pyotp, and store-backed sign-ins.

Run: `.venv/bin/python -m tokenbench.bench.perf.verifier_perf` (PostgreSQL figures need
$TOKENBENCH_PG_URL, e.g. under `scripts/with-services.sh`). Prints absolute rates and ratios
measured side by side in this run; nothing here asserts a speed.

- TOTP, in memory: `verifier.totp.verify` with window ±1 and the replay check (the state update
  after each success included) versus pyotp's `TOTP.verify(code, valid_window=1)`, for a code of
  the current step, the previous step (pyotp scans -1, 0, +1 and stops at a match, so this is
  its best case; we scan the drift centre first), the next step, and a wrong code.
- raw HMAC-SHA1: `hmac.digest` on an 8-byte counter, and one code from `TotpKey` (which keeps
  the HMAC's inner and outer hash states with the key absorbed, so it beats the one-shot call).
- store-backed: `IamService.sign_in` (seed unsealing, atomic replay check-and-set, drift update)
  on a SQLite file and on PostgreSQL, each sign-in a fresh step, from 1 and 8 worker threads in
  this process and from 1, 2 and 4 worker processes (`signin_workers`; threads share one
  interpreter lock, processes are how a server scales over cores). Each figure is the best of
  5 slices of one window shared by all workers (other jobs on the machine only slow a slice
  down), with the whole window's mean beside it.
- the database's limit: after each PostgreSQL figure, pgbench (`pgbench.py`) runs the same
  check-and-set with as many clients as we had workers, over the same loopback URL, with the
  extended protocol and prepared statements (as we run it) and with the simple protocol, its
  best 1-second progress interval; each line gives our rate as a share of pgbench's.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyotp

from tokenbench.bench.perf import pgbench
from tokenbench.bench.perf.signin_workers import (
    MEASUREMENT_SPAN,
    Fleet,
    measure_processes,
    measure_threads,
)
from tokenbench.emulators.clock import FakeClock, MonotonicClock
from tokenbench.verifier.iam import IamService, open_account
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Device, Store
from tokenbench.verifier.totp import TotpKey, TotpState, after_success, verify

NOW = 1_800_000_000.0
PERIOD = 30
KEYS = 256
PG_ENV = "TOKENBENCH_PG_URL"
ROUNDS = 5
ACCOUNT = "123456789012"
_timer = MonotonicClock()
EMPTY = TotpState()  # a device never used: no replay history
THREADS = (1, 8)  # worker threads in this process
PROCESSES = (1, 2, 4)  # worker processes (spawned), each with its own store
DEVICES_PER_WORKER = 4
SINGULAR = {"threads": "thread", "processes": "process"}


def _batch_for(run: Callable[[int], None]) -> int:
    """A batch size that takes a measurable time (~50 ms)."""
    batch = 64
    while True:
        start = _timer.now()
        run(batch)
        if _timer.now() - start > 0.05:
            return batch
        batch *= 4


def rate(run: Callable[[int], None], seconds: float) -> float:
    """Operations per second of `run(n)` (which performs n operations), best of 5 slices."""
    batch = _batch_for(run)
    return max(_slice(run, batch, seconds / ROUNDS) for _ in range(ROUNDS))


def _slice(run: Callable[[int], None], batch: int, seconds: float) -> float:
    total, operations = 0.0, 0
    while total < seconds:
        start = _timer.now()
        run(batch)
        total += _timer.now() - start
        operations += batch
    return operations / total


def compare(
    mine: Callable[[int], None], peer: Callable[[int], None], seconds: float
) -> tuple[float, float]:
    """(mine, peer) rates, measured in alternating slices so that load from other processes on
    the machine hits both alike; each side's best slice counts."""
    batches = _batch_for(mine), _batch_for(peer)
    best = [0.0, 0.0]
    for _ in range(ROUNDS):
        for side, run in enumerate((mine, peer)):
            best[side] = max(best[side], _slice(run, batches[side], seconds / ROUNDS))
    return best[0], best[1]


@dataclass
class TotpCase:
    label: str
    offset: int | None  # step offset of the code; None: a wrong code


CASES = (
    TotpCase("current step", 0),  # the usual case: one HMAC for us, two for pyotp (-1 first)
    TotpCase("previous step", -1),  # pyotp's best case: one HMAC for it, two for us
    TotpCase("next step", 1),
    TotpCase("wrong code", None),
)


def totp_section(seconds: float) -> None:
    secrets_raw = [secrets.token_bytes(20) for _ in range(KEYS)]
    ours = [TotpKey(s) for s in secrets_raw]
    theirs = [pyotp.TOTP(base64.b32encode(s).decode()) for s in secrets_raw]
    step = ours[0].step_at(NOW)
    print("TOTP verification, window ±1 (in memory)")
    print(f"  {'case':<15} {'tokenbench/s':>14} {'pyotp/s':>12} {'ratio':>7}")
    for case in CASES:
        if case.offset is None:
            codes = [_wrong(k.code_at_step(step + d) for d in (-1, 0, 1)) for k in ours]
        else:
            codes = [k.code_at_step(step + case.offset) for k in ours]

        def run_ours(n: int, codes: list[str] = codes, empty: TotpState = EMPTY) -> None:
            for i in range(n):
                j = i % KEYS
                verdict = verify(ours[j], empty, codes[j], NOW)
                if verdict.accepted:
                    after_success(empty, verdict)  # the replay bookkeeping a success costs

        def run_pyotp(n: int, codes: list[str] = codes) -> None:
            for i in range(n):
                j = i % KEYS
                theirs[j].verify(codes[j], for_time=NOW, valid_window=1)

        mine, peer = compare(run_ours, run_pyotp, seconds)
        print(f"  {case.label:<15} {mine:>14,.0f} {peer:>12,.0f} {mine / peer:>6.1f}x")
    key, message = secrets_raw[0], (step).to_bytes(8, "big")

    def run_hmac(n: int) -> None:
        for _ in range(n):
            hmac.digest(key, message, "sha1")

    def run_code(n: int, key: TotpKey = ours[0]) -> None:
        for i in range(n):
            key.code_at_step(i)

    print(f"  raw HMAC-SHA1 (hmac.digest, key set up per call): {rate(run_hmac, seconds):,.0f}/s")
    print(f"  one TOTP code (TotpKey, HMAC pads precomputed):   {rate(run_code, seconds):,.0f}/s")


def _wrong(valid: Iterable[str]) -> str:
    taken = set(valid)
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in taken)


def _seeded_fleet(store: Store, store_url: str, devices: int) -> Fleet:
    """`devices` identities with one enabled TOTP device each (rows written directly)."""
    clock = FakeClock(NOW)
    account = open_account(store, clock, ACCOUNT)
    kek = secrets.token_bytes(32)
    cipher = SeedCipher(kek)
    service = IamService(store, cipher, clock, account)
    users, serials, seeds = [], [], []
    for n in range(devices):
        user = f"perf{n}"
        service.create_user(UserName=user)
        identity = service.identity(user)
        secret = secrets.token_bytes(20)
        serial = f"PERF{n:08d}"
        device = Device(
            serial=serial,
            kind="hardware",
            created_at=NOW,
            seed_sealed=cipher.seal(serial, secret),
            algorithm="SHA1",
            digits=6,
            period=PERIOD,
            enable_date=NOW,
        )
        store.add_assigned_device(device, identity, limit=8)
        users.append(user)
        serials.append(serial)
        seeds.append(secret)
    return Fleet(
        store_url,
        store.schema,
        kek,
        account,
        tuple(users),
        tuple(serials),
        tuple(seeds),
        service.policy,
    )


def store_section(
    label: str,
    store: Store,
    store_url: str,
    seconds: float,
    limit: Callable[[int, float], str] | None = None,
) -> None:
    """Threads, then processes; `limit(workers, ours)` (PostgreSQL) measures pgbench right
    after each of our figures, so that both see the same load on the machine."""
    fleet = _seeded_fleet(store, store_url, max(THREADS) * DEVICES_PER_WORKER)
    measurements = [("threads", n) for n in THREADS] + [("processes", n) for n in PROCESSES]
    for index, (kind, workers) in enumerate(measurements, start=1):
        start_at = NOW + index * MEASUREMENT_SPAN
        if kind == "threads":
            measured = measure_threads(store, fleet, workers, seconds, start_at)
        else:
            measured = measure_processes(fleet, workers, seconds, start_at)
        name = f"{label}, {workers} {kind if workers > 1 else SINGULAR[kind]}"
        if measured.failure:
            print(f"  {name}: FAILED: {measured.failure}")
            continue
        print(f"  {name}: {measured.rate:,.0f} sign-ins/s (mean {measured.mean_rate:,.0f})")
        if limit is not None:
            print(f"    {limit(workers, measured.rate)}")


@dataclass
class PgbenchLimit:
    """pgbench on the store's server and schema, both protocols, as many clients as workers."""

    executable: str
    target: pgbench.LibpqTarget
    store: Store
    seconds: float

    def __call__(self, clients: int, ours: float) -> str:
        assert self.store.schema is not None
        figures = []
        for protocol in pgbench.PROTOCOLS:
            with self.store.engine.begin() as conn:  # fresh rows: every step is a new one
                pgbench.create_table(conn, self.store.schema, clients)
            try:
                tps = pgbench.run(
                    self.executable,
                    self.target,
                    self.store.schema,
                    clients=clients,
                    seconds=self.seconds,
                    protocol=protocol,
                )
            except pgbench.PgbenchError as exc:
                figures.append(f"{protocol}: not measured ({exc})")
                continue
            figures.append(f"{tps:,.0f}/s {protocol} (ours {ours / tps:.0%})")
        return f"pgbench (the database's limit), {clients} client(s): " + ", ".join(figures)


def _not_measured(clients: int, ours: float) -> str:
    return (
        "pgbench (the database's limit): not measured (pgbench is missing; it comes with the"
        " postgresql package, which `make test` installs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    parser.add_argument("--skip-totp", action="store_true", help="store-backed figures only")
    args = parser.parse_args(argv)
    if not args.skip_totp:
        totp_section(args.seconds)
    print(
        "Store-backed sign-in (unseal seed, verify, atomic replay check-and-set);"
        f" {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "perf.db")
        store = Store.open(path)
        store_section("SQLite (WAL)", store, path, args.seconds)
        store.close()
    url = os.environ.get(PG_ENV)
    if not url:
        print(f"  PostgreSQL: not measured (${PG_ENV} unset; run under scripts/with-services.sh)")
        return 0
    schema = f"tb_perf_{os.getpid()}"
    store = Store.open(url, schema=schema)
    try:
        executable = pgbench.find_pgbench()
        limit: Callable[[int, float], str] = _not_measured
        if executable is not None:
            target = pgbench.libpq_target(url)
            limit = PgbenchLimit(executable, target, store, args.seconds)
        store_section("PostgreSQL", store, url, args.seconds, limit)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
