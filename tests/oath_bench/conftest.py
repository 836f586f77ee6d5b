"""Fixtures for the bench's OATH ties: the emulated key's card in a private pcscd.

The private pcscd and `plug` come from tests/nfc/conftest.py (one daemon in its own namespaces
per test module; that file explains how clients reach it and why PCSCLITE_CSOCK_NAME is set at
import). It is loaded here by path, since the test folders are not packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenbench.emulators.key import EmulatedKey

_NFC_CONFTEST = Path(__file__).resolve().parents[1] / "nfc" / "conftest.py"
_spec = importlib.util.spec_from_file_location("tokenbench_tests_nfc_conftest", _NFC_CONFTEST)
assert _spec is not None and _spec.loader is not None
_nfc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_nfc)

private_pcscd = _nfc.private_pcscd
plug = _nfc.plug
READER = "Virtual PCD 00 00"
TARGET = f"pcsc:{READER}"


@pytest.fixture
def emulated_key() -> Iterator[EmulatedKey]:
    """A fresh emulated key (FIDO + OATH + Management applets on its card), touch automatic."""
    key = EmulatedKey.create(seed=11)
    yield key
    key.close()


@pytest.fixture
def card_in_reader(
    plug: Callable[..., contextlib.AbstractContextManager[Any]], emulated_key: EmulatedKey
) -> Iterator[EmulatedKey]:
    """The key's card in the vpcd reader for the test (taken out afterwards)."""
    with plug(emulated_key.nfc_card(), READER):
        yield emulated_key
