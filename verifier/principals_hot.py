"""The service's per-request statements on the hot path (`store_hot.HotPath`).

Every signed request resolves its access key ID, and every GetSessionToken or AssumeRole writes
one session row. Through `Store.read_only()` / `Store.transaction()` with statements built per
call, those cost more than the MFA sign-in itself: a principal is now one compiled SELECT (the
key or session, its identity and, for a role session, its role, joined in one round trip), and a
session is one compiled INSERT, each its own implicit transaction as the sign-in's statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select

from tokenbench.verifier.migrations import access_keys, identities, roles, sts_sessions
from tokenbench.verifier.store import Store

KEY_ID = "access_key_id"
IDENTITY_PREFIX = "owner_"  # not "identity_": access_keys has an identity_id
ROLE_PREFIX = "assumed_role_"  # not "role_": sts_sessions has a role_id


def _identity_columns() -> list[Any]:
    return [c.label(IDENTITY_PREFIX + c.name) for c in identities.c]


def _key_with_identity_query() -> Any:
    """A long-term key and its identity."""
    return (
        select(access_keys, *_identity_columns())
        .join(identities, identities.c.id == access_keys.c.identity_id)
        .where(access_keys.c.access_key_id == bindparam(KEY_ID))
    )


def _session_with_identity_query() -> Any:
    """A session, its identity and its role (NULLs for a GetSessionToken session, and for a
    role session whose role was deleted: the caller refuses the latter)."""
    return (
        select(
            sts_sessions,
            *_identity_columns(),
            *[c.label(ROLE_PREFIX + c.name) for c in roles.c],
        )
        .select_from(
            sts_sessions.join(identities, identities.c.id == sts_sessions.c.identity_id).outerjoin(
                roles, roles.c.id == sts_sessions.c.role_id
            )
        )
        .where(sts_sessions.c.access_key_id == bindparam(KEY_ID))
    )


def _session_insert() -> Any:
    """One session row; every column is a parameter named as the column."""
    return insert(sts_sessions).values({c: bindparam(c.name, type_=c.type) for c in sts_sessions.c})


KEY_WITH_IDENTITY = _key_with_identity_query()  # built once: these run on every request
SESSION_WITH_IDENTITY = _session_with_identity_query()
SESSION_INSERT = _session_insert()
KEY_COLUMNS = tuple(c.name for c in KEY_WITH_IDENTITY.selected_columns)
SESSION_COLUMNS = tuple(c.name for c in SESSION_WITH_IDENTITY.selected_columns)


class PrincipalStatements:
    """The statements compiled for one store, on a hot path of its engine."""

    def __init__(self, store: Store) -> None:
        # The store's own hot path: one SQLite writer lock per process queues this INSERT
        # behind a sign-in's UPDATE instead of letting them meet in SQLite's busy handler.
        self.path = store.hot_path
        self.key_with_identity = self.path.statement(KEY_WITH_IDENTITY, store.schema)
        self.session_with_identity = self.path.statement(SESSION_WITH_IDENTITY, store.schema)
        self.session_insert = self.path.statement(SESSION_INSERT, store.schema)

    def key(self, access_key_id: str) -> dict[str, Any] | None:
        row = self.path.first(self.key_with_identity, {KEY_ID: access_key_id})
        return None if row is None else dict(zip(KEY_COLUMNS, row, strict=True))

    def session(self, access_key_id: str) -> dict[str, Any] | None:
        row = self.path.first(self.session_with_identity, {KEY_ID: access_key_id})
        return None if row is None else dict(zip(SESSION_COLUMNS, row, strict=True))

    def add_session(self, values: dict[str, Any]) -> None:
        self.path.rowcount(self.session_insert, values)
