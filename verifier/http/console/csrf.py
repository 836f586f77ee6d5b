"""CSRF: a token per session, on every form (hidden field) and every WebAuthn JSON request
(header), compared in constant time against the one in the signed session cookie."""

from __future__ import annotations

import hmac

from tokenbench.verifier.http.console.sessions import ConsoleSession

FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token_matches(session: ConsoleSession | None, presented: object) -> bool:
    """True only for the session's own token; a missing session or token never matches."""
    if session is None or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(session.csrf.encode(), presented.encode())
