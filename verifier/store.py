"""Storage behind one small interface: SQLAlchemy Core on SQLite (default) or PostgreSQL.

Every rule that must hold under concurrency is one conditional statement here, never a
read-then-write in Python: a TOTP step is recorded only `WHERE last_step < :step`, a device is
assigned only `WHERE identity_id IS NULL`, a ceremony is consumed by the DELETE that removes it.
The rowcount says who won. SQLite runs in WAL mode with a busy timeout, and its write
transactions take the write lock up front (BEGIN IMMEDIATE) so a count-then-insert (the
8-device limit) cannot interleave, while reads stay concurrent (plain BEGIN); PostgreSQL locks
the identity row (SELECT ... FOR UPDATE). The sign-in's own statements (the device lookup and
the TOTP check-and-set) are single statements, so they run without BEGIN/COMMIT through
`store_hot`: one round trip each.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from tokenbench.verifier import migrations
from tokenbench.verifier.migrations import (
    accounts,
    ceremonies,
    device_tags,
    identities,
    mfa_devices,
)
from tokenbench.verifier.store_hot import DEVICE_WITH_OWNER, HotPath, SignInStatements

SQLITE_BUSY_TIMEOUT_MS = 15_000
DEFAULT_SQLITE_FILE = "tokenbench-iam.db"
_READ_ONLY = "tokenbench_read_only"
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class DuplicateError(Exception):
    """An insert hit a uniqueness rule (name, serial, credential)."""


@dataclass(frozen=True)
class Identity:
    id: int
    account_id: str
    user_name: str
    user_id: str
    user_handle: bytes
    is_root: bool
    path: str
    created_at: float


@dataclass(frozen=True)
class Device:
    """One MFA device row; which fields are set depends on `kind`."""

    serial: str
    kind: str
    created_at: float
    account_id: str | None = None
    name: str | None = None
    path: str = "/"
    identity_id: int | None = None
    enable_date: float | None = None
    manufacturer: str | None = None
    seed_sealed: bytes | None = None
    algorithm: str | None = None
    digits: int | None = None
    period: int | None = None
    drift_steps: int = 0
    last_step: int | None = None
    failed_attempts: int = 0
    locked_until: float | None = None
    credential_id: bytes | None = None
    public_key: bytes | None = None
    sign_count: int | None = None
    aaguid: bytes | None = None
    attestation_format: str | None = None
    attestation_trusted: bool | None = None
    backup_eligible: bool | None = None
    backup_state: bool | None = None
    possibly_cloned: bool = False

    def __repr__(self) -> str:  # never show the sealed seed, even encrypted
        return f"Device(serial={self.serial!r}, kind={self.kind!r}, identity={self.identity_id})"


@dataclass(frozen=True)
class Ceremony:
    ceremony_id: str
    kind: str
    identity_id: int
    challenge: bytes
    device_name: str | None
    expires_at: float


_DEVICE_FIELDS = tuple(f.name for f in fields(Device))


def _device(row: Any) -> Device:
    data = row._mapping
    return Device(**{name: data[name] for name in _DEVICE_FIELDS})


def _identity(row: Any) -> Identity:
    data = row._mapping
    return Identity(**{f.name: data[f.name] for f in fields(Identity)})


_OWNER_FIELDS = tuple(f.name for f in fields(Identity))


def _row_layout() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where each Device and each owner Identity field sits in a `DEVICE_WITH_OWNER` row."""
    names = [c.key for c in DEVICE_WITH_OWNER.selected_columns]
    device = tuple(names.index(name) for name in _DEVICE_FIELDS)
    owner = tuple(names.index(f"owner_{name}") for name in _OWNER_FIELDS)
    return device, owner


_DEVICE_AT, _OWNER_AT = _row_layout()


def normalize_url(url_or_path: str) -> str:
    """A plain file path means a SQLite file; anything with `://` is a SQLAlchemy URL."""
    if "://" in url_or_path:
        if url_or_path.startswith("postgresql://"):
            return "postgresql+psycopg://" + url_or_path[len("postgresql://") :]
        return url_or_path
    return f"sqlite:///{os.path.abspath(url_or_path)}"


def _sqlite_engine(url: str) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        reading = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


class Store:
    """The verifier's persistent state. Open with `Store.open(url)`; the schema is migrated."""

    def __init__(self, engine: Engine, schema: str | None = None) -> None:
        self.schema = schema
        if schema is not None:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine = engine
        self.dialect = engine.dialect.name
        self.hot_path = HotPath(engine)  # shared by every hot statement of this store
        self._hot_statements: SignInStatements | None = None

    @property
    def _hot(self) -> SignInStatements:
        """Compiled on first use (a benign race: two threads may both compile once)."""
        if self._hot_statements is None:
            self._hot_statements = SignInStatements(self.hot_path, self.schema)
        return self._hot_statements

    @classmethod
    def open(cls, url: str = DEFAULT_SQLITE_FILE, *, schema: str | None = None) -> Store:
        url = normalize_url(url)
        if url.startswith("sqlite"):
            if schema is not None:
                raise ValueError("a schema name applies to PostgreSQL only")
            engine = _sqlite_engine(url)
        else:
            engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)
        store = cls(engine, schema)
        store.upgrade()
        return store

    def upgrade(self, target: int = migrations.LATEST_VERSION) -> int:
        with self.engine.begin() as conn:
            if self.schema is not None:
                if not _SCHEMA_RE.fullmatch(self.schema):
                    raise ValueError(f"bad schema name {self.schema!r}")
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            return migrations.migrate(conn, target)

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return migrations.current_version(conn)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read_only(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self.engine.execution_options(**{_READ_ONLY: True}).begin() as conn:
            yield conn

    # --- accounts and identities ----------------------------------------------------------

    def accounts(self) -> list[str]:
        with self.read_only() as conn:
            return list(conn.scalars(select(accounts.c.account_id).order_by(accounts.c.created_at)))

    def add_account(self, account_id: str, now: float) -> None:
        try:
            with self.transaction() as conn:
                conn.execute(insert(accounts).values(account_id=account_id, created_at=now))
        except IntegrityError:
            raise DuplicateError(f"account {account_id} exists") from None

    def add_identity(
        self,
        account_id: str,
        user_name: str,
        *,
        user_id: str,
        user_handle: bytes,
        is_root: bool,
        path: str,
        now: float,
    ) -> Identity:
        values = dict(
            account_id=account_id,
            user_name=user_name,
            name_key=user_name.lower(),
            user_id=user_id,
            user_handle=user_handle,
            is_root=is_root,
            path=path,
            created_at=now,
        )
        try:
            with self.transaction() as conn:
                inserted = conn.execute(insert(identities).values(**values)).inserted_primary_key
                assert inserted is not None  # a single-row INSERT: SQLAlchemy returns its key
                new_id: int = inserted[0]
        except IntegrityError:
            raise DuplicateError(f"user {user_name} exists") from None
        return Identity(
            id=new_id,
            account_id=account_id,
            user_name=user_name,
            user_id=user_id,
            user_handle=user_handle,
            is_root=is_root,
            path=path,
            created_at=now,
        )

    def identity(self, account_id: str, user_name: str) -> Identity | None:
        query = select(identities).where(
            identities.c.account_id == account_id, identities.c.name_key == user_name.lower()
        )
        with self.read_only() as conn:
            row = conn.execute(query).first()
        return _identity(row) if row else None

    def identity_by_id(self, identity_id: int) -> Identity | None:
        with self.read_only() as conn:
            row = conn.execute(select(identities).where(identities.c.id == identity_id)).first()
        return _identity(row) if row else None

    def root_identity(self, account_id: str) -> Identity | None:
        query = select(identities).where(
            identities.c.account_id == account_id, identities.c.is_root.is_(True)
        )
        with self.read_only() as conn:
            row = conn.execute(query).first()
        return _identity(row) if row else None

    def identities_of(self, account_id: str) -> list[Identity]:
        query = (
            select(identities)
            .where(identities.c.account_id == account_id)
            .order_by(identities.c.id)
        )
        with self.read_only() as conn:
            return [_identity(r) for r in conn.execute(query)]

    # --- devices -----------------------------------------------------------------------------

    def add_devices(self, devices: Sequence[Device]) -> None:
        """Insert all or none (one transaction): used by seed imports and device creation."""
        rows = []
        for device in devices:
            row = {name: getattr(device, name) for name in _DEVICE_FIELDS}
            name = device.name if device.kind == "virtual" else None
            row["name_key"] = name.lower() if name is not None else None
            rows.append(row)
        try:
            with self.transaction() as conn:
                if rows:
                    conn.execute(insert(mfa_devices), rows)
        except IntegrityError:
            raise DuplicateError("a device with this serial, name or credential exists") from None

    def device(self, serial: str) -> Device | None:
        with self.read_only() as conn:
            row = conn.execute(select(mfa_devices).where(mfa_devices.c.serial == serial)).first()
        return _device(row) if row else None

    def devices(
        self,
        *,
        account_id: str | None = None,
        identity_id: int | None = None,
        kinds: Sequence[str] | None = None,
        assigned: bool | None = None,
    ) -> list[Device]:
        query = select(mfa_devices).order_by(mfa_devices.c.created_at, mfa_devices.c.serial)
        if account_id is not None:
            query = query.where(mfa_devices.c.account_id == account_id)
        if identity_id is not None:
            query = query.where(mfa_devices.c.identity_id == identity_id)
        if kinds is not None:
            query = query.where(mfa_devices.c.kind.in_(list(kinds)))
        if assigned is True:
            query = query.where(mfa_devices.c.identity_id.is_not(None))
        elif assigned is False:
            query = query.where(mfa_devices.c.identity_id.is_(None))
        with self.read_only() as conn:
            return [_device(r) for r in conn.execute(query)]

    def device_with_owner(self, serial: str) -> tuple[Device | None, Identity | None]:
        """A device and the identity it is assigned to: one statement, one round trip (the
        sign-in hot path; a single SELECT sees one consistent snapshot without BEGIN)."""
        row = self.hot_path.first(self._hot.device_with_owner, {"serial": serial})
        if row is None:
            return None, None
        device = Device(*[row[i] for i in _DEVICE_AT])
        if row[_OWNER_AT[0]] is None:
            return device, None
        return device, Identity(*[row[i] for i in _OWNER_AT])

    def device_by_credential(self, identity_id: int, credential_id: bytes) -> Device | None:
        query = select(mfa_devices).where(
            mfa_devices.c.identity_id == identity_id,
            mfa_devices.c.credential_id == credential_id,
        )
        with self.read_only() as conn:
            row = conn.execute(query).first()
        return _device(row) if row else None

    def assign_device(
        self,
        serial: str,
        identity: Identity,
        *,
        limit: int,
        enable_date: float,
        last_step: int | None = None,
        drift_steps: int = 0,
    ) -> str:
        """Assign an unassigned device; returns "ok", "limit" or "taken" (lost a race)."""
        with self.transaction() as conn:
            self._lock_identity(conn, identity.id)
            if self._count_assigned(conn, identity.id) >= limit:
                return "limit"
            result = conn.execute(
                sql_update(mfa_devices)
                .where(mfa_devices.c.serial == serial, mfa_devices.c.identity_id.is_(None))
                .values(
                    identity_id=identity.id,
                    account_id=identity.account_id,
                    enable_date=enable_date,
                    last_step=last_step,
                    drift_steps=drift_steps,
                    failed_attempts=0,
                    locked_until=None,
                )
            )
            return "ok" if result.rowcount == 1 else "taken"

    def add_assigned_device(self, device: Device, identity: Identity, *, limit: int) -> str:
        """Insert a device already assigned (FIDO registration); "ok", "limit" or "duplicate"."""
        row = {name: getattr(device, name) for name in _DEVICE_FIELDS}
        row.update(identity_id=identity.id, account_id=identity.account_id, name_key=None)
        try:
            with self.transaction() as conn:
                self._lock_identity(conn, identity.id)
                if self._count_assigned(conn, identity.id) >= limit:
                    return "limit"
                conn.execute(insert(mfa_devices).values(**row))
        except IntegrityError:
            return "duplicate"
        return "ok"

    @staticmethod
    def _lock_identity(conn: Connection, identity_id: int) -> None:
        query = select(identities.c.id).where(identities.c.id == identity_id)
        conn.execute(query.with_for_update())

    @staticmethod
    def _count_assigned(conn: Connection, identity_id: int) -> int:
        query = select(func.count()).where(mfa_devices.c.identity_id == identity_id)
        return int(conn.execute(query.select_from(mfa_devices)).scalar_one())

    def count_assigned(self, identity_id: int) -> int:
        with self.read_only() as conn:
            return self._count_assigned(conn, identity_id)

    def unassign_device(self, serial: str, identity_id: int, *, forget_account: bool) -> bool:
        """Detach a device from its identity (DeactivateMFADevice); FIDO rows are deleted."""
        with self.transaction() as conn:
            device = conn.execute(
                select(mfa_devices.c.kind).where(
                    mfa_devices.c.serial == serial, mfa_devices.c.identity_id == identity_id
                )
            ).first()
            if device is None:
                return False
            if device.kind == "fido":
                conn.execute(delete(device_tags).where(device_tags.c.serial == serial))
                conn.execute(delete(mfa_devices).where(mfa_devices.c.serial == serial))
                return True
            values: dict[str, Any] = dict(
                identity_id=None,
                enable_date=None,
                last_step=None,
                drift_steps=0,
                failed_attempts=0,
                locked_until=None,
            )
            if forget_account:
                values["account_id"] = None
            result = conn.execute(
                sql_update(mfa_devices)
                .where(mfa_devices.c.serial == serial, mfa_devices.c.identity_id == identity_id)
                .values(**values)
            )
            return result.rowcount == 1

    def delete_unassigned(self, serial: str) -> str:
        """Delete an unassigned device: "ok", "assigned" or "missing"."""
        with self.transaction() as conn:
            row = conn.execute(
                select(mfa_devices.c.identity_id).where(mfa_devices.c.serial == serial)
            ).first()
            if row is None:
                return "missing"
            if row.identity_id is not None:
                return "assigned"
            conn.execute(delete(device_tags).where(device_tags.c.serial == serial))
            result = conn.execute(
                delete(mfa_devices).where(
                    mfa_devices.c.serial == serial, mfa_devices.c.identity_id.is_(None)
                )
            )
            return "ok" if result.rowcount == 1 else "assigned"

    def delete_unassigned_virtual(self, account_id: str) -> int:
        """The console's clean-up before adding a virtual device; returns how many went."""
        condition = (
            (mfa_devices.c.account_id == account_id)
            & (mfa_devices.c.kind == "virtual")
            & mfa_devices.c.identity_id.is_(None)
        )
        with self.transaction() as conn:
            serials = select(mfa_devices.c.serial).where(condition)
            conn.execute(delete(device_tags).where(device_tags.c.serial.in_(serials)))
            return conn.execute(delete(mfa_devices).where(condition)).rowcount

    # --- TOTP state: the atomic check-and-set -------------------------------------------------

    def record_totp_success(
        self, serial: str, identity_id: int | None, *, step: int, drift_steps: int, now: float
    ) -> bool:
        """Record an accepted step iff it is newer than the last one and the device is not
        locked; False means another request already used this step (a replay) or a lock won."""
        values: dict[str, Any] = {
            "serial": serial,
            "step": step,
            "drift_steps": drift_steps,
            "now": now,
        }
        statement = self._hot.totp_success
        if identity_id is not None:
            statement = self._hot.totp_success_of_identity
            values["identity_id"] = identity_id
        return self.hot_path.rowcount(statement, values) == 1

    def record_totp_failure(self, serial: str, *, now: float, limit: int, cooldown: float) -> None:
        """Count a failure atomically; the limit-th failure locks the device until now+cooldown.
        A lock whose cool-down has passed starts a fresh count."""
        values = {"serial": serial, "now": now, "limit": limit, "lock_until": now + cooldown}
        self.hot_path.rowcount(self._hot.totp_failure, values)

    # --- FIDO bookkeeping ----------------------------------------------------------------------

    def record_sign_count(self, serial: str, *, new_count: int, backup_state: bool) -> bool:
        """Store a larger counter (or keep 0 for authenticators without one); never lowers."""
        with self.transaction() as conn:
            result = conn.execute(
                sql_update(mfa_devices)
                .where(
                    mfa_devices.c.serial == serial,
                    or_(mfa_devices.c.sign_count < new_count, mfa_devices.c.sign_count == 0),
                )
                .values(sign_count=new_count, backup_state=backup_state)
            )
            return result.rowcount == 1

    def mark_possibly_cloned(self, serial: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                sql_update(mfa_devices)
                .where(mfa_devices.c.serial == serial)
                .values(possibly_cloned=True)
            )

    # --- tags -------------------------------------------------------------------------------

    def tags(self, serial: str) -> list[tuple[str, str]]:
        query = (
            select(device_tags.c.key, device_tags.c.value)
            .where(device_tags.c.serial == serial)
            .order_by(device_tags.c.key_lower)
        )
        with self.read_only() as conn:
            return [(r.key, r.value) for r in conn.execute(query)]

    def put_tags(self, serial: str, tags: Sequence[tuple[str, str]], *, limit: int) -> bool:
        """Add or overwrite tags (keys case-insensitive); False if the result would exceed limit."""
        with self.transaction() as conn:
            existing = {
                r.key_lower
                for r in conn.execute(
                    select(device_tags.c.key_lower).where(device_tags.c.serial == serial)
                )
            }
            new_keys = {key.lower() for key, _ in tags}
            if len(existing | new_keys) > limit:
                return False
            conn.execute(
                delete(device_tags).where(
                    device_tags.c.serial == serial, device_tags.c.key_lower.in_(list(new_keys))
                )
            )
            conn.execute(
                insert(device_tags),
                [{"serial": serial, "key_lower": k.lower(), "key": k, "value": v} for k, v in tags],
            )
            return True

    def remove_tags(self, serial: str, keys: Sequence[str]) -> None:
        lowered = [k.lower() for k in keys]
        with self.transaction() as conn:
            conn.execute(
                delete(device_tags).where(
                    device_tags.c.serial == serial, device_tags.c.key_lower.in_(lowered)
                )
            )

    # --- WebAuthn ceremonies ----------------------------------------------------------------

    def save_ceremony(self, ceremony: Ceremony, *, now: float) -> None:
        with self.transaction() as conn:
            conn.execute(delete(ceremonies).where(ceremonies.c.expires_at < now))
            values = {f.name: getattr(ceremony, f.name) for f in fields(Ceremony)}
            conn.execute(insert(ceremonies).values(**values))

    def take_ceremony(self, ceremony_id: str, kind: str) -> Ceremony | None:
        """Fetch and delete in one transaction: a challenge can be answered once."""
        condition = (ceremonies.c.ceremony_id == ceremony_id) & (ceremonies.c.kind == kind)
        with self.transaction() as conn:
            row = conn.execute(select(ceremonies).where(condition)).first()
            if row is None or conn.execute(delete(ceremonies).where(condition)).rowcount != 1:
                return None
        data = row._mapping
        return Ceremony(**{f.name: data[f.name] for f in fields(Ceremony)})
