"""Verify an AWS Signature Version 4 request, as IAM and STS do, before any operation runs.

Two ways to carry a signature: the `Authorization` header (what boto3 and the AWS CLI send) and
the query string (a presigned URL). Both come down to one check: rebuild the canonical request
from what arrived (`sigv4_canonical`), sign it with the key derived from the caller's secret,
and compare. Everything a request claims is parsed first (`_Claim`), then the rules run in the
order AWS reports them (which error wins when several apply): the form of the header, `host`
signed, the date's format, the clock, the credential scope, a known key, the signature.

Time rules, as the live endpoints apply them: a header-signed request is good for 15 minutes
either side of its `X-Amz-Date`; outside that IAM and STS answer `SignatureDoesNotMatch`
("Signature expired: ..." / "Signature not yet current: ..."), not `RequestExpired`. A presigned
URL is good from 15 minutes before its date until `X-Amz-Expires` seconds after it; past that
we answer `RequestExpired` (AWS's documented code for an expired pre-signed URL).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tokenbench.verifier.http import sigv4_canonical as canon
from tokenbench.verifier.http.sigv4_errors import (
    SignatureError,
    expired,
    incomplete,
    invalid_token,
    mismatch,
    missing_token,
)

__all__ = ["SignatureError", "SignedRequest", "VerifiedSignature", "verify_signature"]

DEFAULT_SERVICES = ("iam", "sts")
MAX_SKEW_SECONDS = 15 * 60
MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # a signing key lives seven days
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TIMESTAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_EXPIRES = re.compile(r"[0-9]{1,7}")

AUTHORIZATION = "authorization"
AMZ_DATE = "x-amz-date"
HTTP_DATE = "date"
SECURITY_TOKEN = "x-amz-security-token"
CONTENT_SHA256 = "x-amz-content-sha256"
HOST = "host"
HEADER_FIELDS = ("Credential", "Signature", "SignedHeaders")

Q_ALGORITHM = "X-Amz-Algorithm"
Q_CREDENTIAL = "X-Amz-Credential"
Q_DATE = "X-Amz-Date"
Q_EXPIRES = "X-Amz-Expires"
Q_SIGNED_HEADERS = "X-Amz-SignedHeaders"
Q_SIGNATURE = canon.SIGNATURE_PARAM
Q_SECURITY_TOKEN = "X-Amz-Security-Token"
QUERY_FIELDS = (Q_ALGORITHM, Q_CREDENTIAL, Q_DATE, Q_EXPIRES, Q_SIGNED_HEADERS, Q_SIGNATURE)
_QUERY_AUTH_MARKERS = (Q_ALGORITHM, Q_CREDENTIAL, Q_SIGNATURE)


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as received, before anything is decoded."""

    method: str
    path: str  # raw, still percent-encoded ("/")
    query: str  # raw query string, may be ""
    headers: Sequence[tuple[str, str]]  # as received: any case, names may repeat
    body: bytes


@dataclass(frozen=True)
class VerifiedSignature:
    """Who signed, for what: the caller still checks `security_token` against the key."""

    access_key_id: str
    region: str
    service: str
    security_token: str | None
    signed_at: float


@dataclass(frozen=True)
class _Claim:
    """What a request says about its own signature, parsed but not yet believed."""

    credential: str
    signed_headers: str
    signature: str
    timestamp: str
    security_token: str | None
    expires: int | None  # None: header auth


def verify_signature(
    request: SignedRequest,
    *,
    now: float,
    secret_for: Callable[[str], str | None],
    services: Collection[str] = DEFAULT_SERVICES,
    allow_unsigned_payload: bool = False,
) -> VerifiedSignature:
    """The signer of `request`, or SignatureError with the code IAM/STS would answer.

    `secret_for` maps an access key id to its secret (None: no such key).
    `allow_unsigned_payload` accepts `x-amz-content-sha256: UNSIGNED-PAYLOAD` (a body that
    the signature does not cover); IAM and STS requests carry their parameters in the body, so
    the endpoint leaves it off.
    """
    headers = canon.header_values(request.headers)
    params = _query_params(request.query)
    claim = _claim(headers, params)
    names = _signed_header_names(claim.signed_headers)
    signed_at = _check_time(claim, now)
    access_key_id, region, service = _check_scope(claim, services)
    secret = secret_for(access_key_id) if access_key_id else None
    if secret is None:
        raise invalid_token()
    _check_present(names, headers)
    canonical = canon.canonical_request(
        method=request.method,
        path=canon.canonical_path(request.path),
        query=canon.canonical_query(
            request.query, omit=None if claim.expires is None else Q_SIGNATURE
        ),
        headers=canon.canonical_headers(headers, names),
        signed_headers=claim.signed_headers,
        payload_hash=_payload_hash(headers, request.body, allow_unsigned_payload),
    )
    scope = canon.credential_scope(claim.timestamp[:8], region, service)
    key = canon.signing_key(secret, claim.timestamp[:8], region, service)
    expected = canon.signature(key, canon.string_to_sign(claim.timestamp, scope, canonical))
    provided = claim.signature.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected.encode("ascii"), provided):
        raise mismatch()
    return VerifiedSignature(access_key_id, region, service, claim.security_token, signed_at)


# -- parsing: what the request claims -------------------------------------------------------


def _query_params(raw_query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in canon.query_pairs(raw_query):
        decoded = canon.decode_component(name)
        params.setdefault(decoded, []).append(canon.decode_component(value))
    return params


def _one(values: Sequence[str] | None, what: str) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise incomplete(f"The request has more than one {what}.")
    return values[0]


def _claim(headers: Mapping[str, list[str]], params: Mapping[str, list[str]]) -> _Claim:
    authorization = _one(headers.get(AUTHORIZATION), "Authorization header")
    by_query = any(name in params for name in _QUERY_AUTH_MARKERS)
    if authorization is not None and by_query:
        raise incomplete(
            "Only one authentication mechanism allowed; only the X-Amz-Algorithm query"
            " parameter or the Authorization header should be specified."
        )
    if authorization is not None:
        return _header_claim(authorization, headers)
    if by_query:
        return _query_claim(params)
    raise missing_token()


def _header_claim(authorization: str, headers: Mapping[str, list[str]]) -> _Claim:
    timestamp = _header_timestamp(headers)
    fields = _authorization_fields(authorization, has_date=timestamp is not None)
    assert timestamp is not None  # _authorization_fields refused a request without a date
    return _Claim(
        credential=fields["Credential"],
        signed_headers=fields["SignedHeaders"],
        signature=fields["Signature"],
        timestamp=timestamp,
        security_token=_one(headers.get(SECURITY_TOKEN), "X-Amz-Security-Token header"),
        expires=None,
    )


def _authorization_fields(authorization: str, *, has_date: bool) -> dict[str, str]:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` as a dict, with
    AWS's wording for each way the header can be incomplete."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != canon.ALGORITHM and algorithm.startswith("AWS") and algorithm != "AWS":
        # AWS5-HMAC-SHA256, AWS4-HMAC-SHA512...; plain "AWS" (SigV2) gets the list below
        raise incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    fields: dict[str, str] = {}
    if algorithm == canon.ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise incomplete(
                    f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization"
                    f" header: '{authorization}'."
                )
            name, _, value = part.partition("=")
            fields.setdefault(name.strip(), value.strip())
    missing = [
        f"Authorization header requires '{name}' parameter. "
        for name in HEADER_FIELDS
        if name not in fields
    ]
    if not has_date:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if missing:
        raise incomplete("".join(missing) + f"Authorization={authorization}")
    return fields


def _header_timestamp(headers: Mapping[str, list[str]]) -> str | None:
    amz_date = _one(headers.get(AMZ_DATE), "X-Amz-Date header")
    if amz_date is not None:
        return amz_date.strip()
    http_date = _one(headers.get(HTTP_DATE), "Date header")
    if http_date is None:
        return None
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _bad_date(http_date) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _query_claim(params: Mapping[str, list[str]]) -> _Claim:
    missing = [name for name in QUERY_FIELDS if name not in params]
    if missing:
        listed = ", ".join(f"'{name}'" for name in missing)
        raise incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential',"
            " 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'."
            f" Missing: {listed}."
        )
    given = {name: _one(params[name], f"{name} parameter") or "" for name in QUERY_FIELDS}
    if given[Q_ALGORITHM] != canon.ALGORITHM:
        raise incomplete(f"Unsupported AWS 'algorithm': '{given[Q_ALGORITHM]}'.")
    return _Claim(
        credential=given[Q_CREDENTIAL],
        signed_headers=given[Q_SIGNED_HEADERS],
        signature=given[Q_SIGNATURE],
        timestamp=given[Q_DATE],
        security_token=_one(params.get(Q_SECURITY_TOKEN), f"{Q_SECURITY_TOKEN} parameter"),
        expires=_expires(given[Q_EXPIRES]),
    )


def _expires(text: str) -> int:
    seconds = int(text) if _EXPIRES.fullmatch(text) else 0
    if not 1 <= seconds <= MAX_EXPIRES_SECONDS:
        raise incomplete(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_EXPIRES_SECONDS},"
            f" got '{text}'."
        )
    return seconds


# -- the rules --------------------------------------------------------------------------------


def _check_scope(claim: _Claim, services: Collection[str]) -> tuple[str, str, str]:
    """The credential's key id, region and service, refused as AWS refuses a bad scope."""
    parts = claim.credential.split("/")
    if len(parts) != 5:
        raise incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g."
            f" keyid/date/region/service/term, got '{claim.credential}'"
        )
    access_key_id, date, region, service, terminator = parts
    problems = []  # AWS names every problem of the scope at once, in this order
    if not _REGION.fullmatch(region):
        problems.append(f"Credential should be scoped to a valid region, not '{region}'. ")
    if service not in services:
        expected = " or ".join(f"'{name}'" for name in sorted(services))
        problems.append(f"Credential should be scoped to correct service: {expected}. ")
    if terminator != canon.TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{canon.TERMINATOR}',"
            f" not '{terminator}'. "
        )
    if date != claim.timestamp[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date"
            f" from HTTP: '{date}' != '{claim.timestamp[:8]}', from '{claim.timestamp}'."
        )
    if problems:
        raise mismatch("".join(problems))
    return access_key_id, region, service


def _bad_date(text: str) -> SignatureError:
    return incomplete(
        f"Date must be in ISO-8601 'basic format'. Got '{text}'."
        " See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _timestamp_epoch(timestamp: str) -> float:
    try:
        if not _TIMESTAMP.fullmatch(timestamp):
            raise ValueError(timestamp)
        when = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _bad_date(timestamp) from None
    return when.timestamp()


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(TIMESTAMP_FORMAT)


def _check_time(claim: _Claim, now: float) -> float:
    signed_at = _timestamp_epoch(claim.timestamp)
    if signed_at > now + MAX_SKEW_SECONDS:
        raise mismatch(
            f"Signature not yet current: {claim.timestamp} is still later than"
            f" {_stamp(now + MAX_SKEW_SECONDS)} ({_stamp(now)} + 15 min.)"
        )
    if claim.expires is not None:
        if now > signed_at + claim.expires:
            raise expired()
    elif signed_at < now - MAX_SKEW_SECONDS:
        raise mismatch(
            f"Signature expired: {claim.timestamp} is now earlier than"
            f" {_stamp(now - MAX_SKEW_SECONDS)} ({_stamp(now)} - 15 min.)"
        )
    return signed_at


def _signed_header_names(signed_headers: str) -> list[str]:
    names = signed_headers.split(";")
    if HOST not in names:
        raise mismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return names


def _check_present(names: Sequence[str], headers: Mapping[str, list[str]]) -> None:
    if any(name not in headers for name in names):
        raise mismatch()  # a header signed but not sent: the client's text cannot be rebuilt


def _payload_hash(headers: Mapping[str, list[str]], body: bytes, allow_unsigned: bool) -> str:
    declared = _one(headers.get(CONTENT_SHA256), "x-amz-content-sha256 header")
    actual = canon.payload_sha256(body)
    if declared is None:
        return actual
    declared = declared.strip()
    if declared == canon.UNSIGNED_PAYLOAD:
        if allow_unsigned:
            return declared
        raise incomplete("This service signs the request body; UNSIGNED-PAYLOAD is not accepted.")
    if declared.lower() != actual:
        raise mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return declared
