"""The AWS Query protocol: a form body in, an operation's parameters out; results and errors
back as AWS's XML. Everything is driven by the operation's shapes in botocore's models.

What AWS does, and what we chose where it is not documented:
- `Action` missing: `MissingAction`. `Version` missing, or not the model's: `InvalidAction`,
  "Could not find operation X for version NO_VERSION_SPECIFIED" (or the version given), the
  words IAM and STS answer with (seen in the wild, e.g. hashicorp/terraform-provider-aws#49189,
  where a client lost its Version); an unknown Action gets the same answer, with status 400.
- Parameters the operation does not have are ignored, as Query services do (SigV2/presign
  fields such as `X-Amz-Signature` arrive the same way). Not checked against live AWS.
- A parameter given twice: `InvalidQueryParameter` (400; "Common Errors": the query string
  does not adhere to AWS standards). AWS's exact answer is not documented.
- Lists are `Name.member.N` (N from 1, in numeric order; gaps close up), `Name=` alone is the
  empty list; maps are `Name.entry.N.key` / `.value`; nested structures `Name.Member`.
- A value that is not of its member's type (`MaxItems=abc`) is one more validation violation,
  worded in AWS's form ("Member must be a number"); the wording itself is ours.
- Responses carry no XML declaration, like IAM's and STS's own.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel, Shape, common_error
from tokenbench.verifier.http.query_validation import (
    check,
    element_path,
    member_path,
    missing,
    one_line,
    shown,
    validation_error,
    violation,
)

__all__ = [
    "QueryError",
    "parse_form_body",
    "parse_query",
    "render_error",
    "render_query_error",
    "render_result",
]

ACTION = "Action"
VERSION = "Version"
NO_VERSION = "NO_VERSION_SPECIFIED"
MISSING_ACTION = "MissingAction"
INVALID_ACTION = "InvalidAction"
INVALID_QUERY_PARAMETER = "InvalidQueryParameter"
MALFORMED_QUERY_STRING = "MalformedQueryString"
LIST_MEMBER = "member"
MAP_ENTRY = "entry"
MAX_FIELDS = 1000  # IAM's largest requests (50 tags, 20 policy ARNs...) need a few hundred

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_INDEX = re.compile(r"[1-9][0-9]{0,8}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|NaN|[+-]?Infinity")
_INT_BOUNDS = {"integer": 2**31, "long": 2**63}  # Java's int and long
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TYPE_RULES = {
    "integer": "Member must be a number",
    "long": "Member must be a number",
    "float": "Member must be a number",
    "double": "Member must be a number",
    "boolean": "Member must be true or false",
    "timestamp": "Member must be an ISO 8601 timestamp",
    "blob": "Member must be base64-encoded",
}


class _Sentinel:
    """A member with no value to pass on: _ABSENT, not in the request (a missing required
    member is a violation); _INVALID, given but not of its type (already reported)."""


_ABSENT = _Sentinel()
_INVALID = _Sentinel()


# --- request body --------------------------------------------------------------------------


def parse_form_body(body: bytes, *, max_fields: int = MAX_FIELDS) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body as key -> every value given (in order).

    Strict where a lenient decoder would guess: a `%` not followed by two hex digits, or
    bytes that are not UTF-8, are `MalformedQueryString`; more than `max_fields` fields is
    `InvalidQueryParameter`. Blank values (`UserName=`, `UserName`) are kept as "".
    Capping the body's size is the caller's job, before reading it.
    """
    fields = [part for part in body.split(b"&") if part]
    if len(fields) > max_fields:
        raise common_error(
            INVALID_QUERY_PARAMETER, f"The request has more than {max_fields} parameters"
        )
    form: dict[str, list[str]] = {}
    for raw in fields:
        raw_key, _, raw_value = raw.partition(b"=")
        form.setdefault(_form_text(raw_key), []).append(_form_text(raw_value))
    return form


def _form_text(raw: bytes) -> str:
    if _BAD_PERCENT.search(raw):
        raise common_error(MALFORMED_QUERY_STRING, "The parameters have an invalid %-escape")
    try:
        return urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise common_error(MALFORMED_QUERY_STRING, "The parameters are not UTF-8") from None


# --- request parameters --------------------------------------------------------------------


@dataclass
class _Node:
    """The form's keys split on '.', so that shapes can look their members up."""

    value: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def parse_query(
    model: ServiceModel, form: Mapping[str, Sequence[str]]
) -> tuple[str, dict[str, Any]]:
    """(operation name, parameters named as the model's members), or QueryError.

    The parameters are ready for `handler(**params)`: lists as lists, structures as dicts
    (`Tags=[{"Key": ..., "Value": ...}]`), integers as int, booleans as bool, timestamps as
    aware datetimes, blobs as bytes. Every constraint of the model is checked first.
    """
    fields = _single_values(form)
    action = fields.pop(ACTION, "")
    version = fields.pop(VERSION, "")
    if not action:
        raise model.error(MISSING_ACTION, "The request must contain the parameter Action")
    operation = model.operation(action) if version == model.api_version else None
    if operation is None:
        given = shown(version) if version else NO_VERSION
        raise model.error(
            INVALID_ACTION, f"Could not find operation {shown(action)} for version {given}"
        )
    if operation.input_shape is None:
        return str(operation.name), {}
    violations: list[str] = []
    params = _structure(operation.input_shape, _tree(fields), "", violations)
    if violations:
        raise validation_error(model, violations)
    return str(operation.name), params


def _single_values(form: Mapping[str, Sequence[str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, values in form.items():
        if len(values) > 1:
            raise common_error(
                INVALID_QUERY_PARAMETER, f"The parameter {shown(key)} is given more than once"
            )
        if values:
            fields[key] = values[0]
    return fields


def _tree(fields: Mapping[str, str]) -> _Node:
    root = _Node()
    for key, value in fields.items():
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, _Node())
        node.value = value
    return root


def _value(shape: Shape, node: _Node, path: str, violations: list[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, node, path, violations) if node.children else _ABSENT
    if kind == "list":
        return _list(shape, node, path, violations)
    if kind == "map":
        return _map(shape, node, path, violations)
    if node.value is None:
        return _ABSENT
    return _scalar(shape, node.value, path, violations)


def _structure(shape: Shape, node: _Node, path: str, violations: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        here = member_path(path, name)
        child = node.children.get(member.serialization.get("name", name))
        value = _ABSENT if child is None else _value(member, child, here, violations)
        if value is _ABSENT:
            if name in shape.required_members:
                violations.append(missing(here, member))
        elif value is not _INVALID:
            params[name] = value
    return params


def _indexed(node: _Node | None) -> list[_Node]:
    """The children `1`, `2`, ... of a list or map node, in numeric order."""
    if node is None:
        return []
    numbered = [(int(key), child) for key, child in node.children.items() if _INDEX.fullmatch(key)]
    return [child for _, child in sorted(numbered, key=lambda pair: pair[0])]


def _list(shape: Shape, node: _Node, path: str, violations: list[str]) -> Any:
    element = shape.member
    if shape.serialization.get("flattened"):
        holder: _Node | None = node
    else:
        holder = node.children.get(element.serialization.get("name", LIST_MEMBER))
    items = _indexed(holder)
    if not items and node.value != "":
        return _ABSENT
    values: list[Any] = []
    for child in items:
        value = _value(element, child, element_path(path, len(values) + 1), violations)
        if value is not _ABSENT and value is not _INVALID:
            values.append(value)
    violations.extend(check(path, values, shape))
    return values


def _map(shape: Shape, node: _Node, path: str, violations: list[str]) -> Any:
    holder = node if shape.serialization.get("flattened") else node.children.get(MAP_ENTRY)
    items = _indexed(holder)
    if not items and node.value != "":
        return _ABSENT
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    entries: dict[Any, Any] = {}
    for position, entry in enumerate(items, 1):
        key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
        if key_node is None or value_node is None:
            continue
        here = f"{path}.{position}"
        key = _value(shape.key, key_node, f"{here}.key", violations)
        value = _value(shape.value, value_node, f"{here}.value", violations)
        if all(part is not _ABSENT and part is not _INVALID for part in (key, value)):
            entries[key] = value
    violations.extend(check(path, entries, shape))
    return entries


def _scalar(shape: Shape, raw: str, path: str, violations: list[str]) -> Any:
    try:
        value = _convert(shape.type_name, raw)
    except (ValueError, OverflowError, OSError):
        violations.append(violation(path, raw, shape, _TYPE_RULES[shape.type_name]))
        return _INVALID
    violations.extend(check(path, value, shape))
    return value


def _convert(kind: str, raw: str) -> Any:
    """A Query value as the Python type of its shape; ValueError when it is not one."""
    if kind == "string":
        return raw
    if kind in _INT_BOUNDS:
        number = int(raw) if _INTEGER.fullmatch(raw) else None
        if number is None or not -_INT_BOUNDS[kind] <= number < _INT_BOUNDS[kind]:
            raise ValueError(raw)
        return number
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValueError(raw)
        return raw.lower() == "true"
    if kind in ("float", "double"):
        if not _NUMBER.fullmatch(raw):
            raise ValueError(raw)
        return float(raw.replace("Infinity", "inf"))
    if kind == "timestamp":
        if _NUMBER.fullmatch(raw):
            return datetime.fromtimestamp(float(raw), tz=UTC)
        moment = datetime.fromisoformat(raw)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if kind == "blob":
        return base64.b64decode(raw, validate=True)
    raise ValueError(f"no Query decoding for shape type {kind}")


# --- responses -----------------------------------------------------------------------------


def render_result(
    model: ServiceModel, operation_name: str, result: Mapping[str, Any] | None, request_id: str
) -> bytes:
    """`<XResponse><XResult>...</XResult><ResponseMetadata>...` for a handler's result.

    `result` is keyed by the output shape's member names; None values are left out. A key the
    shape does not have, or a value of the wrong type, raises ValueError/TypeError: that is a
    handler's bug, and dropping it silently would hide it. Timestamps may be datetimes (aware),
    epoch seconds or already formatted strings; blobs bytes, or str taken as base64 already.
    """
    operation = model.operation(operation_name)
    if operation is None:
        raise ValueError(f"{model.name} has no operation {operation_name!r}")
    name = operation.name
    out = [f'<{name}Response xmlns="{model.namespace}">']
    shape = operation.output_shape
    if shape is None:
        if result:
            raise ValueError(f"{name} has no output, got {sorted(result)}")
    else:
        wrapper = shape.serialization.get("resultWrapper")
        out.append(f"<{wrapper}>" if wrapper else "")
        _members(shape, result or {}, out)
        out.append(f"</{wrapper}>" if wrapper else "")
    out.append(f"<ResponseMetadata><RequestId>{_text(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{name}Response>")
    return "".join(out).encode("utf-8")


def render_error(
    model: ServiceModel, code: str, message: str, request_id: str, *, status: int | None = None
) -> tuple[int, bytes]:
    """(HTTP status, `<ErrorResponse>` body) for an error code, as IAM and STS send it.

    Status and Sender/Receiver come from the model's error shapes, else COMMON_ERRORS;
    `status` overrides the status (and, for a code neither knows, decides the fault).
    """
    try:
        known_status, sender = model.error_kind(code)
    except ValueError:
        if status is None:
            raise
        known_status, sender = status, status < 500
    return status or known_status, _error_body(model, code, message, request_id, sender)


def render_query_error(
    model: ServiceModel, error: QueryError, request_id: str
) -> tuple[int, bytes]:
    """(HTTP status, body) for a QueryError raised by this module or by a handler."""
    return error.status, _error_body(model, error.code, error.message, request_id, error.sender)


def _error_body(
    model: ServiceModel, code: str, message: str, request_id: str, sender: bool
) -> bytes:
    fault = "Sender" if sender else "Receiver"
    return (
        f'<ErrorResponse xmlns="{model.namespace}"><Error><Type>{fault}</Type>'
        f"<Code>{_text(one_line(code))}</Code><Message>{_text(one_line(message))}</Message>"
        f"</Error><RequestId>{_text(one_line(request_id))}</RequestId></ErrorResponse>"
    ).encode()


def _text(value: str) -> str:
    """XML character data; a character XML 1.0 cannot carry is a ValueError, and a carriage
    return is written as a reference so that XML parsers do not turn it into a newline."""
    bad = _XML_INVALID.search(value)
    if bad:
        raise ValueError(f"U+{ord(bad.group()):04X} cannot appear in XML")
    return escape(value, {"\r": "&#13;"})


def _members(shape: Shape, values: Mapping[str, Any], out: list[str]) -> None:
    unknown = set(values) - set(shape.members)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not members of {shape.name}")
    for name, member in shape.members.items():
        value = values.get(name)
        if value is None:
            continue
        tag = member.serialization.get("name", name)
        out.append(f"<{tag}>")
        _render(member, value, out)
        out.append(f"</{tag}>")


def _render(shape: Shape, value: Any, out: list[str]) -> None:
    kind = shape.type_name
    if shape.serialization.get("flattened"):
        raise ValueError(f"flattened {shape.name} is not used by IAM or STS")
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise TypeError(f"{shape.name} needs a mapping, got {type(value).__name__}")
        _members(shape, value, out)
    elif kind == "list":
        if isinstance(value, str | bytes | Mapping):
            raise TypeError(f"{shape.name} needs a sequence, got {type(value).__name__}")
        tag = shape.member.serialization.get("name", LIST_MEMBER)
        for item in value:
            out.append(f"<{tag}>")
            _render(shape.member, item, out)
            out.append(f"</{tag}>")
    elif kind == "map":
        for key, item in value.items():
            out.append(f"<{MAP_ENTRY}><key>")
            _render(shape.key, key, out)
            out.append("</key><value>")
            _render(shape.value, item, out)
            out.append(f"</value></{MAP_ENTRY}>")
    else:
        out.append(_text(_scalar_text(shape, value)))


def _scalar_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "string" and isinstance(value, str):
        return value
    if kind in _INT_BOUNDS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if (
        kind in ("float", "double")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return repr(float(value))
    if kind == "timestamp":
        return _timestamp_text(value)
    if kind == "blob" and isinstance(value, bytes | str):
        if isinstance(value, str):
            base64.b64decode(value, validate=True)  # a str must already be base64
            return value
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{shape.name} ({kind}) cannot hold {type(value).__name__}")


def _timestamp_text(value: Any) -> str:
    """ISO 8601 in UTC with `Z`, milliseconds only when there are some (as IAM and STS do)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"a timestamp needs an aware datetime, epoch seconds or str: {value!r}")
    moment = value.astimezone(UTC)
    text = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"
