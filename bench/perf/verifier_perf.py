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
  on a SQLite file and on PostgreSQL, with 1 and 8 worker threads, each sign-in a fresh step.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyotp

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


def _seeded_service(store: Store, devices: int) -> tuple[list[str], list[TotpKey], IamService]:
    """`devices` identities with one enabled TOTP device each (rows written directly)."""
    clock = FakeClock(NOW)
    account = open_account(store, clock, ACCOUNT)
    cipher = SeedCipher(secrets.token_bytes(32))
    service = IamService(store, cipher, clock, account)
    users, keys = [], []
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
        keys.append(TotpKey(secret))
    return users, keys, service


def store_section(label: str, store: Store, seconds: float) -> None:
    workers_options = (1, 8)
    users, keys, service = _seeded_service(store, max(workers_options) * 4)
    for workers in workers_options:
        done = [0] * workers
        stop = threading.Event()
        failures: list[str] = []

        def work(
            index: int,
            workers: int = workers,
            done: list[int] = done,
            stop: threading.Event = stop,
            failures: list[str] = failures,
        ) -> None:
            mine = list(range(index, len(users), workers))
            clock = FakeClock(NOW + 3600 * (1 + workers))  # fresh steps for every round
            worker_service = IamService(
                store, service.cipher, clock, service.account_id, policy=service.policy
            )
            while not stop.is_set():
                clock.advance(PERIOD)
                for j in mine:
                    code = keys[j].code_at_step(keys[j].step_at(clock.now()))
                    try:
                        worker_service.sign_in(
                            UserName=users[j], SerialNumber=f"PERF{j:08d}", TokenCode=code
                        )
                    except Exception as exc:  # report, don't hide
                        failures.append(f"{type(exc).__name__}: {exc}")
                        return
                    done[index] += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        start = _timer.now()
        for thread in threads:
            thread.start()
        time.sleep(seconds)  # the benchmark's own duration, not verifier time
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = _timer.now() - start
        if failures:
            print(f"  {label}, {workers} worker(s): FAILED: {failures[0]}")
            continue
        print(f"  {label}, {workers} worker(s): {sum(done) / elapsed:,.0f} sign-ins/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = parser.parse_args(argv)
    totp_section(args.seconds)
    print("Store-backed sign-in (unseal seed, verify, atomic replay check-and-set)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(os.path.join(tmp, "perf.db"))
        store_section("SQLite (WAL)", store, args.seconds)
        store.close()
    url = os.environ.get(PG_ENV)
    if not url:
        print(f"  PostgreSQL: not measured (${PG_ENV} unset; run under scripts/with-services.sh)")
        return 0
    schema = f"tb_perf_{os.getpid()}"
    store = Store.open(url, schema=schema)
    try:
        store_section("PostgreSQL", store, args.seconds)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
