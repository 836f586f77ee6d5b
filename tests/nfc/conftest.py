"""Fixtures for the NFC / ISO 7816 transport tests.

`FakeCore` is a TEST DOUBLE of `emulators.ctap.authenticator.Authenticator`: it lets the
framing tests drive the card with commands whose answers are known byte for byte (echo of any
length, a command that waits for the user until cancelled). Tests of real CTAP behaviour over
NFC use the real Authenticator (see test_nfc_real_core.py and the pcscd integration test).
"""

from __future__ import annotations

import threading

import pytest
from fido2 import cbor

from emulators.ctap.transaction import KeepaliveStatus, Transaction

ECHO = 0xC0  # vendor command: answer SUCCESS + the request's payload
WAIT_FOR_USER = 0xC1  # vendor command: wait for `release` or cancellation
KEEPALIVE_CANCEL = 0x2D
INVALID_COMMAND = 0x01


class FakeCore:
    """Test double of the authenticator core (see module docstring)."""

    def __init__(self, versions: tuple[str, ...] = ("U2F_V2", "FIDO_2_0")) -> None:
        self.info = {1: list(versions), 3: bytes(16)}
        self.requests: list[bytes] = []
        self.u2f_apdus: list[bytes] = []
        self.power_cycles = 0
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.cancelled_seen = threading.Event()

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        self.requests.append(request)
        if request[:1] == b"\x04":
            return b"\x00" + cbor.encode(self.info)
        if request[:1] == bytes((ECHO,)):
            return b"\x00" + request[1:]
        if request[:1] == bytes((WAIT_FOR_USER,)):
            assert transaction is not None
            transaction.status = KeepaliveStatus.UPNEEDED
            self.waiting.set()
            while not self.release.wait(0.01):
                if transaction.cancelled.is_set():
                    self.cancelled_seen.set()
                    return bytes((KEEPALIVE_CANCEL,))
            return b"\x00"
        return bytes((INVALID_COMMAND,))

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        self.u2f_apdus.append(apdu)
        if apdu[1] == 0x03:
            return b"U2F_V2\x90\x00"
        return bytes(apdu[7:-2]) + b"\x90\x00"  # echo the data of the extended APDU

    def power_cycle(self) -> None:
        self.power_cycles += 1


@pytest.fixture
def fake_core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def fake_core_type() -> type[FakeCore]:
    return FakeCore
