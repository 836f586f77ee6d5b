"""Query requests: what botocore serializes comes back as the parameters it was given."""

from __future__ import annotations

from typing import Any

import pytest
from wire_helpers import SERIAL, botocore_body, parse_body, refusal

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel, iam_model, sts_model
from tokenbench.verifier.http.query_wire import parse_form_body, parse_query

TAGS = [
    {"Key": "team", "Value": "red"},
    {"Key": "owner", "Value": "Zoë Ü"},
    {"Key": "e", "Value": ""},
]

IAM_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("CreateUser", {"UserName": "alice", "Path": "/staff/", "Tags": TAGS}),
    ("CreateUser", {"UserName": "a+b=c,d.e@f-g_h"}),
    ("GetUser", {}),
    ("ListUsers", {"PathPrefix": "/staff/", "MaxItems": 10, "Marker": "abc def"}),
    ("DeleteUser", {"UserName": "alice"}),
    ("CreateVirtualMFADevice", {"VirtualMFADeviceName": "alice-phone", "Tags": TAGS}),
    ("CreateVirtualMFADevice", {"VirtualMFADeviceName": "p", "Path": "/", "Tags": []}),
    (
        "EnableMFADevice",
        {
            "UserName": "alice",
            "SerialNumber": SERIAL,
            "AuthenticationCode1": "123456",
            "AuthenticationCode2": "654321",
        },
    ),
    (
        "ResyncMFADevice",
        {
            "UserName": "alice",
            "SerialNumber": SERIAL,
            "AuthenticationCode1": "000000",
            "AuthenticationCode2": "999999",
        },
    ),
    ("DeactivateMFADevice", {"UserName": "alice", "SerialNumber": SERIAL}),
    ("DeleteVirtualMFADevice", {"SerialNumber": SERIAL}),
    ("TagMFADevice", {"SerialNumber": SERIAL, "Tags": TAGS}),
    ("UntagMFADevice", {"SerialNumber": SERIAL, "TagKeys": ["team", "owner"]}),
    ("UntagMFADevice", {"SerialNumber": SERIAL, "TagKeys": []}),
    ("ListMFADeviceTags", {"SerialNumber": SERIAL, "MaxItems": 1000}),
    ("ListMFADevices", {"UserName": "alice"}),
    ("ListVirtualMFADevices", {"AssignmentStatus": "Unassigned", "MaxItems": 1}),
    ("GetMFADevice", {"SerialNumber": SERIAL, "UserName": "alice"}),
    ("CreateAccessKey", {"UserName": "alice"}),
    ("ListAccessKeys", {}),
    ("UpdateAccessKey", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    ("GetAccountSummary", {}),
    (
        "CreateLoginProfile",
        {"UserName": "alice", "Password": "s3cret!", "PasswordResetRequired": True},
    ),
    ("UpdateLoginProfile", {"UserName": "alice", "PasswordResetRequired": False}),
    ("PutAccountProperties", {"Properties": {"OneKey": "v1", "Other/Key": "v2"}}),
]

STS_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("GetSessionToken", {}),
    ("GetSessionToken", {"DurationSeconds": 900, "SerialNumber": SERIAL, "TokenCode": "123456"}),
    ("GetCallerIdentity", {}),
    (
        "AssumeRole",
        {
            "RoleArn": "arn:aws:iam::123456789012:role/admin",
            "RoleSessionName": "alice@example.com",
            "DurationSeconds": 3600,
            "SerialNumber": SERIAL,
            "TokenCode": "123456",
            "Tags": [{"Key": "project", "Value": "blue"}],
            "TransitiveTagKeys": ["project"],
            "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        },
    ),
]


@pytest.mark.parametrize(("operation", "params"), IAM_CALLS)
def test_iam_parameters_survive_the_wire(operation: str, params: dict[str, Any]) -> None:
    assert parse_body(iam_model(), botocore_body(iam_model(), operation, params)) == (
        operation,
        params,
    )


@pytest.mark.parametrize(("operation", "params"), STS_CALLS)
def test_sts_parameters_survive_the_wire(operation: str, params: dict[str, Any]) -> None:
    assert parse_body(sts_model(), botocore_body(sts_model(), operation, params)) == (
        operation,
        params,
    )


def test_every_iam_and_sts_operation_without_parameters_is_found() -> None:
    for model in (iam_model(), sts_model()):
        for name in model.botocore_model.operation_names:
            form = {"Action": [name], "Version": [model.api_version]}
            try:
                assert parse_query(model, form)[0] == name
            except QueryError as error:  # found, but its required members are missing
                assert error.code == "ValidationError", (name, error)
                assert error.message.endswith("Member must not be null"), name


def test_no_member_is_named_like_the_protocol_fields() -> None:
    # parse_query takes Action and Version out first: a member with either name would vanish.
    for model in (iam_model(), sts_model()):
        for name in model.botocore_model.operation_names:
            shape = model.botocore_model.operation_model(name).input_shape
            if shape is not None:
                assert not {"Action", "Version"} & set(shape.members), name


def test_missing_action() -> None:
    error = refusal(iam_model(), b"Version=2010-05-08&UserName=alice")
    assert (error.code, error.status, error.sender) == ("MissingAction", 400, True)
    assert refusal(iam_model(), b"Action=&Version=2010-05-08").code == "MissingAction"


NO_VERSION = "for version NO_VERSION_SPECIFIED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Action=CreateUser&UserName=a", f"Could not find operation CreateUser {NO_VERSION}"),
        (
            b"Action=CreateUser&Version=&UserName=a",
            f"Could not find operation CreateUser {NO_VERSION}",
        ),
        (
            b"Action=CreateUser&Version=2011-06-15&UserName=a",
            "Could not find operation CreateUser for version 2011-06-15",
        ),
        (
            b"Action=CreateUsers&Version=2010-05-08",
            "Could not find operation CreateUsers for version 2010-05-08",
        ),
        (
            b"Action=createuser&Version=2010-05-08",
            "Could not find operation createuser for version 2010-05-08",
        ),
        (
            b"Action=A%0AB&Version=2010-05-08",
            "Could not find operation A\\u000aB for version 2010-05-08",
        ),
    ],
)
def test_unknown_action_or_version(body: bytes, message: str) -> None:
    error = refusal(iam_model(), body)
    assert (error.code, error.status, error.message) == ("InvalidAction", 400, message)


def test_an_sts_action_is_not_an_iam_action() -> None:
    assert (
        refusal(iam_model(), b"Action=GetSessionToken&Version=2010-05-08").code == "InvalidAction"
    )
    assert (
        parse_body(sts_model(), b"Action=GetSessionToken&Version=2011-06-15")[0]
        == "GetSessionToken"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"Action=CreateUser&Version=2010-05-08&UserName=a&UserName=b",
        b"Action=CreateUser&Action=CreateUser&Version=2010-05-08&UserName=a",
        b"Action=UntagMFADevice&Version=2010-05-08&SerialNumber=123456789&TagKeys.member.1=a"
        b"&TagKeys.member.1=b",
        b"Action=CreateUser&Version=2010-05-08&UserName=a&Foo=1&Foo=1",
    ],
)
def test_a_parameter_given_twice_is_refused(body: bytes) -> None:
    error = refusal(iam_model(), body)
    assert (error.code, error.status, error.sender) == ("InvalidQueryParameter", 400, True)


def test_unknown_parameters_are_ignored() -> None:
    body = (
        b"Action=CreateUser&Version=2010-05-08&UserName=alice&Colour=blue&UserName.x=1"
        b"&X-Amz-Signature=abc&Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.1.Extra=e"
        b"&Tags.member.x.Key=k2&Tags.member.0.Key=k3&Tags.member.01.Key=k4&Tags.other.1.Key=k5"
    )
    assert parse_body(iam_model(), body) == (
        "CreateUser",
        {"UserName": "alice", "Tags": [{"Key": "k", "Value": "v"}]},
    )


def test_list_elements_are_taken_in_numeric_order_and_gaps_close() -> None:
    body = (
        b"Action=UntagMFADevice&Version=2010-05-08&SerialNumber=123456789"
        b"&TagKeys.member.10=ten&TagKeys.member.2=two&TagKeys.member.9=nine"
    )
    params = parse_body(iam_model(), body)[1]
    assert params["TagKeys"] == ["two", "nine", "ten"]


def test_types_are_converted() -> None:
    model = sts_model()
    body = b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=%2B0900"
    assert parse_body(model, body)[1] == {"DurationSeconds": 900}
    body = b"Action=CreateLoginProfile&Version=2010-05-08&UserName=a&PasswordResetRequired=TRUE"
    assert parse_body(iam_model(), body)[1] == {"UserName": "a", "PasswordResetRequired": True}


def test_models_are_loaded_once() -> None:
    assert iam_model() is iam_model() is ServiceModel.load("iam")
    assert sts_model().namespace == "https://sts.amazonaws.com/doc/2011-06-15/"
    assert iam_model().namespace == "https://iam.amazonaws.com/doc/2010-05-08/"
    with pytest.raises(ValueError):
        ServiceModel.load("s3")


# --- the form body ---------------------------------------------------------------------------


def test_form_body_keeps_blank_values_and_repeats() -> None:
    assert parse_form_body(b"A=1&B=&C&A=2&&D=x%2By+z%26") == {
        "A": ["1", "2"],
        "B": [""],
        "C": [""],
        "D": ["x+y z&"],
    }
    assert parse_form_body(b"") == {}
    assert parse_form_body("UserName=Zoë".encode()) == {"UserName": ["Zoë"]}


@pytest.mark.parametrize(
    "body", [b"A=%zz", b"A=%4", b"A=%", b"%G0=1", b"A=%ff", b"A=\xff", b"A=%C3"]
)
def test_form_body_refuses_bad_encoding(body: bytes) -> None:
    with pytest.raises(QueryError) as refused:
        parse_form_body(body)
    assert (refused.value.code, refused.value.status) == ("MalformedQueryString", 404)


def test_form_body_caps_the_number_of_fields() -> None:
    assert len(parse_form_body(b"&".join(b"F%d=1" % i for i in range(1000)))) == 1000
    with pytest.raises(QueryError) as refused:
        parse_form_body(b"&".join(b"F%d=1" % i for i in range(1001)))
    assert (refused.value.code, refused.value.status) == ("InvalidQueryParameter", 400)
    assert len(parse_form_body(b"A=1&B=2&C=3", max_fields=3)) == 3


def test_echoed_names_are_bounded() -> None:
    error = refusal(iam_model(), b"Action=" + b"X" * 10000 + b"&Version=2010-05-08")
    assert error.code == "InvalidAction"
    assert len(error.message) < 2200
    twice = b"&".join([b"K" * 9000 + b"=1"] * 2)
    error = refusal(iam_model(), b"Action=GetUser&Version=2010-05-08&" + twice)
    assert error.code == "InvalidQueryParameter"
    assert len(error.message) < 2200
