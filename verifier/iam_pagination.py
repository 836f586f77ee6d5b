"""IAM's list pagination: `Marker` / `MaxItems` in, `IsTruncated` (and `Marker`) out.

The marker is opaque to callers, as IAM's is: the offset of the next item, wrapped so that a
client cannot mistake it for a name. Lists are ordered (creation order or name), so an offset
is stable as long as nothing is deleted in between, which is all IAM promises either. A marker
this service did not mint is a ValidationError "Invalid Marker." (moto answers the same).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import VALIDATION_ERROR, IamError

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000
MAX_MARKER = 320  # markerType
_MARKER_PREFIX = "tbp1:"
INVALID_MARKER = "Invalid Marker."

T = TypeVar("T")


def encode_marker(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_MARKER_PREFIX}{offset}".encode()).decode()


def decode_marker(marker: object) -> int:
    if not isinstance(marker, str) or not 1 <= len(marker) <= MAX_MARKER:
        raise IamError(VALIDATION_ERROR, INVALID_MARKER)
    try:
        text = base64.urlsafe_b64decode(marker.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise IamError(VALIDATION_ERROR, INVALID_MARKER) from None
    digits = text.removeprefix(_MARKER_PREFIX)
    if digits == text or not digits.isdigit() or len(digits) > 9:
        raise IamError(VALIDATION_ERROR, INVALID_MARKER)
    if encode_marker(int(digits)) != marker:  # only the exact text we mint
        raise IamError(VALIDATION_ERROR, INVALID_MARKER)
    return int(digits)


def paginate(
    items: Sequence[T], marker: str | None = None, max_items: int | str | None = None
) -> tuple[list[T], dict[str, Any]]:
    """One page of `items` and the response's `IsTruncated` / `Marker` members."""
    limit = DEFAULT_MAX_ITEMS
    if max_items is not None:
        limit = names.integer(max_items, "MaxItems", 1, MAX_ITEMS)
    start = 0 if marker is None else decode_marker(marker)
    if start > len(items):
        raise IamError(VALIDATION_ERROR, INVALID_MARKER)
    page = list(items[start : start + limit])
    end = start + len(page)
    if end < len(items):
        return page, {"IsTruncated": True, "Marker": encode_marker(end)}
    return page, {"IsTruncated": False}
