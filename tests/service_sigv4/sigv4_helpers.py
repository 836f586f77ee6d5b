"""Requests signed by botocore, the reference client, turned into what our server receives.

botocore signs with the wall clock; each helper returns the request together with the instant
it was signed (from its own X-Amz-Date), so tests move `now` around that instant instead of
patching time.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tokenbench.verifier.http.sigv4 import SignedRequest, VerifiedSignature, verify_signature

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example, not a secret
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDExample+token=="
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:8111/"
IAM_BODY = b"Action=ListUsers&Version=2010-05-08"
STS_BODY = b"Action=GetSessionToken&Version=2011-06-15&SerialNumber=arn%3Aaws%3Aiam%3A%3A1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
KEYS = {ACCESS_KEY_ID: SECRET}


def credentials(token: str | None = None, secret: str = SECRET) -> Credentials:
    return Credentials(ACCESS_KEY_ID, secret, token)


def received(request: AWSRequest) -> SignedRequest:
    """What an HTTP server sees of `request`: raw path and query, headers (Host added as
    urllib3 adds it), the body bytes."""
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    # The signed request's own headers keep repeated names; prepare() collapses them.
    headers = [(name, str(value)) for name, value in request.headers.items()]
    sent = {name.lower() for name, _ in headers}
    headers += [(n, str(v)) for n, v in prepared.headers.items() if n.lower() not in sent]
    if not any(name.lower() == "host" for name, _ in headers):
        headers.append(("Host", url.netloc))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return SignedRequest(prepared.method, url.path or "/", url.query, headers, body)


def signed_at(request: SignedRequest) -> float:
    """The instant botocore put in X-Amz-Date (header or query)."""
    for name, value in request.headers:
        if name.lower() == "x-amz-date":
            return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    for piece in request.query.split("&"):
        name, _, value = piece.partition("=")
        if name == "X-Amz-Date":
            return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    raise AssertionError("request has no X-Amz-Date")


def sign_post(
    service: str,
    body: bytes,
    *,
    token: str | None = None,
    url: str = ENDPOINT,
    headers: Sequence[tuple[str, str]] = (),
    context: Mapping[str, Any] | None = None,
    secret: str = SECRET,
) -> SignedRequest:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": FORM})
    for name, value in headers:
        request.headers.add_header(name, value)  # a name may repeat
    request.context.update(context or {})
    SigV4Auth(credentials(token, secret), service, REGION).add_auth(request)
    return received(request)


def presign(
    service: str, query: str, *, token: str | None = None, expires: int = 60, url: str = ENDPOINT
) -> SignedRequest:
    request = AWSRequest(method="GET", url=f"{url}?{query}")
    SigV4QueryAuth(credentials(token), service, REGION, expires=expires).add_auth(request)
    return received(request)


def verify(
    request: SignedRequest, *, now: float | None = None, **options: Any
) -> VerifiedSignature:
    when = signed_at(request) if now is None else now
    return verify_signature(request, now=when, secret_for=KEYS.get, **options)


def with_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    """`request` with header `name` (any case) replaced by `value`, or added."""
    kept = [(n, v) for n, v in request.headers if n.lower() != name.lower()]
    return replace(request, headers=[*kept, (name, value)])


def without_header(request: SignedRequest, name: str) -> SignedRequest:
    return replace(
        request, headers=[(n, v) for n, v in request.headers if n.lower() != name.lower()]
    )


def header(request: SignedRequest, name: str) -> str:
    return next(v for n, v in request.headers if n.lower() == name.lower())
