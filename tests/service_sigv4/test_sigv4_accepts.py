"""What botocore signs, our verifier accepts: IAM and STS form posts, presigned URLs."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
from sigv4_helpers import (
    ACCESS_KEY_ID,
    IAM_BODY,
    REGION,
    SESSION_TOKEN,
    STS_BODY,
    presign,
    sign_post,
    signed_at,
    verify,
)

from tokenbench.verifier.http import sigv4_canonical
from tokenbench.verifier.http.sigv4 import SignatureError


@pytest.mark.parametrize(("service", "body"), [("iam", IAM_BODY), ("sts", STS_BODY)])
@pytest.mark.parametrize("token", [None, SESSION_TOKEN])
def test_form_post_signed_by_botocore_is_accepted(
    service: str, body: bytes, token: str | None
) -> None:
    request = sign_post(service, body, token=token)
    verified = verify(request)
    assert verified.access_key_id == ACCESS_KEY_ID
    assert verified.region == REGION
    assert verified.service == service
    assert verified.security_token == token
    assert verified.signed_at == signed_at(request)


@pytest.mark.parametrize("token", [None, SESSION_TOKEN])
def test_presigned_url_is_accepted(token: str | None) -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15", token=token)
    verified = verify(request)
    assert (verified.service, verified.security_token) == ("sts", token)


def test_presigned_query_with_characters_to_encode() -> None:
    query = "Action=ListUsers&PathPrefix=%2Fdivision%20a%2F%2A&Version=2010-05-08"
    assert verify(presign("iam", query)).service == "iam"


def test_path_and_query_are_canonicalised_like_botocore() -> None:
    url = "http://127.0.0.1:8111/a/./b/../c%20d/?Version=2010-05-08&Action=ListUsers&Marker=x%2By"
    assert verify(sign_post("iam", IAM_BODY, url=url)).service == "iam"


def test_repeated_and_padded_header_values() -> None:
    notes = [("X-Tb-Note", "  two   words  "), ("X-Tb-Note", "second")]
    request = sign_post("iam", IAM_BODY, headers=notes)
    assert [v for n, v in request.headers if n == "X-Tb-Note"] == ["  two   words  ", "second"]
    assert verify(request).service == "iam"


def test_date_header_instead_of_x_amz_date() -> None:
    # botocore signs with the Date header when the request already has one.
    request = sign_post("iam", IAM_BODY, headers=[("Date", "Thu, 03 Dec 2026 00:00:00 GMT")])
    names = {name.lower() for name, _ in request.headers}
    assert "date" in names and "x-amz-date" not in names
    date = next(v for n, v in request.headers if n.lower() == "date")
    verify(request, now=parsedate_to_datetime(date).timestamp())


def test_declared_content_sha256_that_matches_is_accepted() -> None:
    digest = sigv4_canonical.payload_sha256(IAM_BODY)
    request = sign_post("iam", IAM_BODY, headers=[("X-Amz-Content-SHA256", digest)])
    assert verify(request).service == "iam"


def test_unsigned_payload_only_when_allowed() -> None:
    # botocore sends UNSIGNED-PAYLOAD over https when payload signing is off.
    request = sign_post(
        "iam", IAM_BODY, url="https://127.0.0.1:8111/", context={"payload_signing_enabled": False}
    )
    assert verify(request, allow_unsigned_payload=True).service == "iam"
    with pytest.raises(SignatureError) as refused:
        verify(request)
    assert refused.value.code == "IncompleteSignature"


def test_signing_key_is_derived_once_per_day_region_and_service() -> None:
    sigv4_canonical.signing_key.cache_clear()
    for _ in range(3):
        verify(sign_post("iam", IAM_BODY))
    info = sigv4_canonical.signing_key.cache_info()
    # Three calls; the date could roll over midnight between them, hence <= 2 misses.
    assert info.misses <= 2
    assert info.hits >= 1
