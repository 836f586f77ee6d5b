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

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.access_keys import ACTIVE, SEAL_LABEL, SESSION_KEY_PREFIX
from tokenbench.verifier.iam import Caller
from tokenbench.verifier.principals_hot import IDENTITY_PREFIX, ROLE_PREFIX, PrincipalStatements
from tokenbench.verifier.roles import Role
from tokenbench.verifier.seeds import SeedCipher, SeedError
from tokenbench.verifier.store import Identity, Store

Kind = Literal["root", "user", "session", "assumed-role"]
SESSION_SEAL_LABEL = "sts-session:"
EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"
SECRET_CACHE_SIZE = 4096  # unsealed secrets kept per process (a few hundred kB at most)


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
    """Resolves access key IDs of one store (all accounts in it) to principals.

    Every call reads the key's row (one compiled statement, `principals_hot`), so a deleted or
    deactivated key stops working at once; only the unsealed secret is remembered, keyed by
    the sealed blob it came from, which is what made resolving cost more than the sign-in.
    """

    def __init__(self, store: Store, cipher: SeedCipher) -> None:
        self.store = store
        self.cipher = cipher
        self._statements: PrincipalStatements | None = None
        self._secrets: dict[tuple[str, bytes], str] = {}

    @property
    def statements(self) -> PrincipalStatements:
        """Compiled on first use (a benign race: two threads may both compile once)."""
        if self._statements is None:
            self._statements = PrincipalStatements(self.store)
        return self._statements

    def resolve(self, access_key_id: str, now: float) -> Principal | None:
        """The principal of an access key ID; None when unknown, Inactive or undecryptable.
        `now` is not used to refuse: an expired session still resolves (see the module doc)."""
        del now  # kept in the signature: the app passes its request time
        if not isinstance(access_key_id, str) or not access_key_id.isalnum():
            return None
        # Two single statements, not one snapshot: an ID names a key or a session, never both.
        if not access_key_id.startswith(SESSION_KEY_PREFIX):  # ASIA… are never long-term
            data = self.statements.key(access_key_id)
            if data is not None:
                return self._long_term(data)
        data = self.statements.session(access_key_id)
        return None if data is None else self._session(data)

    def _long_term(self, data: dict[str, Any]) -> Principal | None:
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

    def _session(self, data: dict[str, Any]) -> Principal | None:
        role = _role(data)
        secret = self._open(SESSION_SEAL_LABEL, data["access_key_id"], data["sealed_secret"])
        if secret is None or (data["role_id"] is not None and role is None):
            return None  # undecryptable, or a role session whose role is gone
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
        """The secret, unsealed once per (key, sealed blob): a re-sealed key (a new KEK, a
        new secret) is a new entry, and a failure is never remembered."""
        cache_key = (label + key_id, bytes(sealed))
        secret = self._secrets.get(cache_key)
        if secret is not None:
            return secret
        try:
            secret = self.cipher.open(cache_key[0], cache_key[1]).decode("ascii")
        except (SeedError, UnicodeDecodeError):
            return None
        if len(self._secrets) >= SECRET_CACHE_SIZE:
            self._secrets.clear()  # sessions come and go; start over rather than track age
        self._secrets[cache_key] = secret
        return secret


def _identity(data: dict[str, Any]) -> Identity:
    """The identity's columns of a joined row (prefixed: names overlap)."""
    p = IDENTITY_PREFIX
    return Identity(
        id=data[p + "id"],
        account_id=data[p + "account_id"],
        user_name=data[p + "user_name"],
        user_id=data[p + "user_id"],
        user_handle=bytes(data[p + "user_handle"]),
        is_root=bool(data[p + "is_root"]),
        path=data[p + "path"],
        created_at=data[p + "created_at"],
    )


def _role(data: dict[str, Any]) -> Role | None:
    """A session's role from its joined row; None without one (or when it was deleted)."""
    p = ROLE_PREFIX
    if data[p + "id"] is None:
        return None
    return Role(
        id=data[p + "id"],
        account_id=data[p + "account_id"],
        role_name=data[p + "role_name"],
        role_id=data[p + "role_id"],
        path=data[p + "path"],
        trust_policy=data[p + "trust_policy"],
        max_session_duration=data[p + "max_session_duration"],
        created_at=data[p + "created_at"],
    )


def _identity_arn(identity: Identity) -> str:
    return names.user_arn(identity.account_id, identity.path, identity.user_name, identity.is_root)
