"""The server's half of AWS Signature Version 4: the canonical request and the signing key.

A verifier has to rebuild, from the bytes it received, exactly the text the client signed. The
rules (AWS "Create a canonical request for Signature Version 4"): the path normalised (dot
segments removed, repeated slashes collapsed) and URI-encoded once more, as every service but S3
does; the query's names and values URI-encoded with only `A-Za-z0-9-_.~` left bare, then sorted;
each signed header lower-cased with its values trimmed, inner runs of white space squeezed, and
repeated values joined by commas. Standard library only, so the rules can be read in one place.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNATURE_PARAM = "X-Amz-Signature"
_UNRESERVED = "-_.~"  # with letters and digits: what SigV4 leaves unencoded
_SIGNING_KEY_CACHE = 1024  # (secret, date, region, service) tuples; one per key and day


def _utf8(text: str) -> bytes:
    # surrogatepass: a hostile request cannot make the encoder raise; it only fails to match.
    return text.encode("utf-8", "surrogatepass")


def uri_encode(raw: bytes, *, keep_slash: bool = False) -> str:
    return quote(raw, safe=_UNRESERVED + ("/" if keep_slash else ""))


def normalize_path(raw_path: str) -> str:
    """RFC 3986 dot-segment removal, plus the collapse of empty segments that AWS asks for."""
    if not raw_path:
        return "/"
    kept: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    lead = "/" if raw_path.startswith("/") else ""
    trail = "/" if raw_path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def canonical_path(raw_path: str) -> str:
    """The path as received (already percent-encoded once), normalised and encoded again."""
    return uri_encode(_utf8(normalize_path(raw_path)), keep_slash=True)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The raw `name=value` pairs of a query string, in order, still percent-encoded."""
    pairs = []
    for piece in raw_query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


def decode_component(raw: str) -> str:
    """A query name or value percent-decoded (`+` stays `+`: SigV4 clients never send it for
    a space)."""
    return unquote_to_bytes(_utf8(raw)).decode("utf-8", "replace")


def canonical_query(raw_query: str, *, omit: str | None = None) -> str:
    """Every pair re-encoded the SigV4 way and sorted by name, then value; `omit` drops one name
    (the presigned URL's own signature, which cannot sign itself)."""
    encoded = []
    for name, value in query_pairs(raw_query):
        if omit is not None and decode_component(name) == omit:
            continue
        encoded.append(
            (uri_encode(unquote_to_bytes(_utf8(name))), uri_encode(unquote_to_bytes(_utf8(value))))
        )
    return "&".join(f"{name}={value}" for name, value in sorted(encoded))


def header_values(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Received headers by lower-cased name, values in the order they came."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.strip().lower(), []).append(value)
    return grouped


def canonical_headers(grouped: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
    """One `name:value` line per signed header; the caller has checked that each is present."""
    lines = []
    for name in signed:
        value = ",".join(" ".join(v.split()) for v in grouped[name])
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    return "\n".join((method.upper(), path, query, headers, signed_headers, payload_hash))


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(_utf8(canonical)).hexdigest()
    return "\n".join((ALGORITHM, timestamp, scope, digest))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, _utf8(message), hashlib.sha256).digest()


@functools.lru_cache(maxsize=_SIGNING_KEY_CACHE)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The day's key for one region and service: four HMACs that every request of that day
    would otherwise repeat (the cache stays in this process's memory only)."""
    key = _hmac(_utf8(f"AWS4{secret}"), date)
    for part in (region, service, TERMINATOR):
        key = _hmac(key, part)
    return key


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, _utf8(to_sign), hashlib.sha256).hexdigest()


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
