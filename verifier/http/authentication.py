"""Who is calling: the SigV4 signature checked against the store's keys, then the credentials'
own rules (a session's token, its expiry), answered with AWS's codes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from tokenbench.verifier.http.sigv4 import SignatureError, SignedRequest, verify_signature
from tokenbench.verifier.principals import Principal
from tokenbench.verifier.service import Service

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"


@dataclass
class AuthenticationError(Exception):
    """A request the service will not attribute to anyone (AWS's code, message and status)."""

    code: str
    message: str
    status: int


def signed_request(request: Request, body: bytes) -> SignedRequest:
    return SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/",
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body=body,
    )


def authenticate(service: Service, request: Request, body: bytes) -> tuple[Principal, str]:
    """The principal behind a request and the service it signed for ("iam" or "sts")."""
    now = service.clock.now()  # the service's time: session expiry, MFA age
    found: dict[str, Principal] = {}

    def secret_for(access_key_id: str) -> str | None:
        principal = service.principals.resolve(access_key_id, now)
        if principal is None:
            return None
        found[access_key_id] = principal
        return principal.secret

    try:
        # The signature's age is measured on the wall clock, which is the one clients sign
        # with, even when a rehearsal has moved the service's own clock (`--clock fake`).
        verified = verify_signature(
            signed_request(request, body), now=time.time(), secret_for=secret_for
        )
    except SignatureError as exc:
        raise AuthenticationError(exc.code, exc.message, exc.status) from None
    principal = found[verified.access_key_id]
    if not principal.check_session_token(verified.security_token):
        raise AuthenticationError("InvalidClientTokenId", INVALID_TOKEN, 403)
    if principal.expires_at is not None and principal.expires_at <= now:
        raise AuthenticationError("ExpiredToken", EXPIRED_TOKEN, 400)
    return principal, verified.service
