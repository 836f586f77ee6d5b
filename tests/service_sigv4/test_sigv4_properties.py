"""AWS's published SigV4 vectors, the canonical forms, and hostile input.

The vectors are the "get-vanilla" family of AWS's SigV4 test suite (the signing example of the
AWS General Reference, also in botocore's tests): key AKIDEXAMPLE, 2015-08-30 12:36:00 UTC,
us-east-1, service "service". Their signatures are facts to check against, not code.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from random import Random
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sigv4_helpers import IAM_BODY, KEYS, presign, sign_post, signed_at, verify

from tokenbench.verifier.http import sigv4_canonical as canon
from tokenbench.verifier.http.sigv4 import SignatureError, SignedRequest, verify_signature

VECTOR_KEY = "AKIDEXAMPLE"
VECTOR_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
VECTOR_TIME = 1_440_938_160.0  # 20150830T123600Z
VECTOR_SIGNING_KEY = "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75"
VECTORS = [
    (
        "get-vanilla",
        "GET",
        "/",
        "",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "post-vanilla",
        "POST",
        "/",
        "",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    (
        "get-utf8",
        "GET",
        "/ሴ",
        "",
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ),
]


def _vector(method: str, path: str, query: str, signature: str) -> SignedRequest:
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={VECTOR_KEY}/20150830/us-east-1/service/aws4_request,"
        f" SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", authorization),
    ]
    return SignedRequest(method, path, query, headers, b"")


def test_signing_key_of_the_aws_example() -> None:
    key = canon.signing_key(VECTOR_SECRET, "20150830", "us-east-1", "service")
    assert key.hex() == VECTOR_SIGNING_KEY


@pytest.mark.parametrize(
    ("method", "path", "query", "signature"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_aws_test_suite_vector(method: str, path: str, query: str, signature: str) -> None:
    request = _vector(method, path, query, signature)
    verified = verify_signature(
        request, now=VECTOR_TIME, secret_for={VECTOR_KEY: VECTOR_SECRET}.get, services=("service",)
    )
    assert verified.access_key_id == VECTOR_KEY
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(SignatureError):
        verify_signature(
            _vector(method, path, query, flipped),
            now=VECTOR_TIME,
            secret_for={VECTOR_KEY: VECTOR_SECRET}.get,
            services=("service",),
        )


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/a/./b/../c", "/a/c"),
        ("//a//b/", "/a/b/"),
        ("/..", "/"),
        ("/a%20b", "/a%2520b"),  # encoded once by the client, once more for the signature
        ("/ሴ", "/%E1%88%B4"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canon.canonical_path(raw) == canonical


def test_canonical_query_encodes_and_sorts() -> None:
    raw = "b=2&a=x%2By&A=%7e&c=a b&X-Amz-Signature=ff&empty"
    assert canon.canonical_query(raw, omit="X-Amz-Signature") == "A=~&a=x%2By&b=2&c=a%20b&empty="


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6), st.randoms())
def test_canonical_query_ignores_pair_order(pairs: list[tuple[str, str]], rnd: Random) -> None:
    encoded = [f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs]
    shuffled = list(encoded)
    rnd.shuffle(shuffled)
    assert canon.canonical_query("&".join(encoded)) == canon.canonical_query("&".join(shuffled))


@given(st.text(alphabet="/.ab%2", max_size=20))
def test_normalized_path_is_stable(path: str) -> None:
    once = canon.normalize_path("/" + path)
    assert canon.normalize_path(once) == once
    assert "//" not in once and "/./" not in once


# -- hostile input: nothing but SignatureError ----------------------------------------------------


def _only_signature_errors(request: SignedRequest, now: float = 1_796_000_000.0) -> None:
    with contextlib.suppress(SignatureError):
        verify_signature(request, now=now, secret_for=KEYS.get)


@given(st.text(max_size=300))
def test_random_authorization_header(value: str) -> None:
    request = sign_post("iam", IAM_BODY)
    headers = [(n, v) for n, v in request.headers if n.lower() != "authorization"]
    _only_signature_errors(replace(request, headers=[*headers, ("Authorization", value)]))


_PIECE = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["AKIAIOSFODNN7EXAMPLE", "20261203", "us-east-1", "iam", "sts", "aws4_request", "host", ""]
)


@given(
    credential=st.lists(_PIECE, max_size=7).map("/".join),
    signed=st.lists(_PIECE, max_size=4).map(";".join),
    signature=_PIECE,
    date=_PIECE | st.just("20261203T120000Z"),
)
def test_structured_authorization_header(
    credential: str, signed: str, signature: str, date: str
) -> None:
    value = (
        f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    )
    headers = [("Host", "h"), ("X-Amz-Date", date), ("Authorization", value)]
    _only_signature_errors(SignedRequest("POST", "/", "", headers, b""))


_HEADER_NAMES = st.sampled_from(
    ["Authorization", "X-Amz-Date", "Date", "Host", "X-Amz-Security-Token", "X-Amz-Content-SHA256"]
) | st.text(max_size=10)


@given(
    method=st.text(max_size=8),
    path=st.text(max_size=40),
    query=st.text(max_size=80)
    | st.lists(
        st.sampled_from(
            [
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261203%2Fus-east-1%2Fsts%2Faws4_request",
                "X-Amz-Date=20261203T120000Z",
                "X-Amz-Expires=60",
                "X-Amz-SignedHeaders=host",
                "X-Amz-Signature=00",
                "X-Amz-Security-Token=%ff%fe",
                "%zz=%",
            ]
        ),
        max_size=8,
    ).map("&".join),
    headers=st.lists(st.tuples(_HEADER_NAMES, st.text(max_size=60)), max_size=6),
    body=st.binary(max_size=40),
    now=st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
)
def test_random_requests(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, now: float
) -> None:
    _only_signature_errors(SignedRequest(method, path, query, headers, body), now)


@given(st.binary(max_size=64).filter(lambda b: b != IAM_BODY))
def test_any_other_body_is_refused(body: bytes) -> None:
    request = sign_post("iam", IAM_BODY)
    with pytest.raises(SignatureError):
        verify(replace(request, body=body))


@given(st.integers(min_value=0, max_value=len("Action=GetCallerIdentity&Version=2011-06-15") - 1))
def test_presigned_query_with_one_character_dropped(index: int) -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15")
    query = request.query[:index] + request.query[index + 1 :]
    with pytest.raises(SignatureError):
        verify(replace(request, query=query), now=signed_at(request))
