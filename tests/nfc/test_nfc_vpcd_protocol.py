"""The vpcd wire protocol of VpcdClient, against a loopback stand-in for the vpcd reader.

The stand-in plays the reader's side of vsmartcard's protocol (2-byte length prefix, one-byte
control codes); the real driver inside pcscd is exercised in test_nfc_pcscd_vpcd.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tokenbench.emulators.transport.nfc import FIDO_AID, NfcCard
from tokenbench.emulators.transport.vpcd import (
    FIDO_CARD_ATR,
    VpcdClient,
    VpcdControl,
    contactless_atr,
)

SELECT = bytes.fromhex("00A4040008") + FIDO_AID


class FakeReader:
    """The reader side: listens like vpcd does and talks to one card at a time."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(5)
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes, split: bool = False) -> None:
        assert self.conn is not None
        message = len(payload).to_bytes(2, "big") + payload
        if split:  # byte by byte, like a slow network: the card must reassemble
            for i in range(len(message)):
                self.conn.sendall(message[i : i + 1])
        else:
            self.conn.sendall(message)

    def receive(self) -> bytes:
        assert self.conn is not None
        head = self._exact(2)
        return self._exact(int.from_bytes(head, "big"))

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        out = b""
        while len(out) < n:
            chunk = self.conn.recv(n - len(out))
            assert chunk, "card closed the connection"
            out += chunk
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def reader_and_card(fake_core) -> Iterator[tuple[FakeReader, VpcdClient, threading.Event]]:
    reader = FakeReader()
    client = VpcdClient(NfcCard(fake_core), "127.0.0.1", reader.port, retry_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=client.run, args=(stop,), daemon=True)
    thread.start()
    reader.accept()
    yield reader, client, stop
    stop.set()
    thread.join(5)
    reader.close()
    assert not thread.is_alive()


def test_atr_is_a_valid_contactless_atr() -> None:
    assert FIDO_CARD_ATR[:4] == bytes.fromhex("3B8C8001")
    check = 0
    for byte in FIDO_CARD_ATR[1:]:
        check ^= byte
    assert check == 0  # TCK makes T0..TCK XOR to zero
    assert contactless_atr(b"") == bytes.fromhex("3B80800101")
    with pytest.raises(ValueError):
        contactless_atr(bytes(16))


def test_power_atr_and_apdus(reader_and_card, fake_core) -> None:
    reader, _, _ = reader_and_card
    reader.send(bytes((VpcdControl.POWER_ON,)))
    reader.send(bytes((VpcdControl.GET_ATR,)))
    assert reader.receive() == FIDO_CARD_ATR
    reader.send(SELECT)
    assert reader.receive() == b"U2F_V2\x90\x00"
    reader.send(bytes.fromhex("80100000 03 C0 4142 00".replace(" ", "")), split=True)
    assert reader.receive() == b"\x00AB\x90\x00"
    reader.send(bytes((VpcdControl.RESET,)))
    reader.send(bytes.fromhex("8010000001C000"))  # after a reset nothing is selected
    assert reader.receive() == b"\x6d\x00"
    reader.send(bytes((VpcdControl.POWER_OFF,)))
    reader.send(b"\x77")  # unknown control code: ignored, no answer
    reader.send(b"")  # empty message: ignored
    reader.send(SELECT)
    assert reader.receive() == b"U2F_V2\x90\x00"
    assert fake_core.power_cycles == 2


def test_card_reconnects_after_the_reader_goes_away(reader_and_card, fake_core) -> None:
    reader, client, _ = reader_and_card
    reader.send(SELECT)
    assert reader.receive() == b"U2F_V2\x90\x00"
    assert reader.conn is not None
    reader.conn.close()  # pcscd restarts: the card loses its reader ...
    reader.accept()  # ... and plugs itself in again
    assert client.connected.wait(5)
    reader.send(bytes((VpcdControl.GET_ATR,)))
    assert reader.receive() == FIDO_CARD_ATR
    assert fake_core.power_cycles >= 1  # losing the reader is losing the field
