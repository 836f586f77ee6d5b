"""Parameter shapes of the IAM API (names, paths, serials, codes, tags) and the ARNs we mint.

Each check raises `IamError(ValidationError | InvalidInput)` with the parameter's name, the way
IAM reports a constraint violation, so a caller sees which argument was wrong.
"""

from __future__ import annotations

import base64
import datetime
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from tokenbench.verifier.errors import INVALID_INPUT, VALIDATION_ERROR, IamError

ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
DEVICE_NAME_RE = re.compile(r"[\w+=,.@-]{1,226}", re.ASCII)
USER_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)  # CreateUser's userNameType
EXISTING_USER_NAME_RE = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)  # existingUserNameType
POLICY_NAME_RE = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
ROLE_SESSION_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
INTEGER_RE = re.compile(r"-?[0-9]{1,12}")
PATH_RE = re.compile(r"/|/[\x21-\x7E]+/")
MAX_PATH = 512
SERIAL_RE = re.compile(r"[\w+=/:,.@-]{9,256}", re.ASCII)
AUTH_CODE_RE = re.compile(r"[0-9]{6}")  # authenticationCodeType and STS tokenCodeType
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TAGS = 50
TAG_PUNCTUATION = frozenset(" _.:/=+-@")
RESERVED_TAG_PREFIX = "aws:"
ASSIGNMENT_STATUSES = ("Assigned", "Unassigned", "Any")
ROOT_USER_NAME = "root"
MAX_DEVICES_PER_IDENTITY = 8  # IAM: up to 8 MFA devices of any kinds per identity
KIND_VIRTUAL, KIND_HARDWARE, KIND_FIDO, KIND_SMS = "virtual", "hardware", "fido", "sms"
TOTP_KINDS = (KIND_VIRTUAL, KIND_HARDWARE)


def _fail(parameter: str, rule: str) -> IamError:
    return IamError(
        VALIDATION_ERROR,
        f"1 validation error detected: Value at '{_camel(parameter)}' failed to satisfy "
        f"constraint: {rule}",
    )


def _camel(parameter: str) -> str:
    return parameter[:1].lower() + parameter[1:]


def _check(value: object, pattern: re.Pattern[str], parameter: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(parameter, rule)
    return value


def account_id(value: object) -> str:
    return _check(value, ACCOUNT_ID_RE, "AccountId", "Member must be 12 digits")


def device_name(value: object) -> str:
    return _check(
        value,
        DEVICE_NAME_RE,
        "VirtualMFADeviceName",
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-226",
    )


def user_name(value: object, parameter: str = "UserName") -> str:
    """A name being created (CreateUser, CreateRole): 1-64 characters."""
    return _check(
        value,
        USER_NAME_RE,
        parameter,
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-64",
    )


def existing_user_name(value: object, parameter: str = "UserName") -> str:
    """A name that refers to an existing user (GetUser, DeleteUser, ...): IAM allows 1-128."""
    return _check(
        value,
        EXISTING_USER_NAME_RE,
        parameter,
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-128",
    )


def policy_name(value: object) -> str:
    return _check(
        value,
        POLICY_NAME_RE,
        "PolicyName",
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-128",
    )


def role_session_name(value: object) -> str:
    return _check(
        value,
        ROLE_SESSION_NAME_RE,
        "RoleSessionName",
        "Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2-64",
    )


def integer(value: object, parameter: str, low: int, high: int) -> int:
    """An integer member with the model's min and max (the wire layer sends ints or digits)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(parameter, "Member must be an integer")
    if isinstance(value, str) and not INTEGER_RE.fullmatch(value):
        raise _fail(parameter, "Member must be an integer")
    number = int(value)
    if number < low:
        raise _fail(parameter, f"Member must have value greater than or equal to {low}")
    if number > high:
        raise _fail(parameter, f"Member must have value less than or equal to {high}")
    return number


def path(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_PATH or not PATH_RE.fullmatch(value):
        raise _fail(
            "Path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+"
            "\\u002F) and length 1-512",
        )
    return value


def serial_number(value: object) -> str:
    return _check(
        value,
        SERIAL_RE,
        "SerialNumber",
        "Member must satisfy regular expression pattern: [\\w+=/:,.@-]+ and length 9-256",
    )


def authentication_code(value: object, parameter: str) -> str:
    return _check(
        value,
        AUTH_CODE_RE,
        parameter,
        "Member must satisfy regular expression pattern: [\\d]+ and length 6-6",
    )


def serial_and_codes(serial: object, code1: object, code2: object) -> None:
    """EnableMFADevice's and ResyncMFADevice's SerialNumber and two AuthenticationCodes."""
    serial_number(serial)
    authentication_code(code1, "AuthenticationCode1")
    authentication_code(code2, "AuthenticationCode2")


def assignment_status(value: object) -> str:
    if value not in ASSIGNMENT_STATUSES:
        raise _fail(
            "AssignmentStatus",
            "Member must satisfy enum value set: [Assigned, Unassigned, Any]",
        )
    return str(value)


def _tag_text_ok(text: str) -> bool:
    return all(
        ch.isalnum() or ch in TAG_PUNCTUATION or unicodedata.category(ch).startswith("Z")
        for ch in text
    )


def tags(value: object) -> list[tuple[str, str]]:
    """[{"Key": k, "Value": v}, ...] -> [(k, v)]; keys unique regardless of case."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _fail("Tags", "Member must be a list of {Key, Value}")
    if len(value) > MAX_TAGS:
        raise IamError("LimitExceeded", f"a resource can have at most {MAX_TAGS} tags")
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tag in value:
        if not isinstance(tag, Mapping) or set(tag) - {"Key", "Value"} or "Key" not in tag:
            raise _fail("Tags", "Member must be a list of {Key, Value}")
        key, text = tag["Key"], tag.get("Value", "")
        result.append((tag_key(key), tag_value(text)))
        if key.lower() in seen:
            raise IamError(INVALID_INPUT, f"duplicate tag key {key!r} (keys ignore case)")
        seen.add(key.lower())
    return result


def tag_key(key: object) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY or not _tag_text_ok(key):
        raise _fail(
            "Tags.member.Key",
            "Member must be 1-128 letters, digits, spaces or _.:/=+-@",
        )
    if key.lower().startswith(RESERVED_TAG_PREFIX):
        raise IamError(INVALID_INPUT, "tag keys starting with 'aws:' are reserved")
    return key


def tag_keys(value: object) -> list[str]:
    """UntagMFADevice's TagKeys: at most 50 keys (tagKeyListType)."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _fail("TagKeys", "Member must be a list of tag keys")
    if len(value) > MAX_TAGS:
        raise _fail("TagKeys", f"Member must have length less than or equal to {MAX_TAGS}")
    return [tag_key(key) for key in value]


def tag_value(text: object) -> str:
    if not isinstance(text, str) or len(text) > MAX_TAG_VALUE or not _tag_text_ok(text):
        raise _fail(
            "Tags.member.Value",
            "Member must be 0-256 letters, digits, spaces or _.:/=+-@",
        )
    return text


def virtual_serial(account: str, device_path: str, name: str) -> str:
    """`arn:aws:iam::ACCOUNT:mfa/<path without its leading slash><name>`."""
    return f"arn:aws:iam::{account}:mfa/{device_path[1:]}{name}"


def fido_serial(account: str, owner: str | None, label: str) -> str:
    """IAM's FIDO serial shape: `arn:aws:iam::ACCOUNT:u2f/user/NAME/LABEL` (root: `u2f/root/`)."""
    where = "root" if owner is None else f"user/{owner}"
    return f"arn:aws:iam::{account}:u2f/{where}/{label}"


def sms_serial(account: str, owner: str) -> str:
    return f"arn:aws:iam::{account}:sms-mfa/{owner}"


def user_arn(account: str, user_path: str, name: str, is_root: bool) -> str:
    if is_root:
        return f"arn:aws:iam::{account}:root"
    return f"arn:aws:iam::{account}:user{user_path}{name}"


def role_arn(account: str, role_path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role{role_path}{name}"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    """STS's ARN for a role session (the role's path is not part of it)."""
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


def unique_id(prefix: str, rng: Callable[[int], bytes], length: int = 17) -> str:
    """IAM's unique IDs (AIDA…, AROA…: 17 characters after the prefix; access key IDs AKIA…,
    ASIA…: 16): a prefix and upper-case base32."""
    return prefix + base64.b32encode(rng(11)).decode()[:length]


def iso_date(when: float) -> str:
    """IAM dates as the AWS CLI prints them: `2026-11-29T12:00:00+00:00`."""
    return datetime.datetime.fromtimestamp(when, datetime.UTC).isoformat(timespec="seconds")
