"""GetSessionToken with MFA over HTTP (`tokenbench serve`), beside the library and moto's server.

Run: `scripts/with-services.sh .venv/bin/python -m tokenbench.bench.perf.service_perf` (the
PostgreSQL figures need $TOKENBENCH_PG_URL). Prints absolute rates measured side by side in
this run; nothing here asserts a speed.

- library: `IamService.sign_in` on the same store and devices, from 1 thread and from as many
  processes as the server has workers (`signin_workers`, as `verifier_perf` measures it).
- HTTP: GetSessionToken with SerialNumber and TokenCode, SigV4-signed by each user's own key,
  against `tokenbench serve --clock fake` with 1 and 4 workers (`service_load`); every request
  is an accepted sign-in (a fresh code per device per round), and only 200 answers count.
- moto's server mode, the same requests: it checks neither the signature nor the code, so its
  rate is what the wire alone costs in a Python server.
- the issue's aim: HTTP with 4 workers on PostgreSQL at least 50 % of the library figure there.

Users, keys and devices are created before the server starts (see `seed`), so that set-up
takes no measured time.
PostgreSQL runs on a database created for this run and dropped after it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyotp
from sqlalchemy.engine import URL, make_url

from tokenbench.bench.perf.service_load import STEP, Identity, LoadResult, run_load
from tokenbench.bench.perf.service_servers import (
    Key,
    ServerClock,
    moto_server,
    tokenbench_serve,
    tree_cpu_seconds,
)
from tokenbench.bench.perf.signin_workers import (
    MEASUREMENT_SPAN,
    Fleet,
    Measurement,
    measure_processes,
    measure_threads,
)
from tokenbench.verifier.iam import VIRTUAL_SEED_BYTES
from tokenbench.verifier.iam_names import KIND_VIRTUAL, virtual_serial
from tokenbench.verifier.seeds import KEK_ENV
from tokenbench.verifier.service import MovableClock, Service, open_service
from tokenbench.verifier.store import Device, Store

PG_ENV = "TOKENBENCH_PG_URL"
USERS = 200
WORKERS = (1, 4)
CLIENTS = 4
AIM = 0.5  # the aim: HTTP (4 workers, PostgreSQL) / library (PostgreSQL)
DIGITS = 6
MOTO_ACCOUNT = "123456789012"  # moto's fixed account


@dataclass(frozen=True)
class Seeded:
    """The benchmark's users: for HTTP clients (keys) and for library workers (the fleet)."""

    identities: tuple[Identity, ...]
    fleet: Fleet


def seed(store_url: str, kek_hex: str, users: int) -> Seeded:
    """`users` users, each with an access key and an enabled virtual device never used yet."""
    service = open_service(store_url, environ={KEK_ENV: kek_hex}, clock=MovableClock())
    try:
        enrolled = [_enrol(service, f"perf{n}") for n in range(users)]
        fleet = Fleet(
            store_url,
            None,
            bytes.fromhex(kek_hex),
            service.account_id,
            tuple(f"perf{n}" for n in range(users)),
            tuple(identity.serial for identity, _ in enrolled),
            tuple(seed_raw for _, seed_raw in enrolled),
            service.iam.policy,
        )
        return Seeded(tuple(identity for identity, _ in enrolled), fleet)
    finally:
        service.close()


def _enrol(service: Service, name: str) -> tuple[Identity, bytes]:
    """CreateUser and CreateAccessKey through the library; the device row is written directly,
    as `verifier_perf` writes its fleet's: CreateVirtualMFADevice would draw a QR code for
    each (~40 ms, more than the rest of the set-up together) that no sign-in ever reads."""
    now = service.clock.now()
    service.iam.create_user(UserName=name)
    key = service.access_keys.create_access_key(UserName=name)["AccessKey"]
    serial = virtual_serial(service.account_id, "/", name)
    seed_raw = secrets.token_bytes(VIRTUAL_SEED_BYTES)
    device = Device(
        serial=serial,
        kind=KIND_VIRTUAL,
        created_at=now,
        name=name,
        seed_sealed=service.cipher.seal(serial, seed_raw),
        algorithm="SHA1",
        digits=DIGITS,
        period=STEP,
        enable_date=now,
    )
    outcome = service.store.add_assigned_device(device, service.iam.identity(name), limit=1)
    if outcome != "ok":
        raise RuntimeError(f"cannot add the benchmark's device {serial}: {outcome}")
    seed_b32 = base64.b32encode(seed_raw).decode("ascii").rstrip("=")
    key_pair = Key(key["AccessKeyId"], key["SecretAccessKey"])
    return Identity(key_pair, serial, seed_b32), seed_raw


def moto_identities(users: int) -> tuple[Identity, ...]:
    """Made-up keys and devices: moto checks neither."""
    return tuple(
        Identity(
            Key(f"AKIAPERF{n:012d}", secrets.token_hex(20)),
            f"arn:aws:iam::{MOTO_ACCOUNT}:mfa/perf{n}",
            pyotp.random_base32(),
        )
        for n in range(users)
    )


# -- printing -------------------------------------------------------------------------------------


def http_line(label: str, result: LoadResult) -> str:
    """The rate and latencies, then where the CPU went: a server near its clients' own CPU
    ceiling is measuring the clients, which the line then says."""
    cores = os.cpu_count() or 1
    requests = max(1, result.ok + result.failed)
    client = result.client_cpu_seconds / requests
    ceiling = cores / client if client > 0 else float("inf")
    server = (
        "?"
        if result.server_cpu_seconds is None
        else f"{result.server_cpu_seconds / requests * 1e6:,.0f}"
    )
    line = (
        f"  {label}: {result.rate:,.0f} req/s, p50 {result.percentile(0.5) * 1000:.1f} ms,"
        f" p99 {result.percentile(0.99) * 1000:.1f} ms; {result.ok:,} accepted,"
        f" {result.failed} failed\n"
        f"    CPU per request: server {server} µs, clients {client * 1e6:,.0f} µs (the clients"
        f" alone: {ceiling:,.0f}/s on {cores} cores); {result.clients} clients,"
        f" rounds: {result.rounds}, clock moves {result.clock_seconds / result.seconds:.0%}"
        " of the time"
    )
    if result.rate > 0.5 * ceiling:
        line += "\n    CLIENT-BOUND: the clients needed over half of the machine's CPU"
    if result.first_failure:
        line += f"\n    first failure: {result.first_failure}"
    return line


def library_line(label: str, measured: Measurement) -> str:
    if measured.failure:
        return f"  {label}: FAILED: {measured.failure}"
    return f"  {label}: {measured.rate:,.0f} sign-ins/s"


# -- one store ------------------------------------------------------------------------------------


@dataclass
class BackendFigures:
    http: dict[int, LoadResult]  # by server workers
    library: dict[int, float]  # sign-ins/s by library processes (0: one thread)


def measure_backend(
    label: str, store_url: str, workdir: Path, args: argparse.Namespace
) -> BackendFigures:
    """HTTP with each worker count, then the library on the same devices."""
    print(label, flush=True)
    kek_hex = secrets.token_hex(32)
    seeded = seed(store_url, kek_hex, args.users)
    figures = BackendFigures({}, {})
    server_time: float | None = None
    for workers in args.workers:
        result, server_time = _http_figure(
            store_url, workdir, kek_hex, seeded, workers, server_time, args
        )
        figures.http[workers] = result
        plural = "worker" if workers == 1 else "workers"
        print(http_line(f"HTTP, {workers} {plural}", result), flush=True)
    _library_figures(store_url, seeded.fleet, args, figures)
    return figures


def _http_figure(
    store_url: str,
    workdir: Path,
    kek_hex: str,
    seeded: Seeded,
    workers: int,
    server_time: float | None,
    args: argparse.Namespace,
) -> tuple[LoadResult, float]:
    """One server's figure, and the time its clock reached: a new server starts at the wall
    time, so it is first set to where the last one stopped (no code is used twice)."""
    credentials = workdir / "admin-credentials"
    with tokenbench_serve(store_url, credentials, workers, kek_hex) as running:
        assert running.admin is not None
        clock = ServerClock(running.url, running.admin)
        try:
            if server_time is not None:
                clock.set(server_time)
            result = run_load(
                running.url,
                seeded.identities,
                clients=args.clients,
                seconds=args.seconds,
                clock=clock,
                server_cpu=lambda: tree_cpu_seconds(running.process.pid),
            )
            return result, clock.advance(0)
        finally:
            clock.close()


def _library_figures(
    store_url: str, fleet: Fleet, args: argparse.Namespace, figures: BackendFigures
) -> None:
    """`IamService.sign_in` from 1 thread and from `--library-processes` processes, their fake
    clocks far beyond any time the servers reached."""
    start_at = time.time() + MEASUREMENT_SPAN
    store = Store.open(store_url)
    try:
        measured = measure_threads(store, fleet, 1, args.seconds, start_at)
    finally:
        store.close()
    figures.library[0] = measured.rate
    print(library_line("library (IamService.sign_in), 1 thread", measured), flush=True)
    processes = args.library_processes
    measured = measure_processes(fleet, processes, args.seconds, start_at + 2 * MEASUREMENT_SPAN)
    figures.library[processes] = measured.rate
    print(library_line(f"library (IamService.sign_in), {processes} processes", measured))


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A database of its own for this run on $TOKENBENCH_PG_URL's server (dropped after)."""
    import psycopg
    from psycopg import sql

    base = make_url(url)
    name = f"tb_service_perf_{os.getpid()}"
    admin = URL.create("postgresql", base.username, None, base.host, base.port, base.database)
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, password=base.password, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, password=base.password, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def ratio_lines(pg: BackendFigures, processes: int) -> list[str]:
    workers = max(pg.http)
    http = pg.http[workers].rate
    lines = [
        f"Ratio (the aim: at least {AIM:.0%}): HTTP with {workers} workers on PostgreSQL"
        f" ({http:,.0f} req/s) ÷ the library on PostgreSQL"
    ]
    for count, label in ((processes, f"{processes} processes"), (0, "1 thread")):
        library = pg.library[count]
        share = http / library if library > 0 else 0.0
        verdict = "met" if share >= AIM else "NOT met"
        lines.append(f"  ÷ library, {label} ({library:,.0f}/s): {share:.0%} ({verdict})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--users", type=int, default=USERS, help="users (one device each)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="load client processes")
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    parser.add_argument("--library-processes", type=int, default=max(WORKERS))
    args = parser.parse_args(argv)
    print(
        f"GetSessionToken with SerialNumber + TokenCode: {args.users} users,"
        f" {args.clients} client processes, {args.seconds:g} s per figure,"
        f" {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tokenbench-service-perf-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        measure_backend("SQLite (WAL)", str(sqlite_dir / "iam.db"), sqlite_dir, args)
        pg: BackendFigures | None = None
        url = os.environ.get(PG_ENV)
        if url:
            pg_dir = Path(tmp) / "postgresql"
            pg_dir.mkdir()
            with fresh_database(url) as database_url:
                pg = measure_backend("PostgreSQL", database_url, pg_dir, args)
        else:
            print(f"PostgreSQL: not measured (${PG_ENV} unset; run under scripts/with-services.sh)")
    print("moto server mode (checks no signature and no code)", flush=True)
    with moto_server() as running:
        result = run_load(
            running.url,
            moto_identities(args.users),
            clients=args.clients,
            seconds=args.seconds,
            clock=None,
            server_cpu=lambda: tree_cpu_seconds(running.process.pid),
        )
    print(http_line(f"HTTP, moto {_moto_version()}", result))
    if pg is not None:
        print("\n".join(ratio_lines(pg, args.library_processes)))
    return 0


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


if __name__ == "__main__":
    raise SystemExit(main())
