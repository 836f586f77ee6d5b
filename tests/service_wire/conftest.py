"""The Query wire's tests: botocore itself (its serializer and parser) is the reference.

This folder goes on sys.path so that the tests share `wire_helpers`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
