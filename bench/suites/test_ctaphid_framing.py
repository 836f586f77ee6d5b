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
    INIT,
    INIT_PAYLOAD,
    INIT_RESPONSE_SIZE,
    LOCK,
    MAX_MESSAGE,
    MSG,
    NONCE_SIZE,
    PING,
    WINK,
    cont_report,
    expect_error,
    init_report,
)

UNASSIGNED_COMMAND = 0x2A  # not defined by CTAPHID, below the vendor range
MSG_TIMEOUT_BOUND = 3.0  # the spec's 0.4-1 s, with room for a loaded machine
LOCK_SECONDS = 3
GET_INFO = b"\x04"
PING_TIMEOUT = 2.0  # 130 reports of a 7609-byte echo take well under a second on USB


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


def test_init_with_wrong_nonce_length_is_invalid_len(raw_hid):
    raw = raw_hid()
    raw.send(BROADCAST_CID, INIT, b"short")
    expect_error(raw.receive(BROADCAST_CID), ERR_INVALID_LEN, "INIT with a 5-byte nonce")


def test_capabilities_match_the_commands(raw_hid, ctap_device):
    raw = raw_hid()
    cid, answer = raw.allocate()
    capabilities = answer[16]
    if capabilities & CAPABILITY_CBOR:
        reply = raw.call(cid, CBOR, GET_INFO)
        assert reply.cmd == CBOR and reply.payload[:1] == b"\x00", "CBOR getInfo failed"
    if not capabilities & CAPABILITY_NMSG:
        version = raw.call(cid, MSG, bytes([0, 0x03, 0, 0, 0]))
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


def test_message_longer_than_7609_is_invalid_len(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, MAX_MESSAGE + 1, b"\0" * INIT_PAYLOAD))
    expect_error(raw.receive(cid), ERR_INVALID_LEN, "a 7610-byte message")


def test_continuation_out_of_sequence_is_invalid_seq(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.write(init_report(cid, PING, INIT_PAYLOAD + 2 * CONT_PAYLOAD, b"a" * INIT_PAYLOAD))
    raw.write(cont_report(cid, 1, b"b" * CONT_PAYLOAD))  # seq 0 skipped
    expect_error(raw.receive(cid), ERR_INVALID_SEQ, "continuation with seq 1 before seq 0")
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


def test_unfinished_message_times_out(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    started = time.monotonic()
    raw.write(init_report(cid, PING, INIT_PAYLOAD + 1, b"t" * INIT_PAYLOAD))
    reply = raw.receive(cid, timeout=MSG_TIMEOUT_BOUND)
    expect_error(reply, ERR_MSG_TIMEOUT, "a message whose continuation never comes")
    assert time.monotonic() - started >= 0.3, "MSG_TIMEOUT came before the spec's 0.4 s minimum"


@pytest.mark.parametrize("cid", [0x00000000, 0x7E7E7E7E], ids=["zero", "unallocated"])
def test_invalid_channel(raw_hid, cid):
    raw = raw_hid()
    raw.allocate()
    raw.send(cid, PING, b"x")
    expect_error(raw.receive(cid), ERR_INVALID_CHANNEL, f"PING on channel {cid:08x}")


def test_unknown_command_is_invalid_cmd(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.send(cid, UNASSIGNED_COMMAND, b"")
    expect_error(raw.receive(cid), ERR_INVALID_CMD, "an unassigned CTAPHID command")


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
    locked = raw.call(owner, LOCK, bytes([LOCK_SECONDS]))
    assert locked.cmd == LOCK and locked.payload == b"", "LOCK must answer with an empty LOCK"
    try:
        assert raw.call(owner, PING, b"mine").payload == b"mine", "lock owner was refused"
        raw.send(other, PING, b"theirs")
        expect_error(raw.receive(other), ERR_CHANNEL_BUSY, "PING from another channel while locked")
    finally:
        released = raw.call(owner, LOCK, b"\x00")
    assert released.cmd == LOCK
    assert raw.call(other, PING, b"free").payload == b"free", "LOCK 0 did not release the lock"


def test_lock_longer_than_10_seconds_is_invalid_par(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.send(cid, LOCK, bytes([11]))
    reply = raw.receive(cid)
    expect_error(reply, ERR_INVALID_PAR, "LOCK for 11 s")
