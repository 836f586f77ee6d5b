"""Store-backed sign-ins from several workers: threads in this process, or worker processes.

Threads share one process, so Python's interpreter lock caps them near one core however many
there are; a real server runs several worker processes, each with its own store connections.
Both are measured over one shared window cut in slices, and the best slice (all workers summed)
counts, so a burst of other work on the machine costs a slice, not the figure. Every worker owns
its devices (as every pgbench client owns its rows), and each measurement starts its fake clocks
far beyond the last one's, so every sign-in is a fresh step that the replay check accepts.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Store
from tokenbench.verifier.totp import TotpKey, VerifyPolicy

PERIOD = 30
MEASUREMENT_SPAN = 10**8  # seconds of fake time per measurement: far more than any run uses
START_TIMEOUT = 120.0  # seconds for spawned workers to import and connect
SLICES = 5  # a measurement's window is cut in slices; the best slice counts
THREAD_START_DELAY = 0.05  # seconds: time for the threads to start before the window opens
PROCESS_START_DELAY = 0.2  # seconds: time for every worker to read its window


@dataclass(frozen=True)
class Fleet:
    """What a worker needs to sign in, picklable for a spawned process. The KEK and seeds are
    the benchmark's own random ones; they are never printed."""

    store_url: str = field(repr=False)  # may hold a password
    schema: str | None
    kek: bytes = field(repr=False)
    account_id: str
    users: tuple[str, ...]
    serials: tuple[str, ...]
    seeds: tuple[bytes, ...] = field(repr=False)
    policy: VerifyPolicy


@dataclass(frozen=True)
class Window:
    """When all workers measure: from `start` (time.monotonic, which on Linux is one clock for
    every process) for `slices` slices of `slice_seconds` each."""

    start: float
    slices: int
    slice_seconds: float

    @classmethod
    def after(cls, delay: float, seconds: float, slices: int = SLICES) -> Window:
        return cls(time.monotonic() + delay, slices, seconds / slices)

    @property
    def end(self) -> float:
        return self.start + self.slices * self.slice_seconds


@dataclass(frozen=True)
class WorkerResult:
    """Sign-ins per slice of the shared window (slices are aligned across workers)."""

    per_slice: tuple[int, ...]
    failure: str | None = None


@dataclass(frozen=True)
class Measurement:
    """All workers' results over one window. `rate` is the best slice's, all workers summed:
    other jobs on the machine only ever slow a slice down, as in `verifier_perf.rate`."""

    results: tuple[WorkerResult, ...]
    window: Window

    @property
    def rate(self) -> float:
        totals = [sum(r.per_slice[k] for r in self.results) for k in range(self.window.slices)]
        return max(totals, default=0) / self.window.slice_seconds

    @property
    def mean_rate(self) -> float:
        done = sum(sum(r.per_slice) for r in self.results)
        return done / (self.window.slices * self.window.slice_seconds)

    @property
    def failure(self) -> str | None:
        return next((r.failure for r in self.results if r.failure), None)


def sign_in_loop(
    service: IamService, clock: FakeClock, fleet: Fleet, mine: range, window: Window
) -> WorkerResult:
    """Sign in with each of `mine`'s devices in turn, a period later each round, through the
    window, counting each sign-in in the slice it finished in."""
    keys = [(i, TotpKey(fleet.seeds[i])) for i in mine]
    counts = [0] * window.slices
    time.sleep(max(0.0, window.start - time.monotonic()))
    now = time.monotonic()
    try:
        while now < window.end:
            clock.advance(PERIOD)
            for i, key in keys:
                code = key.code_at_step(key.step_at(clock.now()))
                service.sign_in(
                    UserName=fleet.users[i], SerialNumber=fleet.serials[i], TokenCode=code
                )
                now = time.monotonic()
                slice_index = int((now - window.start) / window.slice_seconds)
                if slice_index < window.slices:
                    counts[slice_index] += 1
    except Exception as exc:  # report, don't hide
        return WorkerResult(tuple(counts), f"{type(exc).__name__}: {exc}")
    return WorkerResult(tuple(counts))


def _service(store: Store, fleet: Fleet, clock: FakeClock) -> IamService:
    return IamService(store, SeedCipher(fleet.kek), clock, fleet.account_id, policy=fleet.policy)


def _share(fleet: Fleet, index: int, workers: int) -> range:
    return range(index, len(fleet.serials), workers)


def measure_threads(
    store: Store, fleet: Fleet, workers: int, seconds: float, start_at: float
) -> Measurement:
    """`workers` threads in this process, sharing `store` (and its connection pool)."""
    window = Window.after(THREAD_START_DELAY, seconds)
    results: list[WorkerResult | None] = [None] * workers

    def work(index: int) -> None:
        clock = FakeClock(start_at)
        service = _service(store, fleet, clock)
        results[index] = sign_in_loop(service, clock, fleet, _share(fleet, index, workers), window)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    died = WorkerResult((0,) * window.slices, "worker died")
    return Measurement(tuple(r or died for r in results), window)


def _process_worker(
    fleet: Fleet,
    index: int,
    workers: int,
    start_at: float,
    ready: Queue[int],
    go: Queue[Window],
    results: Queue[tuple[int, WorkerResult]],
) -> None:
    """A spawned worker: its own store (engine and pool), service and clock."""
    try:
        store = Store.open(fleet.store_url, schema=fleet.schema)
    except Exception as exc:
        ready.put(index)
        window = go.get()
        results.put((index, WorkerResult((0,) * window.slices, f"{type(exc).__name__}: {exc}")))
        return
    try:
        clock = FakeClock(start_at)
        service = _service(store, fleet, clock)
        mine = _share(fleet, index, workers)
        first = mine[0]  # a connection made and a statement prepared before the clock starts
        store.device_with_owner(fleet.serials[first])
        ready.put(index)
        window = go.get()
        results.put((index, sign_in_loop(service, clock, fleet, mine, window)))
    finally:
        store.close()


def measure_processes(fleet: Fleet, workers: int, seconds: float, start_at: float) -> Measurement:
    """`workers` spawned processes, given one window once all are connected."""
    context = multiprocessing.get_context("spawn")
    ready: Queue[int] = context.Queue()
    go: Queue[Window] = context.Queue()
    results: Queue[tuple[int, WorkerResult]] = context.Queue()
    processes = [
        context.Process(
            target=_process_worker, args=(fleet, i, workers, start_at, ready, go, results)
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=START_TIMEOUT)
        window = Window.after(PROCESS_START_DELAY, seconds)
        for _ in processes:
            go.put(window)
        collected = dict(results.get(timeout=START_TIMEOUT + seconds) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=START_TIMEOUT)
            if process.is_alive():
                process.terminate()  # only our own child, by its handle
    return Measurement(tuple(collected[i] for i in range(workers)), window)
