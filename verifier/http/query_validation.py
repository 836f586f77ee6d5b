"""A request's values checked against the model's constraints, worded as AWS words them.

AWS collects every violation and answers one `ValidationError`:
`2 validation errors detected: Value 'x' at 'userName' failed to satisfy constraint: Member
must ...; Value null at 'serialNumber' failed to satisfy constraint: Member must not be null`.

Member paths are the model's member names with a lower-case first letter (`authenticationCode1`);
a list element is `<list>.<n>.member` and a member of one `tags.1.member.key` (the form IAM's
own tag errors show). For one value, violations are listed in the order: length, pattern, enum,
range. A `sensitive` member's value is never echoed (`Value at 'password' failed ...`); nor is a
value holding structures, which AWS prints as Java objects; other values are made one line
(control characters escaped) and cut at MAX_ECHO characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel, Shape, java_pattern

VALIDATION_ERROR = "ValidationError"
MAX_ECHO = 2048  # characters of one value quoted in a message
NULL = "null"  # how AWS (Java) prints a missing value

# Line breaks (C0, C1, U+2028/9), and what XML 1.0 excludes (surrogates, U+FFFE, U+FFFF).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_SCALARS = ("string", "integer", "long", "boolean", "float", "double", "timestamp")


def member_path(parent: str, member_name: str) -> str:
    name = member_name[:1].lower() + member_name[1:]
    return f"{parent}.{name}" if parent else name


def element_path(parent: str, position: int) -> str:
    return f"{parent}.{position}.member"


def one_line(text: str) -> str:
    """`text` with line breaks, control characters and anything XML 1.0 cannot carry escaped
    as `\\uXXXX`, so that an echoed value can neither split a message nor break the XML."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shown(value: Any) -> str:
    """A value as a message quotes it: one line, at most MAX_ECHO characters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = one_line(str(value))
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "..."


def _echo(value: Any, shape: Shape) -> str | None:
    """The value as AWS quotes it, or None where it must not (or cannot usefully) be quoted."""
    if shape.metadata.get("sensitive"):
        return None
    if shape.type_name == "list":
        if shape.member.type_name not in _SCALARS or shape.member.metadata.get("sensitive"):
            return None
        return shown("[" + ", ".join(shown(v) for v in value) + "]")
    if shape.type_name in _SCALARS:
        return shown(value)
    return None


def violation(path: str, value: Any, shape: Shape, constraint: str) -> str:
    """One violation, as one clause of AWS's message; `value` None prints as `null`."""
    if value is None:
        return f"Value {NULL} at '{path}' failed to satisfy constraint: {constraint}"
    quoted = _echo(value, shape)
    if quoted is None:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    return f"Value '{quoted}' at '{path}' failed to satisfy constraint: {constraint}"


def missing(path: str, shape: Shape) -> str:
    return violation(path, None, shape, "Member must not be null")


def check(path: str, value: Any, shape: Shape) -> list[str]:
    """Every constraint of `shape` that `value` (already of the shape's type) breaks."""
    meta = shape.metadata
    found: list[str] = []
    if shape.type_name in ("string", "blob", "list", "map"):
        size = len(value)  # code points (Smithy's `length`), bytes, elements or entries
        if "min" in meta and size < meta["min"]:
            bound = f"Member must have length greater than or equal to {meta['min']}"
            found.append(violation(path, value, shape, bound))
        if "max" in meta and size > meta["max"]:
            bound = f"Member must have length less than or equal to {meta['max']}"
            found.append(violation(path, value, shape, bound))
    if shape.type_name == "string":
        pattern = meta.get("pattern")
        if pattern is not None and java_pattern(pattern).fullmatch(value) is None:
            rule = f"Member must satisfy regular expression pattern: {pattern}"
            found.append(violation(path, value, shape, rule))
        enum = meta.get("enum")
        if enum is not None and value not in enum:
            rule = f"Member must satisfy enum value set: [{', '.join(enum)}]"
            found.append(violation(path, value, shape, rule))
    if shape.type_name in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            bound = f"Member must have value greater than or equal to {meta['min']}"
            found.append(violation(path, value, shape, bound))
        if "max" in meta and value > meta["max"]:
            bound = f"Member must have value less than or equal to {meta['max']}"
            found.append(violation(path, value, shape, bound))
    return found


def validation_error(model: ServiceModel, violations: Sequence[str]) -> QueryError:
    """AWS's one ValidationError for all the violations found in a request."""
    count = len(violations)
    noun = "validation error" if count == 1 else "validation errors"
    return model.error(VALIDATION_ERROR, f"{count} {noun} detected: {'; '.join(violations)}")
