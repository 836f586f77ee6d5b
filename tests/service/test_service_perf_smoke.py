"""`bench/perf/service_perf.py` end to end at its smallest settings, and its counting.

The benchmark's figures are only worth printing if every request it counts was an accepted
sign-in: the smoke run checks each section printed a non-zero rate and no failure, and the
counting tests make the server refuse on purpose (a wrong secret, a replayed code) and check
that refusals are counted as failures, never as successes. No wall-clock assertion anywhere.

The PostgreSQL section needs $TOKENBENCH_PG_URL: run under `scripts/with-services.sh`.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tokenbench.bench.perf import service_perf
from tokenbench.bench.perf.service_load import Identity, LoadResult, run_load
from tokenbench.bench.perf.service_servers import Key, Running, ServerClock, tokenbench_serve

SMALLEST = [
    "--seconds", "0.3", "--users", "4", "--clients", "2",
    "--workers", "1", "2", "--library-processes", "2",
]  # fmt: skip
_HTTP = re.compile(
    r"^  HTTP, (?P<label>.+?): (?P<rate>[\d,]+) req/s, p50 [\d.]+ ms, p99 [\d.]+ ms;"
    r" (?P<ok>[\d,]+) accepted, (?P<failed>\d+) failed$"
)
_LIBRARY = re.compile(
    r"^  library \(IamService\.sign_in\), (?P<label>.+): (?P<rate>[\d,]+) sign-ins/s$"
)
IDLE_CLOSE_SECONDS = 5  # uvicorn's default keep-alive timeout, which `tokenbench serve` keeps
_SECTIONS = ("SQLite (WAL)", "PostgreSQL", "moto server mode")


def _pg_url() -> str:
    url = os.environ.get(service_perf.PG_ENV)
    if not url:
        pytest.fail(f"${service_perf.PG_ENV} is not set: run under scripts/with-services.sh")
    return url


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if not line.startswith(" "):
            current = sections.setdefault(line, [])
        else:
            current.append(line)
    return sections


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_every_section_measured(capsys: pytest.CaptureFixture[str]) -> None:
    _pg_url()
    assert service_perf.main(SMALLEST) == 0
    output = capsys.readouterr().out
    sections = _sections(output)
    for title in _SECTIONS:
        heading = next((h for h in sections if h.startswith(title)), None)
        assert heading is not None, f"no {title} section in:\n{output}"
        http = [m for m in map(_HTTP.match, sections[heading]) if m]
        library = [m for m in map(_LIBRARY.match, sections[heading]) if m]
        expected_http = 1 if title.startswith("moto") else 2
        assert len(http) == expected_http, output
        for match in http:
            assert _number(match["rate"]) > 0 and _number(match["ok"]) > 0, match.group(0)
            assert match["failed"] == "0", match.group(0)
        if not title.startswith("moto"):
            assert [m["label"] for m in http] == ["1 worker", "2 workers"]
            assert [m["label"] for m in library] == ["1 thread", "2 processes"]
            assert all(_number(m["rate"]) > 0 for m in library), output
    assert "FAILED" not in output and "first failure" not in output, output
    ratio = next(line for line in output.splitlines() if line.startswith("Ratio"))
    assert "HTTP with 2 workers on PostgreSQL" in ratio
    shares = re.findall(r"÷ library, (\d+ processes|1 thread) \([\d,]+/s\): (\d+)%", output)
    assert [label for label, _ in shares] == ["2 processes", "1 thread"], output


# -- counting: only 200 answers are successes ----------------------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Running, tuple[Identity, ...]]]:
    """Our server on SQLite with two enrolled users; its clock starts at the wall time."""
    tmp = tmp_path_factory.mktemp("service-perf")
    store = str(tmp / "iam.db")
    kek = secrets.token_hex(32)
    seeded = service_perf.seed(store, kek, 2)
    with tokenbench_serve(store, tmp / "admin-credentials", 1, kek) as running:
        yield running, seeded.identities


def test_a_wrong_secret_is_a_failure(server: tuple[Running, tuple[Identity, ...]]) -> None:
    running, identities = server
    forged = tuple(
        replace(i, key=Key(i.key.access_key_id, secrets.token_hex(20))) for i in identities
    )
    clock = ServerClock(running.url, _admin(running))
    try:
        result = run_load(running.url, forged, clients=1, seconds=0.1, clock=clock)
    finally:
        clock.close()
    assert result.ok == 0 and result.failed == len(forged) * result.rounds
    assert result.first_failure is not None and "SignatureDoesNotMatch" in result.first_failure


def test_a_replayed_code_is_a_failure(server: tuple[Running, tuple[Identity, ...]]) -> None:
    """With the clock held still, each device's code is accepted once and then replayed: the
    unmeasured first sign-in takes device 0's, the first measured round device 1's."""
    running, identities = server
    clock = ServerClock(running.url, _admin(running))
    try:
        clock.advance(30)  # a step no code was used in
        result = run_load(running.url, identities, clients=1, seconds=0.1, clock=_Still(clock))
    finally:
        clock.close()
    assert result.ok == 1 and result.failed == len(identities) * result.rounds - 1
    assert result.first_failure is not None and "AccessDenied" in result.first_failure


def test_a_connection_the_server_closed_while_idle_is_reopened(
    server: tuple[Running, tuple[Identity, ...]],
) -> None:
    """uvicorn closes a keep-alive connection after 5 s without a request; a round that slow
    must not turn the next request into a failure (the first full run stumbled on it)."""
    running, _ = server
    clock = ServerClock(running.url, _admin(running))
    try:
        before = clock.advance(0)
        time.sleep(IDLE_CLOSE_SECONDS + 1)
        assert clock.advance(30) == pytest.approx(before + 30)
    finally:
        clock.close()


class _Still(ServerClock):
    """The server's clock, read but never moved (advance(30) becomes advance(0))."""

    def __init__(self, clock: ServerClock) -> None:
        self.signer = clock.signer

    def advance(self, seconds: float) -> float:
        return super().advance(0)


def _admin(running: Running) -> Key:
    assert running.admin is not None
    return running.admin


# -- printing ---------------------------------------------------------------------------------


def _result(**changes: object) -> LoadResult:
    base = LoadResult(
        ok=100,
        failed=0,
        seconds=1.0,
        latencies=[i / 1000 for i in range(1, 101)],
        client_cpu_seconds=0.01,
        clock_seconds=0.01,
        server_cpu_seconds=0.5,
        rounds=5,
        clients=2,
        first_failure=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_percentiles_come_from_the_sorted_latencies() -> None:
    result = _result()
    assert result.percentile(0.5) == pytest.approx(0.051)
    assert result.percentile(0.99) == pytest.approx(0.100)
    assert result.rate == 100


def test_client_bound_is_said() -> None:
    cores = os.cpu_count() or 1
    busy = _result(client_cpu_seconds=cores * 1.0)  # the clients alone reach 100/s: bound
    assert "CLIENT-BOUND" in service_perf.http_line("HTTP", busy)
    assert "CLIENT-BOUND" not in service_perf.http_line("HTTP", _result())


def test_failures_are_shown() -> None:
    line = service_perf.http_line("HTTP", _result(failed=3, first_failure="403 AccessDenied"))
    assert "3 failed" in line and "first failure: 403 AccessDenied" in line


def test_ratio_against_both_library_figures() -> None:
    figures = service_perf.BackendFigures(
        http={1: _result(ok=50), 4: _result(ok=300)}, library={0: 400.0, 4: 800.0}
    )
    lines = service_perf.ratio_lines(figures, 4)
    assert "HTTP with 4 workers on PostgreSQL (300 req/s)" in lines[0]
    assert lines[1] == "  ÷ library, 4 processes (800/s): 38% (NOT met)"
    assert lines[2] == "  ÷ library, 1 thread (400/s): 75% (met)"


def test_seed_makes_working_identities(tmp_path: Path) -> None:
    seeded = service_perf.seed(str(tmp_path / "iam.db"), secrets.token_hex(32), 3)
    assert len(seeded.identities) == 3 == len(seeded.fleet.serials)
    assert [i.serial for i in seeded.identities] == list(seeded.fleet.serials)
    for identity, seed in zip(seeded.identities, seeded.fleet.seeds, strict=True):
        assert base64.b32encode(seed).decode().rstrip("=") == identity.seed_b32
