"""Every way a request's signature is refused, with the code, status and wording IAM/STS use."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sigv4_helpers import (
    IAM_BODY,
    KEYS,
    SECRET,
    STS_BODY,
    header,
    presign,
    sign_post,
    signed_at,
    verify,
    with_header,
    without_header,
)

from tokenbench.verifier.http import sigv4_canonical as canon
from tokenbench.verifier.http.sigv4 import SignatureError, SignedRequest, verify_signature

NO_KEYS: dict[str, str] = {}
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def refused(request: SignedRequest, **options: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(request, **options)  # type: ignore[arg-type]
    return caught.value


def test_no_authentication_at_all() -> None:
    request = without_header(sign_post("iam", IAM_BODY), "Authorization")
    error = refused(request)
    assert (error.code, error.status) == ("MissingAuthenticationToken", 403)
    assert error.message == "Request is missing Authentication Token"


def test_unknown_access_key() -> None:
    request = sign_post("iam", IAM_BODY)
    with pytest.raises(SignatureError) as caught:
        verify_signature(request, now=signed_at(request), secret_for=NO_KEYS.get)
    assert (caught.value.code, caught.value.status) == ("InvalidClientTokenId", 403)
    assert caught.value.message == "The security token included in the request is invalid."


def test_wrong_secret_is_a_mismatch_and_reveals_nothing() -> None:
    request = sign_post("iam", IAM_BODY, secret="not-the-secret")
    error = refused(request)
    assert (error.code, error.status, error.message) == ("SignatureDoesNotMatch", 403, MISMATCH)
    assert SECRET not in str(error) and "not-the-secret" not in str(error)


def test_expected_signature_never_appears_in_the_message() -> None:
    request = sign_post("iam", IAM_BODY, secret="not-the-secret")
    good = header(sign_post("iam", IAM_BODY), "Authorization").rpartition("Signature=")[2]
    assert good not in str(refused(request))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: replace(r, body=r.body + b"&UserName=eve"), id="body"),
        pytest.param(lambda r: replace(r, body=b""), id="empty-body"),
        pytest.param(lambda r: replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: replace(r, path="/other"), id="path"),
        pytest.param(lambda r: replace(r, query="Action=DeleteUser"), id="query"),
        pytest.param(lambda r: with_header(r, "Content-Type", "text/plain"), id="signed-header"),
        pytest.param(lambda r: with_header(r, "Host", "evil.example"), id="host"),
        pytest.param(lambda r: with_header(r, "X-Amz-Security-Token", "other"), id="token"),
        pytest.param(lambda r: without_header(r, "Content-Type"), id="signed-header-dropped"),
    ],
)
def test_request_changed_after_signing(tamper: object) -> None:
    request = sign_post("sts", STS_BODY, token="session-token")
    assert callable(tamper)
    error = refused(tamper(request))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)


def test_unsigned_header_may_change() -> None:
    request = sign_post("iam", IAM_BODY)
    assert verify(with_header(request, "User-Agent", "something else")).service == "iam"


def test_presigned_url_changed_after_signing() -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15")
    tampered = replace(request, query=request.query.replace("GetCallerIdentity", "GetSessionToken"))
    assert refused(tampered).code == "SignatureDoesNotMatch"


# -- malformed Authorization headers ----------------------------------------------------------


def _authorization(request: SignedRequest, value: str) -> SignedRequest:
    return with_header(request, "Authorization", value)


def test_missing_signature_parts_listed_as_aws_does() -> None:
    request = sign_post("iam", IAM_BODY)
    credential = header(request, "Authorization").split(",")[0]
    error = refused(_authorization(request, credential))
    assert (error.code, error.status) == ("IncompleteSignature", 400)
    assert error.message == (
        "Authorization header requires 'Signature' parameter. Authorization header requires"
        f" 'SignedHeaders' parameter. Authorization={credential}"
    )


def test_not_a_sigv4_header_at_all() -> None:
    request = without_header(sign_post("iam", IAM_BODY), "X-Amz-Date")
    error = refused(_authorization(request, "Basic dXNlcjpwYXNz"), now=0.0)
    assert error.code == "IncompleteSignature"
    assert error.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires"
        " 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
        " Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        " Authorization=Basic dXNlcjpwYXNz"
    )


def test_component_without_equal_sign() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("Credential=", "Credential ")
    error = refused(_authorization(request, value))
    assert error.code == "IncompleteSignature"
    assert (
        "not a valid key=value pair (missing equal-sign) in Authorization header" in error.message
    )


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA512", "AWS5-HMAC-SHA256"])
def test_unsupported_algorithm(algorithm: str) -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("AWS4-HMAC-SHA256", algorithm)
    error = refused(_authorization(request, value))
    assert (error.code, error.message) == (
        "IncompleteSignature",
        f"Unsupported AWS 'algorithm': '{algorithm}'.",
    )


def test_credential_with_too_few_elements() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("/aws4_request", "")
    error = refused(_authorization(request, value))
    assert error.code == "IncompleteSignature"
    assert error.message.startswith("Credential must have exactly 5 slash-delimited elements")


def test_host_must_be_signed() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("host;", "")
    error = refused(_authorization(request, value))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_malformed_x_amz_date() -> None:
    request = sign_post("iam", IAM_BODY)
    error = refused(with_header(request, "X-Amz-Date", "2026-12-03T10:00:00Z"), now=0.0)
    assert error.code == "IncompleteSignature"
    assert error.message.startswith("Date must be in ISO-8601 'basic format'.")


def test_repeated_authorization_header() -> None:
    request = sign_post("iam", IAM_BODY)
    doubled = replace(request, headers=[*request.headers, ("authorization", "AWS4-HMAC-SHA256 x")])
    assert refused(doubled).code == "IncompleteSignature"


def test_header_and_query_authentication_together() -> None:
    request = sign_post("iam", IAM_BODY)
    assert refused(replace(request, query="X-Amz-Signature=00")).code == "IncompleteSignature"


# -- credential scope ---------------------------------------------------------------------------


def test_scope_for_another_service() -> None:
    error = refused(sign_post("ec2", IAM_BODY), services=("iam",))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == "Credential should be scoped to correct service: 'iam'. "


def test_scope_with_wrong_terminator() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("/aws4_request", "/aws5_request")
    error = refused(_authorization(request, value))
    assert error.code == "SignatureDoesNotMatch"
    assert "valid terminator: 'aws4_request', not 'aws5_request'" in error.message


def test_scope_date_is_not_the_request_date() -> None:
    request = sign_post("iam", IAM_BODY)
    date = header(request, "X-Amz-Date")[:8]
    value = header(request, "Authorization").replace(f"/{date}/", "/20010101/")
    error = refused(_authorization(request, value))
    assert error.code == "SignatureDoesNotMatch"
    assert error.message.startswith(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from"
        f" HTTP: '20010101' != '{date}'"
    )


def test_every_scope_problem_is_named_at_once() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("/us-east-1/iam/aws4_request", "/X/ec2/aws5")
    error = refused(_authorization(request, value))
    assert error.code == "SignatureDoesNotMatch"
    assert error.message == (
        "Credential should be scoped to a valid region, not 'X'. Credential should be scoped to"
        " correct service: 'iam' or 'sts'. Credential should be scoped with a valid terminator:"
        " 'aws4_request', not 'aws5'. "
    )


def test_clock_is_checked_before_the_scope() -> None:
    # AWS reports the stale date even when the scope is wrong too.
    request = sign_post("ec2", IAM_BODY)
    error = refused(request, now=signed_at(request) + 3600)
    assert error.message.startswith("Signature expired: ")


def test_unknown_key_is_checked_after_the_scope() -> None:
    request = sign_post("ec2", IAM_BODY)
    with pytest.raises(SignatureError) as caught:
        verify_signature(request, now=signed_at(request), secret_for=NO_KEYS.get)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_unparsable_date_header() -> None:
    request = without_header(sign_post("iam", IAM_BODY), "X-Amz-Date")
    error = refused(with_header(request, "Date", "zzzzzzzzz"), now=0.0)
    assert error.code == "IncompleteSignature"
    assert error.message == (
        "Date must be in ISO-8601 'basic format'. Got 'zzzzzzzzz'."
        " See http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_scope_with_malformed_region() -> None:
    request = sign_post("iam", IAM_BODY)
    value = header(request, "Authorization").replace("/us-east-1/", "/US EAST/")
    error = refused(_authorization(request, value))
    assert error.code == "SignatureDoesNotMatch"
    assert "valid region" in error.message


# -- time --------------------------------------------------------------------------------------


def test_header_signature_good_for_fifteen_minutes_either_side() -> None:
    request = sign_post("iam", IAM_BODY)
    at = signed_at(request)
    verify(request, now=at + 900)
    verify(request, now=at - 900)


def test_header_signature_expired() -> None:
    request = sign_post("iam", IAM_BODY)
    error = refused(request, now=signed_at(request) + 901)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    stamp = header(request, "X-Amz-Date")
    assert error.message.startswith(f"Signature expired: {stamp} is now earlier than ")
    assert error.message.endswith(" - 15 min.)")


def test_header_signature_from_the_future() -> None:
    request = sign_post("iam", IAM_BODY)
    error = refused(request, now=signed_at(request) - 901)
    assert error.code == "SignatureDoesNotMatch"
    assert error.message.startswith("Signature not yet current: ")
    assert error.message.endswith(" + 15 min.)")


def test_presigned_url_expires() -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15", expires=300)
    at = signed_at(request)
    verify(request, now=at + 300)
    error = refused(request, now=at + 301)
    assert (error.code, error.status, error.message) == (
        "RequestExpired",
        400,
        "Request has expired.",
    )


@pytest.mark.parametrize("expires", ["0", "604801", "-5", "ten"])
def test_presigned_url_with_bad_expiry(expires: str) -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15", expires=60)
    query = request.query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    assert refused(replace(request, query=query)).code == "IncompleteSignature"


def test_presigned_url_missing_a_parameter() -> None:
    request = presign("sts", "Action=GetCallerIdentity&Version=2011-06-15")
    query = "&".join(p for p in request.query.split("&") if not p.startswith("X-Amz-Date="))
    error = refused(replace(request, query=query), now=signed_at(request))
    assert error.code == "IncompleteSignature"
    assert "Missing: 'X-Amz-Date'" in error.message


# -- the payload hash ----------------------------------------------------------------------------


def test_declared_content_sha256_that_does_not_match_the_body() -> None:
    digest = canon.payload_sha256(b"something else")
    request = sign_post("iam", IAM_BODY, headers=[("X-Amz-Content-SHA256", digest)])
    error = refused(request)
    assert error.code == "SignatureDoesNotMatch"
    assert "x-amz-content-sha256" in error.message


def test_secret_lookup_sees_only_the_access_key_id() -> None:
    seen: list[str] = []

    def lookup(access_key_id: str) -> str | None:
        seen.append(access_key_id)
        return KEYS.get(access_key_id)

    request = sign_post("iam", IAM_BODY)
    verify_signature(request, now=signed_at(request), secret_for=lookup)
    assert seen == list(KEYS)
