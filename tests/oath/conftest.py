"""Fixtures for the OATH applet tests.

Helper modules of this folder (oath_helpers, file_keyring) are imported by name: pytest runs
with --import-mode=importlib, so the folder is put on sys.path here. The PC/SC tests reuse the
private pcscd of tests/nfc/conftest.py (one daemon in its own namespaces per test module; see
that file for how the card and the clients reach it).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# The private pcscd of the NFC tests (tests/nfc/conftest.py; importing it also points
# libpcsclite at that daemon's socket before any PC/SC use in this process).
from nfc.conftest import PrivatePcscd, plugged_card, private_pcscd  # noqa: E402, F401
