"""Raw CTAPHID reports for the `ctaphid` suite (CTAP 2.1 §11.2).

python-fido2's `CtapHidDevice` hides framing, which is exactly what the ctaphid suite must
poke at. `RawHid` writes and reads single 64-byte reports on its own handle to the device
(a `CtapHidConnection` from the target, which sees every input report, like hidraw), so
broken framing never leaves the suite's main device handle in a bad state.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fido2.hid import CTAPHID

REPORT_SIZE = 64
TYPE_INIT = 0x80
BROADCAST_CID = 0xFFFFFFFF
INIT_PAYLOAD = REPORT_SIZE - 7  # 57 bytes after CID(4) CMD(1) BCNT(2)
CONT_PAYLOAD = REPORT_SIZE - 5  # 59 bytes after CID(4) SEQ(1)
MAX_MESSAGE = INIT_PAYLOAD + 128 * CONT_PAYLOAD  # 7609
NONCE_SIZE = 8
INIT_RESPONSE_SIZE = 17
CTAPHID_PROTOCOL_VERSION = 2
READ_TIMEOUT = 0.5
QUIET = 0.15  # s of silence that counts as "not answered" (well inside any message timeout)
U2F_VERSION_APDU = bytes([0, 0x03, 0, 0, 0])  # U2F_VERSION, as CTAPHID_MSG carries it

# CTAPHID commands (§11.2.9), as python-fido2 (the client side) names them.
PING, MSG, LOCK, INIT = CTAPHID.PING, CTAPHID.MSG, CTAPHID.LOCK, CTAPHID.INIT
WINK, CBOR, CANCEL = CTAPHID.WINK, CTAPHID.CBOR, CTAPHID.CANCEL
KEEPALIVE, ERROR = CTAPHID.KEEPALIVE, CTAPHID.ERROR

# CTAPHID_ERROR codes (§11.2.9.1.6)
ERR_INVALID_CMD = 0x01
ERR_INVALID_PAR = 0x02
ERR_INVALID_LEN = 0x03
ERR_INVALID_SEQ = 0x04
ERR_MSG_TIMEOUT = 0x05
ERR_CHANNEL_BUSY = 0x06
ERR_INVALID_CHANNEL = 0x0B

# Capability flags (§11.2.9.1.3)
CAPABILITY_WINK = 0x01
CAPABILITY_CBOR = 0x04
CAPABILITY_NMSG = 0x08


@dataclass(frozen=True)
class Message:
    cid: int
    cmd: int
    payload: bytes


def init_report(cid: int, cmd: int, length: int, data: bytes = b"", fill: bytes = b"\0") -> bytes:
    """An initialization packet; `fill` pads it (the device must read only BCNT bytes)."""
    header = struct.pack(">IBH", cid, TYPE_INIT | cmd, length)
    return (header + data[:INIT_PAYLOAD]).ljust(REPORT_SIZE, fill)


def cont_report(cid: int, seq: int, data: bytes = b"", fill: bytes = b"\0") -> bytes:
    return (struct.pack(">IB", cid, seq) + data[:CONT_PAYLOAD]).ljust(REPORT_SIZE, fill)


def frame(cid: int, cmd: int, payload: bytes, fill: bytes = b"\0") -> list[bytes]:
    reports = [init_report(cid, cmd, len(payload), payload[:INIT_PAYLOAD], fill)]
    rest = payload[INIT_PAYLOAD:]
    seq = 0
    while rest:
        reports.append(cont_report(cid, seq, rest[:CONT_PAYLOAD], fill))
        rest = rest[CONT_PAYLOAD:]
        seq += 1
    return reports


class RawHid:
    """One raw handle: write reports, read reports with a timeout, reassemble messages."""

    def __init__(self, connection: Any, read_timeout: Callable[[float], bytes | None]) -> None:
        self._connection = connection
        self._read = read_timeout

    def write(self, report: bytes) -> None:
        self._connection.write_packet(report)

    def read_report(self, timeout: float = READ_TIMEOUT) -> bytes | None:
        return self._read(timeout)

    def send(self, cid: int, cmd: int, payload: bytes = b"") -> None:
        for report in frame(cid, cmd, payload):
            self.write(report)

    def receive(
        self, cid: int, timeout: float = READ_TIMEOUT, skip_keepalive: bool = True
    ) -> Message | None:
        """The next whole message on channel `cid` (reports for other channels are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.read_report(max(0.0, deadline - time.monotonic()))
            if report is None:
                return None
            got_cid, kind = struct.unpack_from(">IB", report)
            if got_cid != cid or not kind & TYPE_INIT:
                continue
            cmd = kind & ~TYPE_INIT
            if skip_keepalive and cmd == KEEPALIVE:
                continue
            length = struct.unpack_from(">H", report, 5)[0]
            payload = report[7 : 7 + min(length, INIT_PAYLOAD)]
            seq = 0
            while len(payload) < length:
                more = self.read_report(max(0.0, deadline - time.monotonic()))
                if more is None:
                    raise AssertionError(f"message on {cid:08x} cut off after {len(payload)} bytes")
                more_cid, more_seq = struct.unpack_from(">IB", more)
                if more_cid != cid:
                    continue
                assert more_seq == seq, f"continuation seq {more_seq}, expected {seq}"
                payload += more[5 : 5 + min(CONT_PAYLOAD, length - len(payload))]
                seq += 1
            return Message(cid, cmd, payload)

    def call(
        self, cid: int, cmd: int, payload: bytes = b"", timeout: float = READ_TIMEOUT
    ) -> Message:
        self.send(cid, cmd, payload)
        reply = self.receive(cid, timeout)
        assert reply is not None, f"no answer to CTAPHID command 0x{cmd:02x} within {timeout} s"
        return reply

    def allocate(self) -> tuple[int, bytes]:
        """CTAPHID_INIT on the broadcast channel: a new channel id and the whole answer."""
        nonce = os.urandom(NONCE_SIZE)
        self.send(BROADCAST_CID, INIT, nonce)
        while True:
            reply = self.receive(BROADCAST_CID)
            assert reply is not None, "no answer to CTAPHID_INIT"
            if reply.cmd == INIT and reply.payload[:NONCE_SIZE] == nonce:
                return struct.unpack_from(">I", reply.payload, NONCE_SIZE)[0], reply.payload

    def drain(self, quiet: float = 0.05) -> list[bytes]:
        """Read until the device has been silent for `quiet` seconds."""
        got = []
        while (report := self.read_report(quiet)) is not None:
            got.append(report)
        return got

    def close(self) -> None:
        self._connection.close()


def expect_error(reply: Message | None, code: int, what: str) -> None:
    assert reply is not None, f"{what}: no answer, expected CTAPHID_ERROR 0x{code:02x}"
    assert reply.cmd == ERROR, f"{what}: got command 0x{reply.cmd:02x}, expected CTAPHID_ERROR"
    assert reply.payload[:1] == bytes([code]), (
        f"{what}: error 0x{reply.payload[:1].hex()}, expected 0x{code:02x}"
    )
