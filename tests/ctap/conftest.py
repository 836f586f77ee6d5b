"""Fixtures for the authenticator-core tests; the helpers live in ctap_testkit.py.

pytest runs with --import-mode=importlib, so this directory is put on sys.path for the test
modules to `from ctap_testkit import ...` (the PIN engineer's tests can do the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ctap_testkit import DirectDevice, client_for, make_key
from fido2.client import Fido2Client
from fido2.ctap2 import Ctap2

from tokenbench.emulators.ctap.authenticator import Authenticator


@pytest.fixture
def key() -> Authenticator:
    return make_key()


@pytest.fixture
def device(key: Authenticator) -> DirectDevice:
    return DirectDevice(key)


@pytest.fixture
def ctap2(device: DirectDevice) -> Ctap2:
    return Ctap2(device)


@pytest.fixture
def client(key: Authenticator) -> Fido2Client:
    return client_for(key)
