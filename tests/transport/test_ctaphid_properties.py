"""Property tests: no report sequence crashes the CTAPHID endpoint or reaches the core malformed.

Time is a FakeClock so message timeouts are deterministic; keepalives cannot fire because the
clock only moves when a test moves it.
"""

from __future__ import annotations

import logging
import queue
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.ctaphid import (
    BROADCAST_CID,
    INIT_PAYLOAD,
    MAX_MESSAGE,
    CtapHidEndpoint,
    HidCommand,
    HidError,
    frame_message,
    parse_messages,
)
from tokenbench.emulators.transport.ctaphid import logger as ctaphid_logger

UNKNOWN_COMMANDS = [0x02, 0x05, 0x07, 0x12, 0x3A, 0x40, 0x55, 0x7E]
GET_INFO = b"\x04"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Core:
    """TEST DOUBLE of the authenticator core: echoes, and records what reached it."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def process(self, request: bytes, transaction: Any = None) -> bytes:
        self.requests.append(request)
        return b"\x00" + request[1:]

    def process_u2f(self, apdu: bytes, transaction: Any = None) -> bytes:
        self.requests.append(apdu)
        return b"\x90\x00"

    def wink(self) -> None:
        pass


class Harness:
    def __init__(self, endpoint_for: Any) -> None:
        self.clock = FakeClock(50.0)
        self.inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.endpoint: CtapHidEndpoint = endpoint_for(self.inbox.put, self.clock)

    def send(self, reports: list[bytes]) -> None:
        for report in reports:
            self.endpoint.receive(report)

    def message(self, timeout: float = 2.0) -> Any:
        first = self.inbox.get(timeout=timeout)
        reports = [first]
        length = int.from_bytes(first[5:7], "big")
        while len(reports) < 1 + max(0, -(-(length - INIT_PAYLOAD) // 59)):
            reports.append(self.inbox.get(timeout=timeout))
        return parse_messages(reports)[0]

    def init(self) -> int:
        self.send(frame_message(BROADCAST_CID, HidCommand.INIT, b"nonce-01"))
        return int.from_bytes(self.message().payload[8:12], "big")

    def quiet(self) -> bool:
        try:
            self.inbox.get(timeout=0.02)
        except queue.Empty:
            return True
        return False


def malformed(kind: str, cid: int, data: bytes) -> tuple[list[bytes], int, int]:
    """Reports for one malformed message, the channel the error goes to, and the error."""
    if kind == "bad-seq":
        reports = frame_message(cid, HidCommand.PING, data.ljust(INIT_PAYLOAD + 1, b"s"))
        bad = bytearray(reports[1])
        bad[4] = 5
        return [reports[0], bytes(bad)], cid, HidError.INVALID_SEQ
    if kind == "too-long":
        header = cid.to_bytes(4, "big") + bytes([0x80 | HidCommand.CBOR])
        return [(header + (MAX_MESSAGE + 1).to_bytes(2, "big")).ljust(64, b"\0")], cid, 3
    if kind == "unknown-cmd":
        cmd = UNKNOWN_COMMANDS[data[0] % len(UNKNOWN_COMMANDS)] if data else 0x40
        return frame_message(cid, cmd, data[:10]), cid, HidError.INVALID_CMD
    if kind == "empty-cbor":
        return frame_message(cid, HidCommand.CBOR, b""), cid, HidError.INVALID_LEN
    if kind == "channel-0":
        return frame_message(0, HidCommand.CBOR, GET_INFO), 0, HidError.INVALID_CHANNEL
    if kind == "unallocated":
        return frame_message(0x7777_0000, HidCommand.CBOR, GET_INFO), 0x7777_0000, 0x0B
    if kind == "short-report":
        report = frame_message(cid, HidCommand.CBOR, GET_INFO)[0]
        return [report[: 5 + len(data) % 58]], cid, HidError.INVALID_LEN
    if kind == "bad-init-len":
        return frame_message(cid, HidCommand.INIT, data[:7]), cid, HidError.INVALID_LEN
    raise AssertionError(kind)


MALFORMED_KINDS = [
    "bad-seq",
    "too-long",
    "unknown-cmd",
    "empty-cbor",
    "channel-0",
    "unallocated",
    "short-report",
    "bad-init-len",
]
operation = st.one_of(
    st.tuples(st.just("valid"), st.binary(min_size=1, max_size=300)),
    st.tuples(st.sampled_from(MALFORMED_KINDS), st.binary(max_size=80)),
    st.tuples(st.just("timeout"), st.binary(min_size=INIT_PAYLOAD + 1, max_size=200)),
)


def echo_endpoint(send: Any, clock: FakeClock) -> CtapHidEndpoint:
    return CtapHidEndpoint(Core(), send, clock=clock)


@given(reports=st.lists(st.binary(max_size=70), max_size=40))
def test_random_reports_never_break_the_endpoint(reports: list[bytes]) -> None:
    recorder = Recorder()
    ctaphid_logger.addHandler(recorder)
    harness = Harness(echo_endpoint)
    try:
        cid = harness.init()
        for report in reports:
            # half of them on the live channel, so they reach past the channel check
            live = report[:1] == b"\x01"
            harness.endpoint.receive(cid.to_bytes(4, "big") + report[4:] if live else report)
        harness.clock.advance(1.0)
        harness.endpoint.poll()
        while not harness.quiet():
            pass
        fresh = harness.init()
        harness.send(frame_message(fresh, HidCommand.PING, b"alive"))
        assert harness.message().payload == b"alive"
        assert recorder.records == []
        assert harness.endpoint._worker.is_alive() and harness.endpoint._ticker.is_alive()
    finally:
        harness.endpoint.close()
        ctaphid_logger.removeHandler(recorder)


@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_each_malformed_message_gets_its_error_and_never_reaches_the_core(
    operations: list[tuple[str, bytes]],
) -> None:
    harness = Harness(echo_endpoint)
    core = harness.endpoint.authenticator
    expected_requests: list[bytes] = []
    try:
        cid = harness.init()
        for kind, data in operations:
            if kind == "valid":
                request = bytes([data[0] | 0x01]) + data[1:]
                harness.send(frame_message(cid, HidCommand.CBOR, request))
                answer = harness.message()
                assert (answer.cid, answer.cmd) == (cid, HidCommand.CBOR)
                assert answer.payload == b"\x00" + request[1:]
                expected_requests.append(request)
            elif kind == "timeout":
                harness.send(frame_message(cid, HidCommand.CBOR, data)[:1])
                harness.clock.advance(0.6)
                harness.endpoint.poll()
                answer = harness.message()
                assert (answer.cid, answer.payload) == (cid, bytes([HidError.MSG_TIMEOUT]))
            else:
                reports, error_cid, error = malformed(kind, cid, data)
                harness.send(reports)
                answer = harness.message()
                assert (answer.cid, answer.cmd) == (error_cid, HidCommand.ERROR), kind
                assert answer.payload == bytes([error]), kind
        assert harness.quiet()  # exactly one answer per message, nothing left over
        assert core.requests == expected_requests
    finally:
        harness.endpoint.close()


@settings(max_examples=25)
@given(operations=st.lists(operation, min_size=1, max_size=8))
def test_malformed_framing_leaves_the_real_authenticator_untouched(
    operations: list[tuple[str, bytes]],
) -> None:
    env = Env.for_tests(seed=5)
    keys: list[EmulatedKey] = []

    def key_endpoint(send: Any, clock: FakeClock) -> CtapHidEndpoint:
        keys.append(EmulatedKey(env, get_profile("default"), transport_clock=clock))
        keys[0].add_sink(send)
        return keys[0].endpoint

    harness = Harness(key_endpoint)
    key = keys[0]
    writes_before = env.store.writes
    state_before = env.store.data
    try:
        cid = harness.init()
        for kind, data in operations:
            if kind == "valid":
                harness.send(frame_message(cid, HidCommand.CBOR, GET_INFO))
                answer = harness.message()
                assert answer.payload[:1] == b"\x00"
            elif kind == "timeout":
                harness.send(frame_message(cid, HidCommand.CBOR, data)[:1])
                harness.clock.advance(0.6)
                harness.endpoint.poll()
                assert harness.message().payload == bytes([HidError.MSG_TIMEOUT])
            else:
                reports, _, error = malformed(kind, cid, data)
                harness.send(reports)
                assert harness.message().payload == bytes([error])
        assert env.store.writes == writes_before
        assert env.store.data == state_before
    finally:
        key.close()
