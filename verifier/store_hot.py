"""The sign-in hot path: a few Core statements compiled once, each run as its own transaction.

A TOTP sign-in reads one row (the device and its owner) and writes one row (the check-and-set).
Through `Store.transaction()` each cost three round trips on PostgreSQL (BEGIN, statement,
COMMIT), plus SQLAlchemy building the statement, looking up its compiled form and wrapping the
result: together ~85 % of a sign-in in the profile. A single statement is atomic on its own in
both databases, and every rule of the hot path already is one statement (the check-and-set is
one conditional UPDATE whose rowcount says who won), so here each runs alone in autocommit mode
on the pooled DBAPI connection: one round trip, a server-side prepared statement on PostgreSQL,
and on SQLite the statement's implicit transaction, which takes the write lock under the busy
timeout just as BEGIN IMMEDIATE does.

The SQL still comes from the Core tables, compiled by SQLAlchemy for the store's dialect and
schema; values pass through the column types' own bind and result processors, and driver errors
are raised as SQLAlchemy's `DBAPIError`s, as on the transactional path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import BigInteger, Engine, Float, Integer, bindparam, case, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from tokenbench.verifier.migrations import identities, mfa_devices

_Processor = Callable[[Any], Any]
SQLITE_DRIVER = "pysqlite"
PSYCOPG_DRIVER = "psycopg"
GENERIC = "generic"
_CURSOR = "tokenbench_hot_cursor"  # key in the pooled connection's `info`


class HotStatement:
    """One statement compiled for one engine and schema: the SQL text, how to lay out its
    parameters for the driver, and the processors its parameters and result columns need."""

    __slots__ = ("_binds", "_columns", "_defaults", "_dialect", "_names", "_results", "sql")

    def __init__(self, engine: Engine, statement: ClauseElement, schema: str | None) -> None:
        dialect = engine.dialect
        compiled = statement.compile(
            dialect=dialect,
            schema_translate_map={None: schema} if schema is not None else None,
            render_schema_translate=schema is not None,
        )
        assert isinstance(compiled, SQLCompiler)  # a SELECT or UPDATE: never DDL
        self.sql = compiled.string
        binds = list(compiled.binds.values())
        required = {bind.key for bind in binds if bind.required}
        # Values written into the statement (`failed_attempts=0`) travel as parameters too.
        self._defaults = {k: v for k, v in compiled.params.items() if k not in required}
        positional = compiled.positiontup if dialect.positional else None
        self._names: tuple[str, ...] | None = tuple(positional) if positional is not None else None
        self._binds: dict[str, _Processor] = {}
        for bind in binds:
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._binds[bind.key] = processor
        self._dialect = dialect
        self._columns: Sequence[Any] = getattr(statement, "exported_columns", ())
        self._results: tuple[tuple[int, _Processor], ...] | None = None

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple for positional paramstyles, else a dict."""
        merged = {**self._defaults, **values}
        for name, processor in self._binds.items():
            if name in merged:
                merged[name] = processor(merged[name])
        if self._names is None:
            return merged
        return tuple(merged[name] for name in self._names)

    def row(self, raw: Sequence[Any], cursor: Any) -> tuple[Any, ...]:
        """A result row through the column types' processors, chosen as SQLAlchemy does by the
        driver's type codes, once: psycopg builds `description` anew on every access."""
        if self._results is None:
            self._results = self._result_processors(cursor.description)
        if not self._results:
            return tuple(raw)
        row = list(raw)
        for index, processor in self._results:
            row[index] = processor(row[index])
        return tuple(row)

    def _result_processors(self, description: Sequence[Any]) -> tuple[tuple[int, _Processor], ...]:
        found = []
        for index, (column, described) in enumerate(zip(self._columns, description, strict=True)):
            impl = column.type.dialect_impl(self._dialect)
            processor = impl.result_processor(self._dialect, described[1])
            if processor is not None:
                found.append((index, processor))
        return tuple(found)


class HotPath:
    """Runs `HotStatement`s on an engine's pool, one statement per implicit transaction.

    SQLite connections are opened with `isolation_level = None` (the store issues BEGIN itself),
    so a statement without BEGIN is already its own transaction; a psycopg connection is switched
    to autocommit for the call and back before it returns to the pool, where the transactional
    path expects it. Any other driver gets the slow, sure way: a SQLAlchemy transaction around
    the statement, as before this module existed.
    """

    def __init__(self, engine: Engine, *, generic: bool = False) -> None:
        self.engine = engine
        driver = engine.dialect.driver
        self.mode = GENERIC if generic or driver not in (SQLITE_DRIVER, PSYCOPG_DRIVER) else driver
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in the
        # busy handler for 1 ms and more, while a check-and-set holds it for some 20 µs: with 8
        # threads that halved throughput. Queueing this process's hot writes on a lock first
        # loses no concurrency and wakes the next writer at once.
        self._writers: AbstractContextManager[Any] = (
            threading.Lock() if self.mode == SQLITE_DRIVER else nullcontext()
        )

    def statement(self, statement: ClauseElement, schema: str | None) -> HotStatement:
        return HotStatement(self.engine, statement, schema)

    def first(self, statement: HotStatement, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a query, processed, or None."""
        with self._cursor(statement, values) as cursor:
            raw = cursor.fetchone()
            return None if raw is None else statement.row(raw, cursor)

    def rowcount(self, statement: HotStatement, values: Mapping[str, Any]) -> int:
        """How many rows a write changed (for a check-and-set: 1 if this call won)."""
        with self._writers, self._cursor(statement, values) as cursor:
            return int(cursor.rowcount)

    @contextmanager
    def _cursor(self, statement: HotStatement, values: Mapping[str, Any]) -> Iterator[Any]:
        parameters = statement.parameters(values)
        if self.mode == GENERIC:
            with self.engine.begin() as conn:  # the store's own transaction, BEGIN and all
                result = conn.exec_driver_sql(statement.sql, parameters)
                yield result.cursor if result.returns_rows else result  # rows: DBAPI's cursor
            return
        fairy = self.engine.raw_connection()
        driver_conn: Any = fairy.driver_connection
        try:
            if self.mode == PSYCOPG_DRIVER:
                driver_conn.autocommit = True
                try:
                    cursor = fairy.info.get(_CURSOR)
                    if cursor is None or cursor.connection is not driver_conn:
                        cursor = fairy.info[_CURSOR] = driver_conn.cursor()  # kept: ~15 µs
                    yield cursor.execute(statement.sql, parameters, prepare=True)
                finally:
                    _restore_transactions(fairy, driver_conn)
            else:
                cursor = driver_conn.execute(statement.sql, parameters)
                yield cursor
                cursor.close()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            dbapi_connection = fairy.dbapi_connection
            disconnected = dbapi_connection is None or self.engine.dialect.is_disconnect(
                exc, dbapi_connection, None
            )
            if disconnected and dbapi_connection is not None:
                fairy.invalidate(exc)
            raise DBAPIError.instance(
                statement.sql,
                parameters,
                exc,
                self.engine.dialect.loaded_dbapi.Error,
                connection_invalidated=disconnected,
                dialect=self.engine.dialect,
            ) from exc
        finally:
            fairy.close()


def _restore_transactions(fairy: Any, driver_conn: Any) -> None:
    """Back to transactional mode before the pool hands the connection to `Store.transaction()`;
    a connection that cannot be switched back is discarded, never reused in autocommit. A lost
    connection is left to the caller, which reports the disconnect and discards it."""
    if driver_conn.closed or driver_conn.broken:
        return
    try:
        driver_conn.autocommit = False
    except Exception as exc:
        fairy.invalidate(exc)
        raise


# --- the sign-in's statements ------------------------------------------------------------


def _device_with_owner_query() -> Any:
    """A device and the identity it is assigned to, in one query."""
    owner = identities.alias("owner")
    return (
        select(mfa_devices, *[c.label(f"owner_{c.name}") for c in owner.c])
        .select_from(mfa_devices.outerjoin(owner, owner.c.id == mfa_devices.c.identity_id))
        .where(mfa_devices.c.serial == bindparam("serial"))
    )


DEVICE_WITH_OWNER = _device_with_owner_query()  # built once: this runs on every sign-in


def _totp_success_update(with_identity: bool) -> Any:
    """The replay check-and-set: the step is recorded only if newer and the device unlocked."""
    step = bindparam("step", type_=BigInteger)
    now = bindparam("now", type_=Float)
    conditions = [
        mfa_devices.c.serial == bindparam("serial"),
        or_(mfa_devices.c.last_step.is_(None), mfa_devices.c.last_step < step),
        or_(mfa_devices.c.locked_until.is_(None), mfa_devices.c.locked_until <= now),
    ]
    if with_identity:
        conditions.append(mfa_devices.c.identity_id == bindparam("identity_id", type_=Integer))
    return (
        sql_update(mfa_devices)
        .where(*conditions)
        .values(
            last_step=step,
            drift_steps=bindparam("drift_steps", type_=Integer),
            failed_attempts=0,
            locked_until=None,
        )
    )


def _totp_failure_update() -> Any:
    """Count a failure; the limit-th locks until `lock_until`; a lapsed lock restarts the count."""
    now = bindparam("now", type_=Float)
    lapsed = mfa_devices.c.locked_until.is_not(None) & (mfa_devices.c.locked_until <= now)
    failures = case((lapsed, 1), else_=mfa_devices.c.failed_attempts + 1)
    locked = case(
        (failures >= bindparam("limit", type_=Integer), bindparam("lock_until", type_=Float)),
        (lapsed, None),
        else_=mfa_devices.c.locked_until,
    )
    return (
        sql_update(mfa_devices)
        .where(mfa_devices.c.serial == bindparam("serial"))
        .values(failed_attempts=failures, locked_until=locked)
    )


_TOTP_SUCCESS = _totp_success_update(with_identity=False)
_TOTP_SUCCESS_OF_IDENTITY = _totp_success_update(with_identity=True)
_TOTP_FAILURE = _totp_failure_update()


class SignInStatements:
    """The sign-in's statements compiled for one store."""

    def __init__(self, path: HotPath, schema: str | None) -> None:
        self.device_with_owner = path.statement(DEVICE_WITH_OWNER, schema)
        self.totp_success = path.statement(_TOTP_SUCCESS, schema)
        self.totp_success_of_identity = path.statement(_TOTP_SUCCESS_OF_IDENTITY, schema)
        self.totp_failure = path.statement(_TOTP_FAILURE, schema)
