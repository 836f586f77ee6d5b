"""The console's session: one signed cookie (itsdangerous), nothing kept on the server.

A session is in one of four stages: `anonymous` (only a CSRF token, so the sign-in form itself
is protected against login CSRF), `reset` (the password was right but the profile says it must
be changed first), `mfa` (the password was right, MFA is pending; nothing but the MFA page is
reachable) and `in` (signed in). Expiry is a field of the signed payload checked
against the service clock (not itsdangerous's wall-clock timestamps), so a rehearsal with a
fake clock sees sessions expire without waiting.

Cookie flags: HttpOnly (no script reads it), SameSite=Strict, Secure when the console is served
over HTTPS (then the `__Host-` name prefix also pins it to this host and path /). Strict rather
than Lax: nothing in the console is entered from another site with a session it should keep (no
federation redirects come back here), so there is no reason to send the cookie on any
cross-site request, even a top-level GET; the CSRF token stays the first defence, Strict the
second. Being stateless, signing out clears the cookie but cannot revoke a copy of it: a copied
cookie stays valid until its expiry (12 hours at most, the library's session length).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from tokenbench.verifier.iam import Caller, Clock

STAGE_ANONYMOUS, STAGE_RESET, STAGE_MFA, STAGE_IN = "anonymous", "reset", "mfa", "in"
STAGES = frozenset({STAGE_ANONYMOUS, STAGE_RESET, STAGE_MFA, STAGE_IN})
ANONYMOUS_SECONDS = 3600.0  # how long a sign-in form stays usable
MFA_PENDING_SECONDS = 300.0  # from the right password to the MFA answer
COOKIE_NAME = "tokenbench-console"
SECURE_COOKIE_NAME = "__Host-tokenbench-console"
CSRF_TOKEN_BYTES = 32
_SALT = "tokenbench.console.session"
MIN_SESSION_KEY_BYTES = 32


@dataclass(frozen=True)
class ConsoleSession:
    """What the cookie carries. `mfa` says the sign-in used an MFA device (IAM's
    `mfa_authenticated`); a user without devices signs in with the password alone."""

    stage: str
    csrf: str
    expires: float
    user: str | None = None
    mfa: bool = False
    serial: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.stage == STAGE_IN and self.user is not None

    @property
    def caller(self) -> Caller:
        assert self.user is not None
        return Caller(self.user, mfa_authenticated=self.mfa)


class SessionCodec:
    """Signs sessions into cookie values and back, and sets/clears the cookie."""

    def __init__(self, key: bytes, clock: Clock, *, secure: bool = False) -> None:
        if len(key) < MIN_SESSION_KEY_BYTES:
            raise ValueError(f"the session key needs at least {MIN_SESSION_KEY_BYTES} bytes")
        self._serializer = URLSafeSerializer(key, salt=_SALT)
        self.clock = clock
        self.secure = secure
        self.cookie_name = SECURE_COOKIE_NAME if secure else COOKIE_NAME

    def anonymous(self) -> ConsoleSession:
        return ConsoleSession(STAGE_ANONYMOUS, _new_csrf(), self.clock.now() + ANONYMOUS_SECONDS)

    def mfa_pending(self, user: str) -> ConsoleSession:
        return ConsoleSession(
            STAGE_MFA, _new_csrf(), self.clock.now() + MFA_PENDING_SECONDS, user=user
        )

    def reset_pending(self, user: str) -> ConsoleSession:
        """The password was right but must be changed (PasswordResetRequired) before MFA."""
        return ConsoleSession(
            STAGE_RESET, _new_csrf(), self.clock.now() + MFA_PENDING_SECONDS, user=user
        )

    def signed_in(
        self, previous: ConsoleSession, user: str, expires: float, serial: str | None
    ) -> ConsoleSession:
        """A new CSRF token at each stage change, so a token seen before sign-in is useless."""
        return replace(
            previous,
            stage=STAGE_IN,
            csrf=_new_csrf(),
            expires=expires,
            user=user,
            mfa=serial is not None,
            serial=serial,
        )

    def load(self, request: Request) -> ConsoleSession | None:
        """The request's session, or None when absent, tampered with, malformed or expired."""
        raw = request.cookies.get(self.cookie_name)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw)
        except BadSignature:
            return None
        session = _parse(data)
        if session is None or session.expires <= self.clock.now():
            return None
        return session

    def save(self, response: Response, session: ConsoleSession) -> None:
        response.set_cookie(
            self.cookie_name,
            self._serializer.dumps(asdict(session)),
            max_age=max(1, int(session.expires - self.clock.now())),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="strict"
        )


def _new_csrf() -> str:
    return secrets.token_urlsafe(CSRF_TOKEN_BYTES)


def _parse(data: Any) -> ConsoleSession | None:
    """A signed payload is ours, but check its shape anyway (a key shared with an older
    version, or a hand-made cookie signed with a leaked key, must not crash the page)."""
    if not isinstance(data, dict):
        return None
    stage, csrf, expires = data.get("stage"), data.get("csrf"), data.get("expires")
    user, mfa, serial = data.get("user"), data.get("mfa", False), data.get("serial")
    if stage not in STAGES or not isinstance(csrf, str) or not csrf:
        return None
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return None
    if user is not None and not isinstance(user, str):
        return None
    if serial is not None and not isinstance(serial, str):
        return None
    if not isinstance(mfa, bool) or (stage != STAGE_ANONYMOUS and user is None):
        return None
    return ConsoleSession(stage, csrf, float(expires), user, mfa, serial)
