"""Puts this folder on sys.path so the tests can share `sigv4_helpers` (as tests/verifier does)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
