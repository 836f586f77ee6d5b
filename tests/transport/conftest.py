"""Shared pieces for the CTAPHID tests: a raw HID host and a test double of the core.

`EchoCore` is a TEST DOUBLE of `emulators.ctap.Authenticator`, used only where a test needs a
core that blocks, sleeps or raises on demand (framing, keepalive, cancel, busy, lock); the
integration tests in this folder run the real `Authenticator`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction
from tokenbench.emulators.transport.ctaphid import (
    BROADCAST_CID,
    CONT_HEADER_SIZE,
    INIT_HEADER_SIZE,
    TYPE_INIT,
    Capability,
    CtapHidEndpoint,
    FaultTuning,
    HidCommand,
    HidMessage,
    frame_message,
)


class EchoCore:
    """TEST DOUBLE of the authenticator core: echoes CBOR requests with status 0.

    Test files reach the special command bytes as `host.core.WAIT_FOR_PRESENCE` etc.
    """

    WAIT_FOR_PRESENCE = 0xEE  # wait (UPNEEDED) until cancelled
    SLOW_COMMAND = 0xED  # compute for a while (PROCESSING)
    RAISE_COMMAND = 0xEC  # the core breaks its never-raise contract
    KEEPALIVE_CANCEL = 0x2D
    OPERATION_DENIED = 0x27

    def __init__(self, slow_seconds: float = 0.35) -> None:
        self.requests: list[bytes] = []
        self.apdus: list[bytes] = []
        self.winks = 0
        self.slow_seconds = slow_seconds
        self.presence_started = threading.Event()

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        self.requests.append(request)
        transaction = transaction or Transaction()
        if request[0] == self.WAIT_FOR_PRESENCE:
            transaction.status = KeepaliveStatus.UPNEEDED
            self.presence_started.set()
            if transaction.cancelled.wait(5.0):
                return bytes((self.KEEPALIVE_CANCEL,))
            return bytes((self.OPERATION_DENIED,))
        if request[0] == self.SLOW_COMMAND:
            transaction.cancelled.wait(self.slow_seconds)
            return b"\x00"
        if request[0] == self.RAISE_COMMAND:
            raise RuntimeError("core bug")
        return b"\x00" + request[1:]

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        self.apdus.append(apdu)
        return apdu + b"\x90\x00"

    def wink(self) -> None:
        self.winks += 1


class RawHost:
    """A host that speaks raw 64-byte reports to an endpoint and reads its answers."""

    def __init__(self, endpoint_kwargs: dict | None = None, core: EchoCore | None = None) -> None:
        self.core = core or EchoCore()
        self.inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.endpoint = CtapHidEndpoint(self.core, self.inbox.put, **(endpoint_kwargs or {}))

    def write(self, report: bytes) -> None:
        self.endpoint.receive(report)

    def send(self, cid: int, cmd: int, payload: bytes = b"") -> None:
        for report in frame_message(cid, cmd, payload):
            self.write(report)

    def read(self, timeout: float = 2.0) -> bytes:
        return self.inbox.get(timeout=timeout)

    def read_message(self, timeout: float = 2.0, keepalives: list[int] | None = None) -> HidMessage:
        """The next whole message; keepalives are skipped (and collected if asked)."""
        while True:
            report = self.read(timeout)
            assert len(report) == 64
            assert report[4] & TYPE_INIT, "expected an init packet"
            cid = int.from_bytes(report[:4], "big")
            cmd = report[4] & 0x7F
            length = int.from_bytes(report[5:7], "big")
            data = bytearray(report[INIT_HEADER_SIZE : INIT_HEADER_SIZE + length])
            seq = 0
            while len(data) < length:
                cont = self.read(timeout)
                assert int.from_bytes(cont[:4], "big") == cid
                assert cont[4] == seq
                data += cont[CONT_HEADER_SIZE : CONT_HEADER_SIZE + length - len(data)]
                seq += 1
            if cmd == HidCommand.KEEPALIVE:
                if keepalives is not None:
                    keepalives.append(data[0])
                continue
            return HidMessage(cid, cmd, bytes(data))

    def expect_error(self, cid: int, code: int) -> None:
        message = self.read_message()
        assert (message.cid, message.cmd, message.payload) == (cid, HidCommand.ERROR, bytes([code]))

    def expect_silence(self, seconds: float = 0.15) -> None:
        with pytest.raises(queue.Empty):
            report = self.read(seconds)
            raise AssertionError(f"unexpected report {report.hex()}")

    def init(self, nonce: bytes = b"01234567") -> int:
        self.send(BROADCAST_CID, HidCommand.INIT, nonce)
        message = self.read_message()
        assert message.cid == BROADCAST_CID and message.cmd == HidCommand.INIT
        assert message.payload[:8] == nonce
        return int.from_bytes(message.payload[8:12], "big")

    def close(self) -> None:
        self.endpoint.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def host() -> Iterator[RawHost]:
    h = RawHost()
    yield h
    h.close()


@pytest.fixture
def make_host() -> Iterator:
    hosts: list[RawHost] = []

    def make(
        *,
        clock: FakeClock | None = None,
        faults: str = "",
        capabilities: Capability | None = None,
        tuning: FaultTuning | None = None,
    ) -> RawHost:
        kwargs: dict = {"faults": FaultSet.parse(faults)}
        if clock is not None:
            kwargs["clock"] = clock
        if capabilities is not None:
            kwargs["capabilities"] = capabilities
        if tuning is not None:
            kwargs["tuning"] = tuning
        h = RawHost(kwargs)
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        h.close()
