"""ctaphid suite: channels, framing and CTAPHID errors (CTAP 2.1 §11.2.4-§11.2.9).

Every test drives raw 64-byte reports on its own handle to the key (see `_hid_raw`).
"""

from __future__ import annotations

import os
import struct
import time

import pytest

from tokenbench.bench.suites._hid_raw import (
    BROADCAST_CID,
    CAPABILITY_CBOR,
    CAPABILITY_NMSG,
    CAPABILITY_WINK,
    CBOR,
    CONT_PAYLOAD,
    CTAPHID_PROTOCOL_VERSION,
    ERR_CHANNEL_BUSY,
    ERR_INVALID_CHANNEL,
    ERR_INVALID_CMD,
    ERR_INVALID_LEN,
    ERR_INVALID_PAR,
    ERR_INVALID_SEQ,
    ERR_MSG_TIMEOUT,
    ERROR,
    INIT,
    INIT_PAYLOAD,
    INIT_RESPONSE_SIZE,
    KEEPALIVE,
    LOCK,
    MAX_MESSAGE,
    MSG,
    NONCE_SIZE,
    PING,
    QUIET,
    U2F_VERSION_APDU,
    WINK,
    cont_report,
    expect_error,
    frame,
    init_report,
)

MSG_TIMEOUT_BOUND = 3.0  # the spec's 0.4-1 s, with room for a loaded machine
LOCK_SECONDS = 3
GET_INFO = b"\x04"
PING_TIMEOUT = 2.0  # 130 reports of a 7609-byte echo take well under a second on USB
LOCK_EXPIRY_SLACK = 0.3  # s past a 1-second lock before another channel must get in
PADDING = b"\xa5"  # report padding that is not zero, so a device that reads it is caught
SW_WRONG_LENGTH = b"\x67\x00"


def test_init_allocates_a_channel(raw_hid):
    raw = raw_hid()
    nonce = os.urandom(NONCE_SIZE)
    raw.send(BROADCAST_CID, INIT, nonce)
    reply = raw.receive(BROADCAST_CID)
    assert reply is not None, "no answer to CTAPHID_INIT on the broadcast channel"
    assert reply.cmd == INIT
    assert len(reply.payload) == INIT_RESPONSE_SIZE, f"INIT answer {len(reply.payload)} bytes"
    assert reply.payload[:NONCE_SIZE] == nonce, "INIT answer does not echo the nonce"
    cid, version = struct.unpack_from(">IB", reply.payload, NONCE_SIZE)
    assert cid not in (0, BROADCAST_CID), f"allocated reserved channel {cid:08x}"
    assert version == CTAPHID_PROTOCOL_VERSION


def test_init_allocates_distinct_channels(raw_hid):
    raw = raw_hid()
    channels = {raw.allocate()[0] for _ in range(4)}
    assert len(channels) == 4, f"INIT reused a channel id: {sorted(channels)}"


def test_init_on_allocated_channel_resynchronises(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, 200, b"x" * INIT_PAYLOAD))  # an unfinished message
    nonce = os.urandom(NONCE_SIZE)
    reply = raw.call(cid, INIT, nonce)
    assert reply.cmd == INIT and reply.payload[:NONCE_SIZE] == nonce
    assert struct.unpack_from(">I", reply.payload, NONCE_SIZE)[0] == cid, (
        "INIT on an allocated channel must answer with the same channel id"
    )
    raw.write(cont_report(cid, 0, b"y" * CONT_PAYLOAD))  # the discarded message's next packet
    assert raw.receive(cid, timeout=QUIET) is None, "resync INIT kept the unfinished message"
    echo = raw.call(cid, PING, b"after resync")
    assert echo.cmd == PING and echo.payload == b"after resync"


def test_init_on_a_never_allocated_channel_answers_on_it(raw_hid):
    """§11.2.9.1.3: INIT on a channel other than broadcast is answered on that channel with
    that channel id (SoloKeys and Nitrokey firmware do so; it is not an ERR_INVALID_CHANNEL)."""
    raw = raw_hid()
    cid = 0x5A5A0001
    nonce = os.urandom(NONCE_SIZE)
    reply = raw.call(cid, INIT, nonce)
    assert reply.cmd == INIT, f"INIT on {cid:08x} got command 0x{reply.cmd:02x}"
    assert reply.payload[:NONCE_SIZE] == nonce, "INIT answer does not echo the nonce"
    assert struct.unpack_from(">I", reply.payload, NONCE_SIZE)[0] == cid, (
        "INIT on a channel must answer with that channel id"
    )


def test_init_is_answered_while_another_channel_is_mid_message(raw_hid):
    """A broadcast INIT is never busy (a second application must be able to open the key),
    and it leaves the other channel's unfinished message alone."""
    raw = raw_hid()
    cid, _ = raw.allocate()
    payload = os.urandom(INIT_PAYLOAD + 10)
    head, tail = frame(cid, PING, payload)
    raw.write(head)
    raw.allocate()  # fails unless the key answers the INIT
    raw.write(tail)
    reply = raw.receive(cid)
    assert reply is not None and reply.payload == payload, "the INIT broke the other message"


@pytest.mark.parametrize("length", [0, 5, 9])
def test_init_with_wrong_nonce_length_is_invalid_len(raw_hid, length):
    raw = raw_hid()
    raw.send(BROADCAST_CID, INIT, os.urandom(length))
    expect_error(raw.receive(BROADCAST_CID), ERR_INVALID_LEN, f"INIT with a {length}-byte nonce")


def test_capabilities_match_the_commands(raw_hid, ctap_device):
    raw = raw_hid()
    cid, answer = raw.allocate()
    capabilities = answer[16]
    if capabilities & CAPABILITY_CBOR:
        reply = raw.call(cid, CBOR, GET_INFO)
        assert reply.cmd == CBOR and reply.payload[:1] == b"\x00", "CBOR getInfo failed"
    if not capabilities & CAPABILITY_NMSG:
        version = raw.call(cid, MSG, U2F_VERSION_APDU)
        assert version.cmd == MSG and version.payload[-2:] == b"\x90\x00", "U2F_VERSION failed"
    assert capabilities & CAPABILITY_CBOR or not capabilities & CAPABILITY_NMSG, (
        "the key claims neither CBOR nor MSG"
    )


PING_SIZES = [
    0,
    1,
    INIT_PAYLOAD - 1,
    INIT_PAYLOAD,
    INIT_PAYLOAD + 1,
    INIT_PAYLOAD + CONT_PAYLOAD,
    INIT_PAYLOAD + CONT_PAYLOAD + 1,
    INIT_PAYLOAD + 17 * CONT_PAYLOAD - 1,
    1024,
    INIT_PAYLOAD + 127 * CONT_PAYLOAD + 1,
    MAX_MESSAGE - 1,
    MAX_MESSAGE,
]


@pytest.mark.parametrize("size", PING_SIZES)
def test_ping_echoes_every_size(raw_hid, size):
    raw = raw_hid()
    cid, _ = raw.allocate()
    data = os.urandom(size)
    reply = raw.call(cid, PING, data, timeout=PING_TIMEOUT)
    assert reply.cmd == PING, f"PING answered with 0x{reply.cmd:02x}"
    assert reply.payload == data, f"PING of {size} bytes came back altered"


@pytest.mark.parametrize("length", [MAX_MESSAGE + 1, 0xFFFF])
def test_message_longer_than_7609_is_invalid_len(raw_hid, length):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, length, b"\0" * INIT_PAYLOAD))
    expect_error(raw.receive(cid), ERR_INVALID_LEN, f"a {length}-byte message")


@pytest.mark.parametrize("where", ["init", "continuation"])
def test_bytes_beyond_bcnt_are_ignored(raw_hid, where):
    """BCNT, not the report size, says where the payload ends; the padding is not data."""
    raw = raw_hid()
    cid, _ = raw.allocate()
    data = os.urandom(3 if where == "init" else INIT_PAYLOAD + 3)
    for report in frame(cid, PING, data, fill=PADDING):
        raw.write(report)
    reply = raw.receive(cid)
    assert reply is not None and reply.payload == data, "padding read as payload"


CONTINUATIONS = {"skips-first": [1], "skips-one": [0, 1, 3], "repeats": [0, 0]}


@pytest.mark.parametrize("sequence", list(CONTINUATIONS))
def test_continuation_out_of_sequence_is_invalid_seq(raw_hid, sequence):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, INIT_PAYLOAD + 5 * CONT_PAYLOAD, b"a" * INIT_PAYLOAD))
    for seq in CONTINUATIONS[sequence]:
        raw.write(cont_report(cid, seq, b"b" * CONT_PAYLOAD))
    expect_error(raw.receive(cid), ERR_INVALID_SEQ, f"continuations {CONTINUATIONS[sequence]}")
    assert raw.call(cid, PING, b"ok").payload == b"ok", "channel unusable after INVALID_SEQ"


def test_new_message_before_the_last_one_is_complete_is_invalid_seq(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, INIT_PAYLOAD + 1, b"a" * INIT_PAYLOAD))
    raw.write(init_report(cid, PING, 4, b"next"))  # an init packet where seq 0 belongs
    expect_error(raw.receive(cid), ERR_INVALID_SEQ, "an init packet in the middle of a message")
    assert raw.call(cid, PING, b"ok").payload == b"ok", "channel unusable after INVALID_SEQ"


def test_spurious_continuation_is_ignored(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(cont_report(cid, 0, b"stray"))
    assert raw.drain(0.2) == [], "the key answered a continuation packet with no message"
    assert raw.call(cid, PING, b"still here").payload == b"still here"


def test_other_channel_is_busy_during_a_transaction(raw_hid):
    raw = raw_hid()
    first, _ = raw.allocate()
    second, _ = raw.allocate()
    raw.write(init_report(first, PING, INIT_PAYLOAD + 10, b"p" * INIT_PAYLOAD))
    raw.send(second, PING, b"me too")
    expect_error(raw.receive(second), ERR_CHANNEL_BUSY, "PING on a second channel mid-message")
    raw.write(cont_report(first, 0, b"q" * 10))
    reply = raw.receive(first)
    assert reply is not None and reply.payload == b"p" * INIT_PAYLOAD + b"q" * 10


def test_continuation_from_another_channel_does_not_join_the_message(raw_hid):
    raw = raw_hid()
    first, _ = raw.allocate()
    second, _ = raw.allocate()
    payload = os.urandom(INIT_PAYLOAD + 10)
    head, tail = frame(first, PING, payload)
    raw.write(head)
    raw.write(cont_report(second, 0, b"intruder" * 8))
    raw.write(tail)
    reply = raw.receive(first)
    assert reply is not None and reply.payload == payload, "another channel's packet was mixed in"


@pytest.mark.parametrize("stalls_after", ["init", "continuation"])
def test_unfinished_message_times_out(raw_hid, stalls_after):
    raw = raw_hid()
    cid, _ = raw.allocate()
    head, second, _ = frame(cid, PING, b"t" * (INIT_PAYLOAD + CONT_PAYLOAD + 1))
    started = time.monotonic()
    raw.write(head)
    if stalls_after == "continuation":
        time.sleep(QUIET)
        raw.write(second)  # the message goes on, then stalls
    reply = raw.receive(cid, timeout=MSG_TIMEOUT_BOUND)
    expect_error(reply, ERR_MSG_TIMEOUT, f"a message that stalls after its {stalls_after}")
    assert time.monotonic() - started >= 0.3, "MSG_TIMEOUT came before the spec's 0.4 s minimum"


def test_timed_out_message_frees_the_key_for_other_channels(raw_hid):
    raw = raw_hid()
    stalled, _ = raw.allocate()
    other, _ = raw.allocate()
    raw.write(init_report(stalled, PING, INIT_PAYLOAD + 1, b"t" * INIT_PAYLOAD))
    reply = raw.receive(stalled, timeout=MSG_TIMEOUT_BOUND)
    expect_error(reply, ERR_MSG_TIMEOUT, "a message whose continuation never comes")
    assert raw.call(other, PING, b"free").payload == b"free", "key still busy after the timeout"


INVALID_CHANNELS = {
    "zero": (0x00000000, PING),
    "unallocated": (0x7E7E7E7E, PING),
    "broadcast": (BROADCAST_CID, PING),
    "zero-init": (0x00000000, INIT),
}


@pytest.mark.parametrize("case", list(INVALID_CHANNELS))
def test_invalid_channel(raw_hid, case):
    raw = raw_hid()
    raw.allocate()
    cid, cmd = INVALID_CHANNELS[case]
    raw.send(cid, cmd, os.urandom(NONCE_SIZE))
    expect_error(raw.receive(cid), ERR_INVALID_CHANNEL, f"command 0x{cmd:02x} on {cid:08x}")


# Commands CTAPHID does not assign (the vendor range 0x40-0x7F is left alone), and the two
# that only ever travel from the device to the host.
UNASSIGNED_COMMANDS = {"0x02": 0x02, "0x2a": 0x2A, "keepalive": KEEPALIVE, "error": ERROR}


@pytest.mark.parametrize("command", list(UNASSIGNED_COMMANDS))
def test_unknown_command_is_invalid_cmd(raw_hid, command):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.send(cid, UNASSIGNED_COMMANDS[command], b"")
    expect_error(raw.receive(cid), ERR_INVALID_CMD, f"host-sent CTAPHID command {command}")


def test_cbor_without_a_command_byte_is_invalid_len(raw_hid):
    """CTAPHID_CBOR carries at least the CTAP command byte (BCNT 1..n+1)."""
    raw = raw_hid()
    cid, answer = raw.allocate()
    if not answer[16] & CAPABILITY_CBOR:
        pytest.skip("unclaimed: CTAPHID_CBOR")
    raw.send(cid, CBOR, b"")
    expect_error(raw.receive(cid), ERR_INVALID_LEN, "an empty CTAPHID_CBOR")


def test_empty_u2f_message_is_refused(raw_hid):
    """An empty CTAPHID_MSG holds no APDU: ERR_INVALID_LEN, or the U2F answer SW 6700."""
    raw = raw_hid()
    cid, answer = raw.allocate()
    if answer[16] & CAPABILITY_NMSG:
        pytest.skip("unclaimed: CTAPHID_MSG (NMSG set)")
    reply = raw.call(cid, MSG, b"")
    if reply.cmd == ERROR:
        expect_error(reply, ERR_INVALID_LEN, "an empty CTAPHID_MSG")
    else:
        assert reply.cmd == MSG and reply.payload == SW_WRONG_LENGTH, (
            f"an empty CTAPHID_MSG answered 0x{reply.cmd:02x} {reply.payload.hex()}"
        )


def test_wink(raw_hid):
    raw = raw_hid()
    cid, answer = raw.allocate()
    if not answer[16] & CAPABILITY_WINK:
        pytest.skip("unclaimed: CAPABILITY_WINK not set")
    reply = raw.call(cid, WINK)
    assert reply.cmd == WINK and reply.payload == b"", "WINK must answer with an empty WINK"


def test_lock_keeps_other_channels_out(raw_hid):
    raw = raw_hid()
    owner, _ = raw.allocate()
    other, _ = raw.allocate()
    _lock(raw, owner, LOCK_SECONDS)
    try:
        assert raw.call(owner, PING, b"mine").payload == b"mine", "lock owner was refused"
        raw.send(other, PING, b"theirs")
        expect_error(raw.receive(other), ERR_CHANNEL_BUSY, "PING from another channel while locked")
    finally:
        _lock(raw, owner, 0)
    assert raw.call(other, PING, b"free").payload == b"free", "LOCK 0 did not release the lock"


def test_lock_cannot_be_taken_by_another_channel(raw_hid):
    raw = raw_hid()
    owner, _ = raw.allocate()
    other, _ = raw.allocate()
    _lock(raw, owner, LOCK_SECONDS)
    try:
        raw.send(other, LOCK, bytes([LOCK_SECONDS]))
        expect_error(raw.receive(other), ERR_CHANNEL_BUSY, "LOCK from another channel")
    finally:
        _lock(raw, owner, 0)


def test_lock_expires_by_itself(raw_hid):
    raw = raw_hid()
    owner, _ = raw.allocate()
    other, _ = raw.allocate()
    _lock(raw, owner, 1)
    raw.send(other, PING, b"early")
    expect_error(raw.receive(other), ERR_CHANNEL_BUSY, "PING while another channel holds LOCK")
    time.sleep(1 + LOCK_EXPIRY_SLACK)
    assert raw.call(other, PING, b"late").payload == b"late", "the 1-second lock never expired"


@pytest.mark.parametrize("seconds", [11, 255])
def test_lock_longer_than_10_seconds_is_invalid_par(raw_hid, seconds):
    raw = raw_hid()
    cid, _ = raw.allocate()
    _lock(raw, cid, 0)  # skips a key without CTAPHID_LOCK
    raw.send(cid, LOCK, bytes([seconds]))
    reply = raw.receive(cid)
    expect_error(reply, ERR_INVALID_PAR, f"LOCK for {seconds} s")


def _lock(raw, cid: int, seconds: int) -> None:
    """LOCK (an optional command, §11.2.9.2): skipped as unclaimed where the key lacks it."""
    reply = raw.call(cid, LOCK, bytes([seconds]))
    if reply.cmd == ERROR and reply.payload[:1] == bytes([ERR_INVALID_CMD]):
        pytest.skip("unclaimed: CTAPHID_LOCK (answered ERR_INVALID_CMD)")
    assert reply.cmd == LOCK and reply.payload == b"", f"LOCK {seconds} answered {reply}"
