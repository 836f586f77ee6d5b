"""Argument types shared by the command groups (each answers argparse's one-line error)."""

from __future__ import annotations

import argparse
import math


def unix_time(text: str) -> float:
    """`--at`: seconds since the epoch, a non-negative finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a Unix time: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"a Unix time is a non-negative number, not {text!r}")
    return value
