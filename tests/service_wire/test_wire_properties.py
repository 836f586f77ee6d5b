"""Whatever arrives on the wire, the parsers answer parameters or a QueryError, never a crash,
and every QueryError renders as XML botocore can read."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from wire_helpers import SERIAL, botocore_body, botocore_reads

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel, iam_model, sts_model
from tokenbench.verifier.http.query_wire import (
    parse_form_body,
    parse_query,
    render_query_error,
)

IAM_ACTIONS = [
    "CreateUser",
    "EnableMFADevice",
    "TagMFADevice",
    "UntagMFADevice",
    "ListVirtualMFADevices",
    "CreateLoginProfile",
    "PutAccountProperties",
    "GetUser",
]
STS_ACTIONS = ["AssumeRole", "GetSessionToken", "GetCallerIdentity"]
KEYS = [
    "UserName",
    "Path",
    "SerialNumber",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "Tags",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "Tags.member.2.Key",
    "Tags.member.x",
    "TagKeys",
    "TagKeys.member.1",
    "TagKeys.member.2",
    "AssignmentStatus",
    "MaxItems",
    "Marker",
    "Password",
    "PasswordResetRequired",
    "Properties.entry.1.key",
    "Properties.entry.1.value",
    "Properties.entry.2.value",
    "DurationSeconds",
    "RoleArn",
    "RoleSessionName",
    "PolicyArns.member.1.arn",
    "TokenCode",
]

_keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=20))
_values = st.lists(
    st.one_of(st.text(max_size=40), st.sampled_from(["", "1", "-1", "true", SERIAL, "123456"])),
    max_size=2,
)


def _check_error(model: ServiceModel, error: QueryError) -> None:
    assert error.code and "\n" not in error.message
    status, xml = render_query_error(model, error, "r")
    assert status == error.status
    operation = "GetCallerIdentity" if model is sts_model() else "GetUser"
    assert botocore_reads(model, operation, xml, status)["Error"]["Code"] == error.code


def _parse(model: ServiceModel, form: dict[str, list[str]]) -> None:
    try:
        action, params = parse_query(model, form)
    except QueryError as error:
        _check_error(model, error)
        return
    assert action == form["Action"][0]
    assert isinstance(params, dict)


@given(
    action=st.sampled_from([*IAM_ACTIONS, "", "Nope"]),
    version=st.sampled_from(["2010-05-08", "2011-06-15", ""]),
    fields=st.dictionaries(_keys, _values, max_size=12),
)
def test_random_iam_forms(action: str, version: str, fields: dict[str, list[str]]) -> None:
    _parse(iam_model(), {**fields, "Action": [action], "Version": [version]})


@given(
    action=st.sampled_from(STS_ACTIONS),
    fields=st.dictionaries(_keys, _values, max_size=12),
)
def test_random_sts_forms(action: str, fields: dict[str, list[str]]) -> None:
    _parse(sts_model(), {**fields, "Action": [action], "Version": ["2011-06-15"]})


@given(fields=st.dictionaries(st.text(max_size=30), _values, max_size=8))
def test_forms_without_protocol_fields(fields: dict[str, list[str]]) -> None:
    try:
        parse_query(iam_model(), fields)
    except QueryError as error:
        _check_error(iam_model(), error)


_body_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                b"Action=CreateUser",
                b"Version=2010-05-08",
                b"UserName=",
                b"UserName=a%2",
                b"%",
                b"Tags.member.1.Key=%E2%82",
                b"=",
                b"&",
                b"+",
                b"Path=%2F",
                b"UserName=b%C3%A9",
            ]
        ),
        max_size=8,
    ).map(b"&".join),
)


@given(body=_body_bytes)
def test_random_bodies(body: bytes) -> None:
    try:
        form = parse_form_body(body)
    except QueryError as error:
        _check_error(iam_model(), error)
        return
    assert all(isinstance(v, list) and v for v in form.values())
    try:
        parse_query(iam_model(), form)
    except QueryError as error:
        _check_error(iam_model(), error)


_tag_text = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "Zs", "P", "S", "Cc"]), max_size=12
)


@given(tags=st.lists(st.fixed_dictionaries({"Key": _tag_text, "Value": _tag_text}), max_size=4))
def test_tags_from_botocore_are_accepted_or_refused_whole(tags: list[dict[str, Any]]) -> None:
    body = botocore_body(iam_model(), "TagMFADevice", {"SerialNumber": SERIAL, "Tags": tags})
    try:
        params = parse_query(iam_model(), parse_form_body(body))[1]
    except QueryError as error:
        assert error.code == "ValidationError"
        _check_error(iam_model(), error)
        return
    assert params == {"SerialNumber": SERIAL, "Tags": tags}
