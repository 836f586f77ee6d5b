"""Placeholder."""

from typing import Any


def process(auth: Any, apdu: bytes, transaction: Any) -> bytes:
    return b"\x6d\x00"
