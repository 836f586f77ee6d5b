"""pgbench as the measured limit: the sign-in's check-and-set, with no Python in the way.

The verifier's store-backed sign-in ends in one conditional UPDATE (`Store.record_totp_success`).
pgbench, PostgreSQL's own C client, runs that same statement against a table shaped like ours
on the same server, over the same loopback connection, so its rate is what the database can do
for this work; our rate divided by it says how much our side costs. Each pgbench client owns its
rows, as each of our workers owns its devices, so neither side measures lock contention.
"""

from __future__ import annotations

import glob
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.engine import URL, make_url

TABLE = "pgbench_devices"
ROWS_PER_CLIENT = 32  # as many devices as a benchmark worker signs in with
PROTOCOLS = ("prepared", "simple")
NOW = 1_800_000_000.0  # the `now` of the lockout condition; no row is ever locked
_TPS = re.compile(r"^tps = (\d+(?:\.\d*)?) \((without initial connection time|excluding[^)]*)\)$")
_TPS_ANY = re.compile(r"^tps = (\d+(?:\.\d*)?)\b")
_PROGRESS = re.compile(r"^progress: \d+(?:\.\d*)? s, (\d+(?:\.\d*)?) tps\b")
PROGRESS_SECONDS = 1  # pgbench's -P takes whole seconds
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin/pgbench"


class PgbenchError(Exception):
    """pgbench could not run, or its output held no rate."""


def find_pgbench() -> str | None:
    """pgbench on $PATH, else the newest PostgreSQL's (Debian keeps it off $PATH)."""
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob(_PG_BIN_GLOB), key=_version_key)
    return candidates[-1] if candidates else None


def _version_key(path: str) -> tuple[int, ...]:
    version = path.split("/")[-3]
    return tuple(int(part) for part in re.findall(r"\d+", version))


def parse_progress(report: str) -> list[float]:
    """The tps of each `-P` progress interval (pgbench writes them to stderr)."""
    rates = []
    for line in report.splitlines():
        found = _PROGRESS.match(line.strip())
        if found:
            rates.append(float(found.group(1)))
    return rates


def parse_tps(output: str) -> float:
    """Transactions per second from pgbench's report. The figure without connection set-up
    wins (PostgreSQL >= 14 prints only it; older ones print both, 'excluding' being that one)."""
    fallback = None
    for line in output.splitlines():
        line = line.strip()
        exact = _TPS.match(line)
        if exact:
            return float(exact.group(1))
        loose = _TPS_ANY.match(line)
        if loose and fallback is None:
            fallback = float(loose.group(1))
    if fallback is None:
        raise PgbenchError("no 'tps = ...' line in pgbench's output")
    return fallback


@dataclass(frozen=True)
class LibpqTarget:
    """A libpq connection URI and the password to pass through the environment (so that it
    never appears in a process list)."""

    uri: str
    password: str | None


def libpq_target(sqlalchemy_url: str) -> LibpqTarget:
    """`postgresql+psycopg://...` -> `postgresql://...` (the SQLAlchemy driver part stripped)."""
    url = make_url(sqlalchemy_url)
    if url.get_backend_name() != "postgresql":
        raise PgbenchError(f"pgbench needs a PostgreSQL URL, not {url.get_backend_name()}")
    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    return LibpqTarget(bare.render_as_string(hide_password=False), url.password)


def table_name(schema: str) -> str:
    return f'"{schema}".{TABLE}'


def create_table(conn: Connection, schema: str, clients: int) -> None:
    """The TOTP state columns of `mfa_devices`, one row set per pgbench client."""
    table = table_name(schema)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    conn.exec_driver_sql(
        f"CREATE TABLE {table} (serial VARCHAR(600) PRIMARY KEY, identity_id INTEGER,"
        " drift_steps INTEGER NOT NULL DEFAULT 0, last_step BIGINT,"
        " failed_attempts INTEGER NOT NULL DEFAULT 0, locked_until DOUBLE PRECISION)"
    )
    conn.exec_driver_sql(
        f"INSERT INTO {table} (serial, identity_id)"
        f" SELECT g::text, g FROM generate_series(0, {clients * ROWS_PER_CLIENT - 1}) AS g"
    )


def script(schema: str) -> str:
    """One sign-in's check-and-set: a fresh step on one of this client's rows, recorded only
    if newer and the row is unlocked, exactly as `Store.record_totp_success` words it."""
    return (
        f"\\set row random(0, {ROWS_PER_CLIENT - 1}) * :clients + :client_id\n"
        "\\set step :step + 1\n"
        f"UPDATE {table_name(schema)} SET last_step = :step, drift_steps = 0,"
        " failed_attempts = 0, locked_until = NULL"
        " WHERE serial = CAST(:row AS VARCHAR) AND identity_id = :row"
        " AND (last_step IS NULL OR last_step < :step)"
        " AND (locked_until IS NULL OR locked_until <= :now)"
        " RETURNING serial;\n"
    )


def run(
    pgbench: str,
    target: LibpqTarget,
    schema: str,
    *,
    clients: int,
    seconds: float,
    protocol: str,
) -> float:
    """pgbench's tps for `clients` clients (one thread each), run for `seconds` rounded up (at
    least two progress intervals): the best interval's, like our best slice, else the whole
    run's."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}")
    env = dict(os.environ)
    if target.password is not None:
        env["PGPASSWORD"] = target.password
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="tokenbench-pgbench-") as file:
        file.write(script(schema))
        file.flush()
        command = [
            pgbench,
            "-n",  # no vacuum of pgbench's own tables: there are none
            "-f",
            file.name,
            "-c",
            str(clients),
            "-j",
            str(clients),
            "-T",
            str(max(2 * PROGRESS_SECONDS, math.ceil(seconds))),
            "-P",
            str(PROGRESS_SECONDS),
            "-M",
            protocol,
            "-D",
            f"clients={clients}",
            "-D",
            "step=0",
            "-D",
            f"now={NOW}",
            target.uri,
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PgbenchError(f"pgbench exited with {done.returncode}: {last}")
    total = parse_tps(done.stdout)
    return max(parse_progress(done.stderr), default=total)
