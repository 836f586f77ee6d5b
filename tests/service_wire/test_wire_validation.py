"""Parameters checked against the model's constraints, refused with AWS's ValidationError."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from wire_helpers import SERIAL, botocore_body, parse_body, refusal

from tokenbench.verifier.http.aws_model import iam_model, input_patterns, java_pattern, sts_model
from tokenbench.verifier.http.query_validation import MAX_ECHO


def _body(action: str, **params: str) -> bytes:
    fields = {"Action": action, "Version": "2010-05-08", **params}
    return urllib.parse.urlencode(fields).encode()


def _message(body: bytes) -> str:
    error = refusal(iam_model(), body)
    assert (error.code, error.status, error.sender) == ("ValidationError", 400, True)
    assert "\n" not in error.message
    return error.message


def test_every_input_pattern_compiles() -> None:
    for model in (iam_model(), sts_model()):
        patterns = input_patterns(model)
        assert len(patterns) > 10
        for pattern, where in patterns.items():
            assert isinstance(java_pattern(pattern), re.Pattern), where


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"[\w+=,.@-]+", "alice_1", True),
        (r"[\w+=,.@-]+", "zoë", False),  # Java's \w is ASCII
        (r"[\d]+", "١٢٣٤٥٦", False),  # so is \d
        (r"[\d]+", "123456", True),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "Zoë 日本 ١٢", True),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "€", False),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "a\tb", False),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "", True),
        (r"\p{N}+", "42", True),
        (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", "/a/", True),
        (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", "/a", False),  # fullmatch, not search
        (r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$", "my-alias", True),
        (r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$", "my-alias\n", False),
    ],
)
def test_java_patterns_mean_what_java_means(pattern: str, text: str, matches: bool) -> None:
    assert (java_pattern(pattern).fullmatch(text) is not None) is matches


def test_an_eight_digit_code_is_refused() -> None:
    body = _body(
        "EnableMFADevice",
        UserName="alice",
        SerialNumber=SERIAL,
        AuthenticationCode1="12345678",
        AuthenticationCode2="123456",
    )
    assert _message(body) == (
        "1 validation error detected: Value '12345678' at 'authenticationCode1' failed to "
        "satisfy constraint: Member must have length less than or equal to 6"
    )


def test_a_code_that_is_not_digits() -> None:
    body = _body(
        "EnableMFADevice",
        UserName="alice",
        SerialNumber=SERIAL,
        AuthenticationCode1="abc",
        AuthenticationCode2="12345a",
    )
    assert _message(body) == (
        "3 validation errors detected: "
        "Value 'abc' at 'authenticationCode1' failed to satisfy constraint: Member must have "
        "length greater than or equal to 6; "
        "Value 'abc' at 'authenticationCode1' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [\\d]+; "
        "Value '12345a' at 'authenticationCode2' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\d]+"
    )


def test_errors_are_collected_with_missing_members() -> None:
    body = _body(
        "EnableMFADevice", UserName="u" * 129, AuthenticationCode1="1", AuthenticationCode2="2"
    )
    message = _message(body)
    assert message.startswith(
        "4 validation errors detected: Value '" + "u" * 129 + "' at 'userName' failed to "
        "satisfy constraint: Member must have length less than or equal to 128; "
        "Value null at 'serialNumber' failed to satisfy constraint: Member must not be null; "
    )
    assert message.count("; ") == 3


def test_virtual_mfa_device_name_length_follows_the_model() -> None:
    shape = iam_model().botocore_model.operation_model("CreateVirtualMFADevice").input_shape
    limit = shape.members["VirtualMFADeviceName"].metadata.get("max")
    name = "d" * 227
    body = botocore_body(iam_model(), "CreateVirtualMFADevice", {"VirtualMFADeviceName": name})
    if limit is None or limit >= 227:
        assert parse_body(iam_model(), body)[1] == {"VirtualMFADeviceName": name}
    else:
        assert "Member must have length less than or equal to" in _message(body)


@pytest.mark.parametrize("length", [0, 1, 64, 65])
def test_user_name_limits_follow_the_model(length: int) -> None:
    shape = iam_model().botocore_model.operation_model("CreateUser").input_shape
    meta = shape.members["UserName"].metadata
    assert (meta["min"], meta["max"]) == (1, 64)
    body = _body("CreateUser", UserName="n" * length)
    if meta["min"] <= length <= meta["max"]:
        assert parse_body(iam_model(), body)[1] == {"UserName": "n" * length}
        return
    bound = (
        f"greater than or equal to {meta['min']}"
        if length < meta["min"]
        else f"less than or equal to {meta['max']}"
    )
    messages = _message(body).split("; ")
    expected = (
        f"Value '{'n' * length}' at 'userName' failed to satisfy constraint: "
        f"Member must have length {bound}"
    )
    assert messages[0].endswith(expected)
    if length == 0:  # the empty string fails the pattern too
        assert messages[1].endswith("Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def test_untagging_51_keys_is_refused() -> None:
    keys = [f"k{i}" for i in range(51)]
    body = botocore_body(iam_model(), "UntagMFADevice", {"SerialNumber": SERIAL, "TagKeys": keys})
    assert _message(body) == (
        f"1 validation error detected: Value '[{', '.join(keys)}]' at 'tagKeys' failed to "
        "satisfy constraint: Member must have length less than or equal to 50"
    )
    body = botocore_body(
        iam_model(), "UntagMFADevice", {"SerialNumber": SERIAL, "TagKeys": keys[:50]}
    )
    assert len(parse_body(iam_model(), body)[1]["TagKeys"]) == 50


def test_nested_members_are_named_by_path() -> None:
    tags = [{"Key": "ok", "Value": "fine"}, {"Key": "k" * 129, "Value": "bad€"}]
    body = botocore_body(iam_model(), "TagMFADevice", {"SerialNumber": SERIAL, "Tags": tags})
    assert _message(body) == (
        "2 validation errors detected: "
        f"Value '{'k' * 129}' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128; "
        "Value 'bad€' at 'tags.2.member.value' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
    )
    body = b"Action=TagMFADevice&Version=2010-05-08&SerialNumber=123456789&Tags.member.1.Value=v"
    assert _message(body) == (
        "1 validation error detected: Value null at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_list_element_paths() -> None:
    body = (
        b"Action=UntagMFADevice&Version=2010-05-08&SerialNumber=123456789"
        b"&TagKeys.member.1=ok&TagKeys.member.2=bad%E2%82%AC"
    )
    assert _message(body) == (
        "1 validation error detected: Value 'bad€' at 'tagKeys.2.member' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
    )


def test_enum_and_integer_range() -> None:
    body = _body("ListVirtualMFADevices", AssignmentStatus="any", MaxItems="0")
    assert _message(body) == (
        "2 validation errors detected: "
        "Value 'any' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy "
        "enum value set: [Assigned, Unassigned, Any]; "
        "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater "
        "than or equal to 1"
    )
    assert "less than or equal to 1000" in _message(_body("ListUsers", MaxItems="1001"))


@pytest.mark.parametrize("value", ["abc", "1.5", "", "0x10", "99999999999", " 1"])
def test_a_number_that_is_not_one(value: str) -> None:
    assert _message(_body("ListUsers", MaxItems=value)) == (
        f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy "
        "constraint: Member must be a number"
    )


def test_a_boolean_that_is_not_one() -> None:
    body = _body("CreateLoginProfile", UserName="a", PasswordResetRequired="yes")
    assert _message(body).endswith(
        "Value 'yes' at 'passwordResetRequired' failed to satisfy constraint: "
        "Member must be true or false"
    )


def test_sensitive_values_are_never_echoed() -> None:
    secret = "\u0001hunter2"  # outside passwordType's pattern
    body = _body("CreateLoginProfile", UserName="alice", Password=secret)
    message = _message(body)
    assert message.startswith("1 validation error detected: Value at 'password' failed to satisfy")
    assert "hunter2" not in message
    assert _message(_body("ChangePassword", OldPassword="")) == (
        "3 validation errors detected: "
        "Value at 'oldPassword' failed to satisfy constraint: Member must have length greater "
        "than or equal to 1; "
        "Value at 'oldPassword' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+; "
        "Value null at 'newPassword' failed to satisfy constraint: Member must not be null"
    )


def test_echoed_values_are_one_line_and_bounded() -> None:
    message = _message(_body("CreateUser", UserName="a\r\nb"))
    assert "Value 'a\\u000d\\u000ab' at 'userName'" in message
    message = _message(_body("CreateUser", UserName="x" * 5000))
    assert "'" + "x" * MAX_ECHO + "...'" in message
