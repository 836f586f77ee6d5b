"""Which key-encryption key (KEK) a store's seeds are sealed under, and refusing any other.

A KEK found by accident (a key file created in whatever directory a command ran from) used to
seal new seeds under a second key, and those serials then failed everywhere else. Now the store
records a key-check value: a known block sealed under its KEK (row 1 of `kek_check`). A KEK
that does not open it is refused before anything is sealed, in one line naming where the key
came from. A store from before check values adopts the KEK that opens one of its seeds.

Where the KEK comes from: `kek_file`, else $TOKENBENCH_KEK, else the `.kek` file next to the
SQLite file (`A/iam.db` -> `A/iam.kek`), never the current directory. A key file is created
only for a store that is not yet bound to a key; a PostgreSQL store has no file to sit next
to, so its KEK must be named explicitly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from tokenbench.verifier.migrations import kek_check, mfa_devices
from tokenbench.verifier.seeds import KEK_ENV, SeedCipher, SeedError, load_kek
from tokenbench.verifier.store import Store

KEK_SUFFIX = ".kek"
CHECK_ROW = 1
CHECK_LABEL = "<kek-check>"  # sealed as if a serial; no device serial can contain "<"
CHECK_BLOCK = b"tokenbench key-encryption key check v1"
HOW_TO_NAME = f"give the store's key-encryption key with --kek-file or ${KEK_ENV}"


def describe(store: Store) -> str:
    """The store as a user named it: the SQLite path, or the URL without its password."""
    url = store.engine.url
    if store.dialect == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


def default_kek_file(store: Store) -> Path | None:
    """The key file next to a SQLite store's file; None for PostgreSQL or an in-memory store."""
    database = store.engine.url.database
    if store.dialect != "sqlite" or not database or database == ":memory:":
        return None
    path = Path(database)
    return (
        path.with_suffix(KEK_SUFFIX)
        if path.suffix != KEK_SUFFIX
        else path.with_name(path.name + KEK_SUFFIX)
    )


def _recorded(conn: Connection) -> bytes | None:
    value = conn.scalar(select(kek_check.c.sealed).where(kek_check.c.id == CHECK_ROW))
    return bytes(value) if value is not None else None


def _a_sealed_seed(conn: Connection) -> tuple[str, bytes] | None:
    query = select(mfa_devices.c.serial, mfa_devices.c.seed_sealed).where(
        mfa_devices.c.seed_sealed.is_not(None)
    )
    row = conn.execute(query.limit(1)).first()
    return (row.serial, bytes(row.seed_sealed)) if row is not None else None


def is_bound(store: Store) -> bool:
    """Whether the store already has a KEK: a key-check value or any sealed seed."""
    with store.engine.begin() as conn:
        return _recorded(conn) is not None or _a_sealed_seed(conn) is not None


def _opens(cipher: SeedCipher, label: str, sealed: bytes) -> bytes | None:
    try:
        return cipher.open(label, sealed)
    except SeedError:
        return None


def bind_cipher(store: Store, cipher: SeedCipher, origin: str) -> None:
    """Accept `cipher` only if it is the store's KEK; record the check value on first use.

    `origin` ("key file X", "$TOKENBENCH_KEK") names the key in the error. The check and the
    first recording happen in one write transaction; a concurrent first use that recorded
    another key first makes this one compare against it.
    """
    try:
        with store.engine.begin() as conn:
            recorded = _recorded(conn)
            if recorded is None:
                sample = _a_sealed_seed(conn)
                if sample is not None and _opens(cipher, *sample) is None:
                    raise SeedError(
                        f"{origin} does not open the seeds already in store {describe(store)}; "
                        + HOW_TO_NAME
                    )
                sealed = cipher.seal(CHECK_LABEL, CHECK_BLOCK)
                conn.execute(insert(kek_check).values(id=CHECK_ROW, sealed=sealed))
                return
    except IntegrityError:  # another process recorded its key between our read and insert
        with store.engine.begin() as conn:
            recorded = _recorded(conn)
    if recorded is None or _opens(cipher, CHECK_LABEL, recorded) != CHECK_BLOCK:
        raise SeedError(
            f"{origin} is not the key-encryption key of store {describe(store)} (its key-check "
            f"value does not match); {HOW_TO_NAME}"
        )


def store_cipher(
    store: Store,
    kek_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> SeedCipher:
    """The cipher for `store`'s seeds, from the first KEK source given (see module docstring).

    Raises `SeedError` (one line) for a KEK the store refuses, a missing key file of a store
    already bound to a key (it is not created: a new key would not open the old seeds), or a
    PostgreSQL store without an explicit KEK.
    """
    env = os.environ if environ is None else environ
    if kek_file is None and env.get(KEK_ENV):
        origin = f"${KEK_ENV}"
        kek = load_kek(None, environ=env)
    else:
        path = Path(kek_file) if kek_file is not None else default_kek_file(store)
        if path is None:
            raise SeedError(
                f"store {describe(store)} is not a SQLite file, so no key file sits next to "
                f"it: {HOW_TO_NAME}"
            )
        origin = f"key file {path}"
        if not path.exists() and is_bound(store):
            raise SeedError(
                f"{origin} does not exist and store {describe(store)} is already sealed under "
                f"a key-encryption key; {HOW_TO_NAME}"
            )
        kek = load_kek(path, environ={}, rng=rng)
    cipher = SeedCipher(kek)
    bind_cipher(store, cipher, origin)
    return cipher
