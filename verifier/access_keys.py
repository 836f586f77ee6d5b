"""CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey: long-term credentials.

As in IAM: at most two keys per identity, IDs `AKIA` + 16 base32 characters, 40-character
secrets returned by CreateAccessKey only. SigV4 needs the secret itself, so it is stored sealed
under the store's KEK (associated data `access-key:<id>`: a sealed secret copied onto another
key's row does not open). Omitting UserName means the caller itself; for the account
administrator that is the root identity, whose first key `ensure_admin_key` mints when the
server starts (`tokenbench serve --admin-credentials FILE`).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import (
    ACCESS_DENIED,
    INVALID_INPUT,
    LIMIT_EXCEEDED,
    NO_SUCH_ENTITY,
    VALIDATION_ERROR,
    IamError,
)
from tokenbench.verifier.iam import ADMIN, Caller, IamService
from tokenbench.verifier.iam_pagination import paginate
from tokenbench.verifier.iam_users import ACCESS_KEYS_PER_USER
from tokenbench.verifier.migrations import access_keys, identities
from tokenbench.verifier.store import Identity

ACCESS_KEY_PREFIX = "AKIA"
SESSION_KEY_PREFIX = "ASIA"
KEY_ID_CHARS = 16
SECRET_BYTES = 30  # 40 base64 characters, as AWS's secrets
ACTIVE, INACTIVE = "Active", "Inactive"
STATUSES = (ACTIVE, INACTIVE)
SEAL_LABEL = "access-key:"
_KEY_LIMIT = f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"


def new_key_pair(prefix: str, rng: Any) -> tuple[str, str]:
    """A fresh (access key ID, secret access key)."""
    key_id = names.unique_id(prefix, rng, KEY_ID_CHARS)
    return key_id, base64.b64encode(rng(SECRET_BYTES)).decode("ascii")


def access_key_id(value: object) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 128 or not value.isalnum():
        raise IamError(
            VALIDATION_ERROR,
            "1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w]+ and length 16-128",
        )
    return value


class AccessKeys:
    """One account's long-term access keys, over the `IamService`'s store, KEK and clock."""

    def __init__(self, iam: IamService) -> None:
        self.iam = iam

    # --- operations ------------------------------------------------------------------------

    def create_access_key(
        self, *, UserName: str | None = None, caller: Caller = ADMIN
    ) -> dict[str, Any]:
        """A new Active key; the secret is in this answer and never again. LimitExceeded when
        the identity already has two."""
        owner = self._owner(UserName, caller)
        created = self._create(owner, refuse_when_any=False)
        assert created is not None
        key_id, secret, now = created
        return {
            "AccessKey": {
                "UserName": owner.user_name,
                "AccessKeyId": key_id,
                "Status": ACTIVE,
                "SecretAccessKey": secret,
                "CreateDate": names.iso_date(now),
            }
        }

    def list_access_keys(
        self,
        *,
        UserName: str | None = None,
        Marker: str | None = None,
        MaxItems: int | None = None,
        caller: Caller = ADMIN,
    ) -> dict[str, Any]:
        owner = self._owner(UserName, caller)
        query = (
            select(access_keys.c.access_key_id, access_keys.c.status, access_keys.c.created_at)
            .where(access_keys.c.identity_id == owner.id)
            .order_by(access_keys.c.created_at, access_keys.c.access_key_id)
        )
        with self.iam.store.read_only() as conn:
            rows = list(conn.execute(query))
        page, more = paginate(rows, Marker, MaxItems)
        metadata = [
            {
                "UserName": owner.user_name,
                "AccessKeyId": row.access_key_id,
                "Status": row.status,
                "CreateDate": names.iso_date(row.created_at),
            }
            for row in page
        ]
        return {"AccessKeyMetadata": metadata, **more}

    def update_access_key(
        self,
        *,
        AccessKeyId: str,
        Status: str,
        UserName: str | None = None,
        caller: Caller = ADMIN,
    ) -> dict[str, Any]:
        """Active or Inactive; an Inactive key no longer signs requests (resolves to nothing)."""
        access_key_id(AccessKeyId)
        if Status not in STATUSES:
            if Status == "Expired":
                raise IamError(INVALID_INPUT, "Status must be Active or Inactive.")
            raise IamError(
                VALIDATION_ERROR,
                "1 validation error detected: Value at 'status' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Active, Inactive, Expired]",
            )
        owner = self._owner(UserName, caller)
        with self.iam.store.transaction() as conn:
            result = conn.execute(
                update(access_keys).where(_key_of(AccessKeyId, owner)).values(status=Status)
            )
        if result.rowcount != 1:
            raise _no_key(AccessKeyId)
        return {}

    def delete_access_key(
        self, *, AccessKeyId: str, UserName: str | None = None, caller: Caller = ADMIN
    ) -> dict[str, Any]:
        access_key_id(AccessKeyId)
        owner = self._owner(UserName, caller)
        with self.iam.store.transaction() as conn:
            result = conn.execute(delete(access_keys).where(_key_of(AccessKeyId, owner)))
        if result.rowcount != 1:
            raise _no_key(AccessKeyId)
        return {}

    def ensure_admin_key(self) -> tuple[str, str] | None:
        """The root identity's first access key: (id, secret) when this call created it, None
        when root already has a key (so the credentials file is written on first start only)."""
        root = self.iam.store.root_identity(self.iam.account_id)
        if root is None:
            raise IamError(NO_SUCH_ENTITY, f"account {self.iam.account_id} has no root identity")
        created = self._create(root, refuse_when_any=True)
        return None if created is None else (created[0], created[1])

    # --- helpers ---------------------------------------------------------------------------

    def _owner(self, user_name: str | None, caller: Caller) -> Identity:
        """Whose keys: UserName, or the caller itself (root for the administrator)."""
        if user_name is None:
            if caller.is_admin:
                root = self.iam.store.root_identity(self.iam.account_id)
                assert root is not None  # open_account creates it
                return root
            assert caller.user_name is not None
            return self.iam.identity(caller.user_name)
        owner = self.iam.identity(user_name)
        if owner.is_root:
            raise IamError(NO_SUCH_ENTITY, f"The user with name {user_name} cannot be found.")
        if not caller.is_admin and (caller.user_name or "").lower() != owner.user_name.lower():
            raise IamError(
                ACCESS_DENIED, f"User {caller.user_name} is not authorized to act on {user_name}"
            )
        return owner

    def _create(self, owner: Identity, *, refuse_when_any: bool) -> tuple[str, str, float] | None:
        """Insert a key under the identity's row lock, so the two-key limit holds under
        concurrency; None when `refuse_when_any` and the identity already has a key."""
        key_id, secret = new_key_pair(ACCESS_KEY_PREFIX, self.iam.rng)
        now = self.iam.clock.now()
        sealed = self.iam.cipher.seal(SEAL_LABEL + key_id, secret.encode("ascii"))
        with self.iam.store.transaction() as conn:
            _lock(conn, owner.id)
            count = _key_count(conn, owner.id)
            if refuse_when_any and count:
                return None
            if count >= ACCESS_KEYS_PER_USER:
                raise IamError(LIMIT_EXCEEDED, _KEY_LIMIT)
            conn.execute(
                insert(access_keys).values(
                    access_key_id=key_id,
                    identity_id=owner.id,
                    status=ACTIVE,
                    sealed_secret=sealed,
                    created_at=now,
                )
            )
        return key_id, secret, now


def _key_of(key_id: str, owner: Identity) -> Any:
    return (access_keys.c.access_key_id == key_id) & (access_keys.c.identity_id == owner.id)


def _lock(conn: Connection, identity_id: int) -> None:
    conn.execute(select(identities.c.id).where(identities.c.id == identity_id).with_for_update())


def _key_count(conn: Connection, identity_id: int) -> int:
    query = select(func.count()).select_from(access_keys)
    return int(conn.execute(query.where(access_keys.c.identity_id == identity_id)).scalar_one())


def _no_key(key_id: str) -> IamError:
    return IamError(NO_SUCH_ENTITY, f"The Access Key with id {key_id} cannot be found.")
