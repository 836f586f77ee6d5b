"""Results and errors as XML: botocore's own parser reads back exactly what we rendered."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from wire_helpers import REQUEST_ID, SERIAL, botocore_reads

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel, iam_model, sts_model
from tokenbench.verifier.http.query_wire import render_error, render_query_error, render_result

CREATED = datetime(2026, 12, 3, 15, 4, 5, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 4, 3, 4, 5, 123000, tzinfo=UTC)
USER = {
    "Path": "/staff/",
    "UserName": "alice",
    "UserId": "AIDAJQABLZS4A3QDU576Q",
    "Arn": "arn:aws:iam::123456789012:user/staff/alice",
    "CreateDate": CREATED,
    "Tags": [{"Key": "team", "Value": "R&D <core>"}],
}
SEED = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32 text
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
CREDENTIALS = {
    "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
    "SecretAccessKey": SECRET,
    "SessionToken": "FwoGZXIvYXdzEBYaDExample+token/==",
    "Expiration": EXPIRES,
}

IAM_RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("CreateUser", {"User": USER}),
    ("GetUser", {"User": {**USER, "PasswordLastUsed": CREATED}}),
    ("ListUsers", {"Users": [USER, {**USER, "UserName": "bob", "Tags": []}], "IsTruncated": False}),
    ("ListUsers", {"Users": [], "IsTruncated": True, "Marker": "next&page"}),
    (
        "CreateVirtualMFADevice",
        {
            "VirtualMFADevice": {
                "SerialNumber": SERIAL,
                "Base32StringSeed": SEED,
                "QRCodePNG": PNG,
                "Tags": [{"Key": "k", "Value": ""}],
            }
        },
    ),
    (
        "ListMFADevices",
        {
            "MFADevices": [{"UserName": "alice", "SerialNumber": SERIAL, "EnableDate": CREATED}],
            "IsTruncated": False,
        },
    ),
    (
        "ListVirtualMFADevices",
        {
            "VirtualMFADevices": [
                {"SerialNumber": SERIAL, "User": USER, "EnableDate": CREATED},
                {"SerialNumber": SERIAL + "2"},
            ],
            "IsTruncated": True,
            "Marker": "m",
        },
    ),
    (
        "GetMFADevice",
        {
            "UserName": "alice",
            "SerialNumber": SERIAL,
            "EnableDate": CREATED,
            "Certifications": {"FIPS-140-2": "L2", "Other": "x"},
        },
    ),
    ("ListMFADeviceTags", {"Tags": [{"Key": "a", "Value": "1"}], "IsTruncated": False}),
    (
        "CreateAccessKey",
        {
            "AccessKey": {
                "UserName": "alice",
                "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                "Status": "Active",
                "SecretAccessKey": SECRET,
                "CreateDate": CREATED,
            }
        },
    ),
    (
        "ListAccessKeys",
        {
            "AccessKeyMetadata": [
                {
                    "UserName": "alice",
                    "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                    "Status": "Inactive",
                    "CreateDate": CREATED,
                }
            ],
            "IsTruncated": False,
        },
    ),
    ("GetAccountSummary", {"SummaryMap": {"Users": 3, "MFADevices": 2, "AccountMFAEnabled": 1}}),
    ("DeleteUser", {}),
]

STS_RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("GetSessionToken", {"Credentials": CREDENTIALS}),
    (
        "AssumeRole",
        {
            "Credentials": CREDENTIALS,
            "AssumedRoleUser": {
                "AssumedRoleId": "AROA3XFRBF535PLBIFPI4:alice",
                "Arn": "arn:aws:sts::123456789012:assumed-role/admin/alice",
            },
            "PackedPolicySize": 6,
        },
    ),
    (
        "GetCallerIdentity",
        {"UserId": "AIDAJQABLZS4A3QDU576Q", "Account": "123456789012", "Arn": USER["Arn"]},
    ),
]


def _round_trip(model: ServiceModel, operation: str, result: dict[str, Any]) -> None:
    xml = render_result(model, operation, result, REQUEST_ID)
    parsed = botocore_reads(model, operation, xml)
    assert parsed.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    assert parsed == result


@pytest.mark.parametrize(("operation", "result"), IAM_RESULTS)
def test_iam_results_read_back(operation: str, result: dict[str, Any]) -> None:
    _round_trip(iam_model(), operation, result)


@pytest.mark.parametrize(("operation", "result"), STS_RESULTS)
def test_sts_results_read_back(operation: str, result: dict[str, Any]) -> None:
    _round_trip(sts_model(), operation, result)


def test_the_response_shape() -> None:
    xml = render_result(iam_model(), "GetUser", {"User": USER}, "r-1")
    assert xml.startswith(
        b'<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult>'
        b"<User><Path>/staff/</Path>"
    )
    assert b"<CreateDate>2026-12-03T15:04:05Z</CreateDate>" in xml
    assert (
        b"<Tags><member><Key>team</Key><Value>R&amp;D &lt;core&gt;</Value></member></Tags>" in xml
    )
    assert xml.endswith(
        b"</GetUserResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
        b"</GetUserResponse>"
    )
    assert render_result(iam_model(), "DeleteUser", None, "r-2") == (
        b'<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        b"<ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></DeleteUserResponse>"
    )


def test_blobs_as_boto3_sees_them() -> None:
    # boto3 hands QRCodePNG and Base32StringSeed over base64-decoded: the PNG's bytes and the
    # seed's base32 text. A str is taken as base64 already.
    device = {"SerialNumber": SERIAL, "Base32StringSeed": base64.b64encode(SEED).decode()}
    xml = render_result(iam_model(), "CreateVirtualMFADevice", {"VirtualMFADevice": device}, "r")
    assert f"<Base32StringSeed>{base64.b64encode(SEED).decode()}<".encode() in xml
    parsed = botocore_reads(iam_model(), "CreateVirtualMFADevice", xml)
    assert parsed["VirtualMFADevice"]["Base32StringSeed"] == SEED
    with pytest.raises(ValueError):
        render_result(
            iam_model(),
            "CreateVirtualMFADevice",
            {"VirtualMFADevice": {"SerialNumber": SERIAL, "QRCodePNG": "not base64!"}},
            "r",
        )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (CREATED, "2026-12-03T15:04:05Z"),
        (EXPIRES, "2026-12-04T03:04:05.123Z"),
        (CREATED.astimezone(timezone(timedelta(hours=-5))), "2026-12-03T15:04:05Z"),
        (CREATED.timestamp(), "2026-12-03T15:04:05Z"),
        (int(CREATED.timestamp()), "2026-12-03T15:04:05Z"),
        ("2026-12-03T15:04:05Z", "2026-12-03T15:04:05Z"),
    ],
)
def test_timestamps(value: Any, text: str) -> None:
    result = {"User": {**USER, "CreateDate": value}}
    xml = render_result(iam_model(), "GetUser", result, "r")
    assert f"<CreateDate>{text}</CreateDate>".encode() in xml
    expected = EXPIRES if text.endswith(".123Z") else CREATED
    assert botocore_reads(iam_model(), "GetUser", xml)["User"]["CreateDate"] == expected


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ({"User": USER, "Extra": 1}, ValueError),  # not a member of the output
        ({"User": {**USER, "Colour": "blue"}}, ValueError),
        ({"User": {**USER, "CreateDate": datetime(2026, 1, 1)}}, TypeError),  # naive
        ({"User": {**USER, "UserName": 7}}, TypeError),
        ({"User": {**USER, "Tags": "team"}}, TypeError),
        ({"User": {**USER, "UserName": "a\x00b"}}, ValueError),  # not XML
        ({"User": "alice"}, TypeError),
    ],
)
def test_bad_results_are_a_handlers_bug(result: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        render_result(iam_model(), "GetUser", result, "r")


def test_results_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(TypeError):
        render_result(iam_model(), "ListUsers", {"Users": [], "IsTruncated": 0}, "r")
    with pytest.raises(TypeError):
        render_result(iam_model(), "GetAccountSummary", {"SummaryMap": {"Users": True}}, "r")
    with pytest.raises(ValueError):
        render_result(iam_model(), "DeleteUser", {"Deleted": True}, "r")
    with pytest.raises(ValueError):
        render_result(iam_model(), "NoSuchOperation", {}, "r")


def test_carriage_returns_survive() -> None:
    result = {"Tags": [{"Key": "k", "Value": "a\r\nb\rc"}], "IsTruncated": False}
    xml = render_result(iam_model(), "ListMFADeviceTags", result, "r")
    assert botocore_reads(iam_model(), "ListMFADeviceTags", xml)["Tags"] == result["Tags"]


# --- errors ----------------------------------------------------------------------------------

ERRORS = [
    (iam_model, "NoSuchEntity", 404, "Sender"),
    (iam_model, "EntityAlreadyExists", 409, "Sender"),
    (iam_model, "LimitExceeded", 409, "Sender"),
    (iam_model, "InvalidAuthenticationCode", 403, "Sender"),
    (iam_model, "DeleteConflict", 409, "Sender"),
    (iam_model, "ConcurrentModification", 409, "Sender"),
    (iam_model, "ServiceFailure", 500, "Receiver"),
    (iam_model, "AccessDenied", 403, "Sender"),
    (iam_model, "ValidationError", 400, "Sender"),
    (iam_model, "InvalidClientTokenId", 403, "Sender"),
    (iam_model, "SignatureDoesNotMatch", 403, "Sender"),
    (iam_model, "RequestExpired", 400, "Sender"),
    (iam_model, "MissingAuthenticationToken", 403, "Sender"),
    (iam_model, "InternalFailure", 500, "Receiver"),
    (iam_model, "MalformedQueryString", 404, "Sender"),
    (sts_model, "ExpiredToken", 400, "Sender"),
    (sts_model, "ExpiredTokenException", 400, "Sender"),
    (sts_model, "RegionDisabledException", 403, "Sender"),
    (sts_model, "InvalidAction", 400, "Sender"),
]


@pytest.mark.parametrize(("model", "code", "status", "fault"), ERRORS)
def test_errors_read_back(model: Any, code: str, status: int, fault: str) -> None:
    message = 'User <alice> & "bob" can\'t\nbe found'
    got_status, xml = render_error(model(), code, message, REQUEST_ID)
    assert got_status == status
    parsed = botocore_reads(
        model(), "GetCallerIdentity" if model is sts_model else "GetUser", xml, status
    )
    assert parsed["Error"] == {
        "Code": code,
        "Message": 'User <alice> & "bob" can\'t\\u000abe found',
        "Type": fault,
    }
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_the_error_shape() -> None:
    status, xml = render_error(sts_model(), "AccessDenied", "No.", "r-3")
    assert (status, xml) == (
        403,
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
        b"</Type><Code>AccessDenied</Code><Message>No.</Message></Error><RequestId>r-3"
        b"</RequestId></ErrorResponse>",
    )


def test_unknown_error_codes_need_a_status() -> None:
    with pytest.raises(ValueError):
        render_error(iam_model(), "Teapot", "short and stout", "r")
    assert render_error(iam_model(), "Teapot", "m", "r", status=418)[0] == 418
    assert b"<Type>Receiver</Type>" in render_error(iam_model(), "Oops", "m", "r", status=503)[1]
    assert render_error(iam_model(), "NoSuchEntity", "m", "r", status=400)[0] == 400


def test_query_errors_render_as_raised() -> None:
    error = QueryError("MalformedQueryString", "bad %-escape", 404, True)
    status, xml = render_query_error(iam_model(), error, "r")
    assert status == 404
    assert botocore_reads(iam_model(), "GetUser", xml, status)["Error"]["Code"] == (
        "MalformedQueryString"
    )
