"""The verifier's tables and the ordered migrations that build them.

A `schema_version` table holds one row with the version reached. Each migration is a function
of a connection, run in order inside one transaction, so a database written by an older
tokenbench upgrades in place the first time a newer one opens it. The tables below describe the
latest version; version 1's device table lacked the lockout columns, tags and ceremonies
came in version 2, the key-check value of the store's KEK (see `kek.py`) in version 3, and in
version 4 what the IAM/STS service needs: access keys, temporary (STS) credentials, console
passwords, roles and user policies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DefaultClause,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.schema import SchemaItem

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created_at", Float, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("user_handle", LargeBinary(64), nullable=False),
    Column("is_root", Boolean, nullable=False, default=False),
    Column("path", String(512), nullable=False, default="/"),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "name_key", name="uq_identity_name"),
)


def _v1_device_columns() -> list[SchemaItem]:  # columns, then two constraints
    return [
        Column("serial", String(600), primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=True),
        Column("name", String(226), nullable=True),
        Column("name_key", String(226), nullable=True),
        Column("path", String(512), nullable=False, default="/"),
        Column("identity_id", Integer, ForeignKey("identities.id"), nullable=True),
        Column("enable_date", Float, nullable=True),
        Column("created_at", Float, nullable=False),
        Column("manufacturer", String(128), nullable=True),
        Column("seed_sealed", LargeBinary, nullable=True),
        Column("algorithm", String(8), nullable=True),
        Column("digits", Integer, nullable=True),
        Column("period", Integer, nullable=True),
        Column("drift_steps", Integer, nullable=False, default=0),
        Column("last_step", BigInteger, nullable=True),
        Column("credential_id", LargeBinary(1023), nullable=True),
        Column("public_key", LargeBinary, nullable=True),
        Column("sign_count", BigInteger, nullable=True),
        Column("aaguid", LargeBinary(16), nullable=True),
        Column("attestation_format", String(32), nullable=True),
        Column("attestation_trusted", Boolean, nullable=True),
        Column("backup_eligible", Boolean, nullable=True),
        Column("backup_state", Boolean, nullable=True),
        Column("possibly_cloned", Boolean, nullable=False, default=False),
        UniqueConstraint("account_id", "name_key", name="uq_device_name"),
        UniqueConstraint("identity_id", "credential_id", name="uq_device_credential"),
    ]


def _v2_device_columns() -> list[Column[Any]]:
    return [
        Column("failed_attempts", Integer, nullable=False, default=0, server_default="0"),
        Column("locked_until", Float, nullable=True),
    ]


mfa_devices = Table("mfa_devices", metadata, *_v1_device_columns(), *_v2_device_columns())

device_tags = Table(
    "mfa_device_tags",
    metadata,
    Column("serial", String(600), ForeignKey("mfa_devices.serial"), primary_key=True),
    Column("key_lower", String(128), primary_key=True),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
)

ceremonies = Table(
    "ceremonies",
    metadata,
    Column("ceremony_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("identity_id", Integer, ForeignKey("identities.id"), nullable=False),
    Column("challenge", LargeBinary(64), nullable=False),
    Column("device_name", String(226), nullable=True),
    Column("expires_at", Float, nullable=False),
)

# One row (id 1): a known block sealed under the store's KEK, so that a wrong KEK is refused
# before it seals anything (a store must never end up under two keys).
kek_check = Table(
    "kek_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sealed", LargeBinary, nullable=False),
)

# --- version 4: the service's principals ----------------------------------------------------

# Long-term access keys (AKIA…). The secret is sealed under the store's KEK (SigV4 needs the
# secret itself, so it cannot be hashed).
access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("identity_id", Integer, ForeignKey("identities.id"), nullable=False),
    Column("status", String(16), nullable=False),  # Active | Inactive
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
)

# Temporary credentials (ASIA…) from GetSessionToken / AssumeRole. The session token is kept as
# its SHA-256 only; the secret is sealed like an access key's.
sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("identity_id", Integer, ForeignKey("identities.id"), nullable=False),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("session_token_sha256", LargeBinary(32), nullable=False),
    Column("role_id", Integer, ForeignKey("roles.id"), nullable=True),
    Column("role_session_name", String(64), nullable=True),
    Column("mfa_serial", String(600), nullable=True),
    Column("mfa_authenticated_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Console passwords: a memory-hard hash (argon2id, PHC string), with the same lockout columns
# as a TOTP device.
login_profiles = Table(
    "login_profiles",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("password_reset_required", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", Float, nullable=True),
)

# Roles for AssumeRole: the trust policy is kept as the JSON document it was created with.
roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("role_name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False, default="/"),
    Column("trust_policy", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False, default=3600),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "name_key", name="uq_role_name"),
)

# Inline user policies (PutUserPolicy). Only the force-MFA shape has meaning to the service.
user_policies = Table(
    "user_policies",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("policy_name", String(128), nullable=False),
    Column("document", Text, nullable=False),
)

V4_TABLES = (roles, access_keys, sts_sessions, login_profiles, user_policies)


def _v1(conn: Connection) -> None:
    legacy = MetaData()
    for table in (schema_version, accounts, identities):
        table.to_metadata(legacy)
    Table("mfa_devices", legacy, *_v1_device_columns())
    legacy.create_all(conn)


def _v2(conn: Connection) -> None:
    preparer = conn.dialect.identifier_preparer
    schema = _schema_of(conn)
    table_name = preparer.quote(mfa_devices.name)
    if schema:
        table_name = f"{preparer.quote_schema(schema)}.{table_name}"
    for column in _v2_device_columns():
        column_sql = f"{preparer.format_column(column)} {column.type.compile(conn.dialect)}"
        server_default = column.server_default  # `server_default="0"` makes a DefaultClause
        default = (
            f" NOT NULL DEFAULT {server_default.arg}"
            if isinstance(server_default, DefaultClause)
            else ""
        )
        conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {column_sql}{default}")
    metadata.create_all(conn, tables=[device_tags, ceremonies])


def _v3(conn: Connection) -> None:
    metadata.create_all(conn, tables=[kek_check])


def _v4(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V4_TABLES))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2, _v3, _v4)
LATEST_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "schema_version", schema=_schema_of(conn)):
        return 0
    return int(conn.execute(select(schema_version.c.version)).scalar() or 0)


def _schema_of(conn: Connection) -> str | None:
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    return translate.get(None)


def migrate(conn: Connection, target: int = LATEST_VERSION) -> int:
    """Run the migrations after the stored version up to `target`; returns the new version."""
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this tokenbench "
            f"({LATEST_VERSION})"
        )
    for number in range(version + 1, target + 1):
        MIGRATIONS[number - 1](conn)
        if number == 1:
            conn.execute(schema_version.insert().values(version=1))
        else:
            conn.execute(schema_version.update().values(version=number))
    return max(version, target)
