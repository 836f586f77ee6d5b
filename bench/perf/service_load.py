"""The HTTP load: client processes sending GetSessionToken with SerialNumber and TokenCode.

Every request must be a sign-in the server really accepts, and a code is good once per device
per 30 s step. So the load runs in rounds: the coordinator moves the server's clock one step
on, then every client signs in once with each of its devices, with the code for the server's
new time, and the next round starts when all are done. The clock move and the wait for the
slowest client are part of the measured time (they are few: one per round of ~200 sign-ins).

Clients are processes (one interpreter lock each), each with one keep-alive connection, and
sign every request with botocore's SigV4 signer (the server checks it); nothing else of boto3
runs, so that the client costs as little as a signed request can. Each client's CPU time is
measured, so a result can say when the clients rather than the server were the limit.
"""

from __future__ import annotations

import http.client
import multiprocessing
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import botocore.auth
import botocore.credentials
import pyotp

from tokenbench.bench.perf.service_servers import FORM, REGION, Key, ServerClock, Signer

STEP = 30  # seconds per code
STS_VERSION = "2011-06-15"
READY_TIMEOUT = 120.0  # seconds for spawned clients to import botocore and connect
ROUND_TIMEOUT = 120.0
FAILURE_SNIPPET = 300  # characters of a refused answer kept for the report


@dataclass(frozen=True)
class Identity:
    """A user's access key and enabled virtual device; the seed is the benchmark's own."""

    key: Key
    serial: str
    seed_b32: str = field(repr=False)


@dataclass(frozen=True)
class RoundReport:
    ok: int
    failed: int
    cpu_seconds: float
    first_failure: str | None


@dataclass(frozen=True)
class LoadResult:
    """Measured rounds only (before them, one sign-in per client, unmeasured, opens the
    connections and warms the server's caches)."""

    ok: int
    failed: int
    seconds: float
    latencies: Sequence[float]  # seconds, sorted
    client_cpu_seconds: float
    clock_seconds: float
    server_cpu_seconds: float | None  # the server's processes, where /proc tells
    rounds: int
    clients: int
    first_failure: str | None

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        index = min(len(self.latencies) - 1, int(share * len(self.latencies)))
        return self.latencies[index]


def session_token_body(serial: str, code: str) -> bytes:
    form = {
        "Action": "GetSessionToken",
        "Version": STS_VERSION,
        "SerialNumber": serial,
        "TokenCode": code,
    }
    return urllib.parse.urlencode(form).encode()


class _Client:
    """One client process's devices, each signed by its owner's key, on one connection."""

    def __init__(self, url: str, identities: Sequence[Identity]) -> None:
        self.signer = Signer(url, identities[0].key, "sts")
        self.devices = [
            (
                identity.serial,
                botocore.auth.SigV4Auth(
                    botocore.credentials.Credentials(
                        identity.key.access_key_id, identity.key.secret
                    ),
                    "sts",
                    REGION,
                ),
                pyotp.TOTP(identity.seed_b32),
            )
            for identity in identities
        ]
        self.latencies: list[float] = []

    def round(self, now: float, measured: bool) -> RoundReport:
        cpu = time.process_time()
        ok = failed = 0
        first_failure = None
        devices = self.devices if measured else self.devices[:1]
        for serial, auth, totp in devices:
            body = session_token_body(serial, totp.at(int(now)))
            start = time.perf_counter()
            try:
                status, answer = self.signer.post("/", body, FORM, auth)
            except (OSError, http.client.HTTPException) as exc:
                self.signer.close()  # the next request opens a new connection
                status, answer = 0, f"{type(exc).__name__}: {exc}".encode()
            if measured:
                self.latencies.append(time.perf_counter() - start)
            if status == 200:
                ok += 1
                continue
            failed += 1
            if first_failure is None:
                first_failure = f"{status} {answer[:FAILURE_SNIPPET].decode(errors='replace')}"
        return RoundReport(ok, failed, time.process_time() - cpu, first_failure)


def _client_main(url: str, identities: Sequence[Identity], pipe: Connection) -> None:
    """A spawned client: answer each round order (server time, measured?) with a RoundReport;
    on None, send the measured latencies and stop."""
    client = _Client(url, identities)
    pipe.send("ready")
    while True:
        order = pipe.recv()
        if order is None:
            break
        now, measured = order
        pipe.send(client.round(now, measured))
    pipe.send(client.latencies)
    client.signer.close()


@dataclass
class _Totals:
    ok: int = 0
    failed: int = 0
    cpu: float = 0.0
    first_failure: str | None = None

    def add(self, report: RoundReport) -> None:
        self.merge(_Totals(report.ok, report.failed, report.cpu_seconds, report.first_failure))

    def merge(self, other: _Totals) -> None:
        self.ok += other.ok
        self.failed += other.failed
        self.cpu += other.cpu
        self.first_failure = self.first_failure or other.first_failure


def run_load(
    url: str,
    identities: Sequence[Identity],
    *,
    clients: int,
    seconds: float,
    clock: ServerClock | None,
    server_cpu: Callable[[], float | None] = lambda: None,
) -> LoadResult:
    """Rounds of one sign-in per device for about `seconds` (at least one measured round).
    With `clock` (our server), each round moves it a step on; without (moto), codes are for
    the wall time and nothing checks them. `server_cpu()` is the server's CPU time so far."""
    clients = max(1, min(clients, len(identities)))
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    for index in range(clients):
        mine, theirs = context.Pipe()
        share = list(identities[index::clients])
        process = context.Process(target=_client_main, args=(url, share, theirs), daemon=True)
        process.start()
        theirs.close()
        pipes.append(mine)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(READY_TIMEOUT):
                raise TimeoutError("a load client did not start")
            pipe.recv()
        return _rounds(pipes, clock, seconds, server_cpu)
    finally:
        for process in processes:
            process.join(timeout=READY_TIMEOUT)
            if process.is_alive():
                process.terminate()  # our own child, by its handle
        for pipe in pipes:
            pipe.close()


def _rounds(
    pipes: Sequence[Connection],
    clock: ServerClock | None,
    seconds: float,
    server_cpu: Callable[[], float | None],
) -> LoadResult:
    def one_round(measured: bool) -> tuple[_Totals, float]:
        moved = time.perf_counter()
        now = clock.advance(STEP) if clock is not None else time.time()
        moving = time.perf_counter() - moved
        for pipe in pipes:
            pipe.send((now, measured))
        totals = _Totals()
        for pipe in pipes:
            if not pipe.poll(ROUND_TIMEOUT):
                raise TimeoutError("a load client did not finish its round")
            totals.add(pipe.recv())
        return totals, moving

    one_round(measured=False)
    totals, clock_seconds, rounds = _Totals(), 0.0, 0
    cpu_before = server_cpu()
    start = time.perf_counter()
    while rounds == 0 or time.perf_counter() - start < seconds:
        measured, moving = one_round(measured=True)
        totals.merge(measured)
        clock_seconds += moving
        rounds += 1
    elapsed = time.perf_counter() - start
    cpu_after = server_cpu()
    latencies: list[float] = []
    for pipe in pipes:
        pipe.send(None)
    for pipe in pipes:
        if pipe.poll(ROUND_TIMEOUT):
            latencies.extend(pipe.recv())
    return LoadResult(
        ok=totals.ok,
        failed=totals.failed,
        seconds=elapsed,
        latencies=sorted(latencies),
        client_cpu_seconds=totals.cpu,
        clock_seconds=clock_seconds,
        server_cpu_seconds=(
            None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        ),
        rounds=rounds,
        clients=len(pipes),
        first_failure=totals.first_failure,
    )
