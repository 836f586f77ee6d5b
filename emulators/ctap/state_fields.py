"""Typed reads of the key state's JSON fields, for a file a user may have damaged.

`json.loads` hands back whatever the file says: `1e400` is infinity, `1.5` is a float, `true`
is a bool (an int to Python), and a number may be far too large for a CBOR integer. Plain
`int(value)` turns these into OverflowError, silent truncation or a crash much later. These
readers accept only the exact JSON type in its range and raise ValueError otherwise, which the
state parser reports as its one-line `StateError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what CBOR and SQLite-style consumers can carry


def int_field(
    data: Mapping[str, Any], name: str, default: int, low: int = INT64_MIN, high: int = INT64_MAX
) -> int:
    """`data[name]` (or `default`): a JSON integer, not a bool or float, within [low, high]."""
    return checked_int(data.get(name, default), name, low, high)


def checked_int(value: object, name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not an integer")
    if not low <= value <= high:
        raise ValueError(f"{name} is out of range")
    return value


def str_field(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def optional_str_field(data: Mapping[str, Any], name: str) -> str | None:
    return str_field(data, name) if data.get(name) is not None else None


def bool_field(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} is not true or false")
    return value


def mapping_field(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not an object")
    return value


def list_field(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value
