"""Who signed a request: an access key ID resolved to the identity and credentials behind it.

Long-term keys (AKIA…) resolve while Active; an Inactive or unknown key resolves to None (the
app answers InvalidClientTokenId). Temporary credentials (ASIA…) resolve with their expiry even
after it has passed: the app verifies the signature with the secret first and then answers
ExpiredToken for `expires_at <= now` (`Principal.expired(now)`), as STS does.

What a principal may do (`caller`): the root identity and role sessions act as the account
administrator (roles carry no permission policies in this model, so a role session is as
powerful as the account that trusts it); a user, or a user's GetSessionToken session, acts on
itself, MFA-authenticated when its session was made with an MFA code.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Row, RowMapping, select

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.access_keys import ACTIVE, SEAL_LABEL, SESSION_KEY_PREFIX
from tokenbench.verifier.iam import Caller
from tokenbench.verifier.migrations import access_keys, identities, roles, sts_sessions
from tokenbench.verifier.roles import Role, role_from_row
from tokenbench.verifier.seeds import SeedCipher, SeedError
from tokenbench.verifier.store import Identity, Store

Kind = Literal["root", "user", "session", "assumed-role"]
SESSION_SEAL_LABEL = "sts-session:"
EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class Principal:
    """The identity behind one access key, with what SigV4 and the policy checks need."""

    access_key_id: str
    secret: str = field(repr=False)
    account_id: str
    identity: Identity = field(repr=False)
    kind: Kind
    arn: str
    user_id: str
    mfa_present: bool = False
    mfa_authenticated_at: float | None = None
    expires_at: float | None = None
    mfa_serial: str | None = None
    role: Role | None = field(default=None, repr=False)
    role_session_name: str | None = None
    token_sha256: bytes | None = field(default=None, repr=False)

    @classmethod
    def for_identity(cls, identity: Identity, account_id: str) -> Principal:
        """The identity as if it signed with a long-term key (the library's CLI acts so)."""
        return cls(
            access_key_id="",
            secret="",
            account_id=account_id,
            identity=identity,
            kind="root" if identity.is_root else "user",
            arn=_identity_arn(identity),
            user_id=account_id if identity.is_root else identity.user_id,
        )

    @property
    def is_temporary(self) -> bool:
        return self.token_sha256 is not None

    @property
    def is_root(self) -> bool:
        return self.identity.is_root

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def check_session_token(self, token: str | None) -> bool:
        """Temporary credentials must present their session token; long-term keys none."""
        if self.token_sha256 is None:
            return not token
        return bool(token) and hmac.compare_digest(token_digest(token or ""), self.token_sha256)

    @property
    def caller(self) -> Caller:
        if self.kind == "assumed-role" or self.identity.is_root:
            return Caller.admin()
        return Caller(self.identity.user_name, mfa_authenticated=self.mfa_present)

    @property
    def trust_arn(self) -> str:
        """The ARN a trust policy names to admit this principal (a role for a role session)."""
        return self.role.arn if self.role is not None else self.arn


class Principals:
    """Resolves access key IDs of one store (all accounts in it) to principals."""

    def __init__(self, store: Store, cipher: SeedCipher) -> None:
        self.store = store
        self.cipher = cipher

    def resolve(self, access_key_id: str, now: float) -> Principal | None:
        """The principal of an access key ID; None when unknown, Inactive or undecryptable.
        `now` is not used to refuse: an expired session still resolves (see the module doc)."""
        del now  # kept in the signature: the app passes its request time
        if not isinstance(access_key_id, str) or not access_key_id.isalnum():
            return None
        key_query = (
            select(access_keys, identities)
            .join(identities, identities.c.id == access_keys.c.identity_id)
            .where(access_keys.c.access_key_id == access_key_id)
        )
        session_query = (
            select(sts_sessions, identities)
            .join(identities, identities.c.id == sts_sessions.c.identity_id)
            .where(sts_sessions.c.access_key_id == access_key_id)
        )
        with self.store.read_only() as conn:
            if not access_key_id.startswith(SESSION_KEY_PREFIX):  # ASIA… are never long-term
                row = conn.execute(key_query).first()
                if row is not None:
                    return self._long_term(row)
            row = conn.execute(session_query).first()
            if row is None:
                return None
            role_row = None
            if row._mapping["role_id"] is not None:
                role_row = conn.execute(
                    select(roles).where(roles.c.id == row._mapping["role_id"])
                ).first()
        return self._session(row, None if role_row is None else role_from_row(role_row))

    def _long_term(self, row: Row[Any]) -> Principal | None:
        data = row._mapping
        if data["status"] != ACTIVE:
            return None
        secret = self._open(SEAL_LABEL, data["access_key_id"], data["sealed_secret"])
        if secret is None:
            return None
        identity = _identity(data)
        return Principal(
            access_key_id=data["access_key_id"],
            secret=secret,
            account_id=identity.account_id,
            identity=identity,
            kind="root" if identity.is_root else "user",
            arn=_identity_arn(identity),
            user_id=identity.user_id,
        )

    def _session(self, row: Row[Any], role: Role | None) -> Principal | None:
        data = row._mapping
        secret = self._open(SESSION_SEAL_LABEL, data["access_key_id"], data["sealed_secret"])
        if secret is None or (data["role_id"] is not None and role is None):
            return None
        identity = _identity(data)
        common = dict(
            access_key_id=data["access_key_id"],
            secret=secret,
            account_id=identity.account_id,
            identity=identity,
            mfa_present=data["mfa_authenticated_at"] is not None,
            mfa_authenticated_at=data["mfa_authenticated_at"],
            mfa_serial=data["mfa_serial"],
            expires_at=data["expires_at"],
            token_sha256=bytes(data["session_token_sha256"]),
        )
        if role is None:
            return Principal(
                kind="session", arn=_identity_arn(identity), user_id=identity.user_id, **common
            )
        session_name = data["role_session_name"]
        return Principal(
            kind="assumed-role",
            arn=names.assumed_role_arn(identity.account_id, role.role_name, session_name),
            user_id=f"{role.role_id}:{session_name}",
            role=role,
            role_session_name=session_name,
            **common,
        )

    def _open(self, label: str, key_id: str, sealed: bytes) -> str | None:
        try:
            return self.cipher.open(label + key_id, bytes(sealed)).decode("ascii")
        except (SeedError, UnicodeDecodeError):
            return None


def _identity(data: RowMapping) -> Identity:
    """The identity's columns of a joined row (looked up by column: names overlap)."""
    c = identities.c
    return Identity(
        id=data[c.id],
        account_id=data[c.account_id],
        user_name=data[c.user_name],
        user_id=data[c.user_id],
        user_handle=bytes(data[c.user_handle]),
        is_root=bool(data[c.is_root]),
        path=data[c.path],
        created_at=data[c.created_at],
    )


def _identity_arn(identity: Identity) -> str:
    return names.user_arn(identity.account_id, identity.path, identity.user_name, identity.is_root)
