"""ctaphid suite: keepalive and cancel (CTAP 2.1 §11.2.9.1.5, §11.2.9.2.2).

A command that needs no user and no lengthy work is answered at once; a command waiting for
the user is kept alive with UPNEEDED at least every 100 ms and can be cancelled, which ends
it with CTAP2_ERR_KEEPALIVE_CANCEL; CANCEL itself is never answered.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time

import pytest
from fido2 import cbor

from tokenbench.bench.suites._hid_raw import (
    CANCEL,
    CAPABILITY_CBOR,
    CAPABILITY_NMSG,
    CBOR,
    INIT_PAYLOAD,
    KEEPALIVE,
    MSG,
    PING,
    QUIET,
    U2F_VERSION_APDU,
    frame,
)

PROMPT_ANSWER = 0.25  # s: a getInfo needs no keepalive at all
KEEPALIVE_PERIOD = 0.1  # §11.2.9.2.2: at least every 100 ms
KEEPALIVE_SLACK = 0.15  # scheduling noise on a loaded host
STATUS_UPNEEDED = 2
KEEPALIVE_CANCEL = 0x2D
GET_INFO = b"\x04"
MAKE_CREDENTIAL = 0x01
# Requests a key answers at once, without keepalives: CTAPHID command and payload.
PROMPT_REQUESTS = {
    "getinfo": (CBOR, GET_INFO),
    "u2f-version": (MSG, U2F_VERSION_APDU),
}


def _cbor_channel(raw):
    cid, answer = raw.allocate()
    if not answer[16] & CAPABILITY_CBOR:
        pytest.skip("unclaimed: CTAPHID_CBOR")
    return cid


@pytest.mark.parametrize("request_name", list(PROMPT_REQUESTS))
def test_prompt_request_answers_without_keepalive(raw_hid, request_name):
    raw = raw_hid()
    cmd, payload = PROMPT_REQUESTS[request_name]
    cid, answer = raw.allocate()
    if cmd == CBOR and not answer[16] & CAPABILITY_CBOR:
        pytest.skip("unclaimed: CTAPHID_CBOR")
    if cmd == MSG and answer[16] & CAPABILITY_NMSG:
        pytest.skip("unclaimed: CTAPHID_MSG (NMSG set)")
    raw.send(cid, cmd, payload)
    first = raw.receive(cid, timeout=PROMPT_ANSWER, skip_keepalive=False)
    assert first is not None, f"no answer to {request_name} within {PROMPT_ANSWER} s"
    assert first.cmd == cmd, f"{request_name} first answered with command 0x{first.cmd:02x}"
    raw.drain()


def test_cancel_alone_is_not_answered(raw_hid):
    raw = raw_hid()
    cid, _ = raw.allocate()
    raw.send(cid, CANCEL)
    assert raw.drain(0.2) == [], "the key answered a CTAPHID_CANCEL"
    assert raw.call(cid, PING, b"after cancel").payload == b"after cancel"


def test_cancel_from_another_channel_mid_message_is_not_answered(raw_hid):
    """§11.2.9.1.5: a CANCEL on a CID that is not the active one is ignored: no
    ERR_CHANNEL_BUSY for it, and the active channel's message goes on."""
    raw = raw_hid()
    active, _ = raw.allocate()
    other, _ = raw.allocate()
    payload = os.urandom(INIT_PAYLOAD + 10)
    head, tail = frame(active, PING, payload)
    raw.write(head)
    raw.send(other, CANCEL)
    assert raw.receive(other, timeout=QUIET) is None, "a CANCEL from another channel was answered"
    raw.write(tail)
    reply = raw.receive(active)
    assert reply is not None and reply.payload == payload, "the CANCEL disturbed the message"


@pytest.mark.needs_presence
def test_keepalive_then_cancel_while_waiting_for_the_user(raw_hid):
    raw = raw_hid()
    cid = _cbor_channel(raw)
    request = {
        1: hashlib.sha256(os.urandom(16)).digest(),
        2: {"id": "cancel.tokenbench.example"},
        3: {"id": os.urandom(8), "name": "cancel"},
        4: [{"type": "public-key", "alg": -7}],
    }
    raw.send(cid, CBOR, bytes([MAKE_CREDENTIAL]) + cbor.encode(request))
    seen = []
    while True:
        message = raw.receive(cid, timeout=1.0, skip_keepalive=False)
        assert message is not None, "makeCredential: neither an answer nor a keepalive"
        if message.cmd != KEEPALIVE:
            break
        seen.append((time.monotonic(), message.payload[:1]))
        if len(seen) >= 3:
            break
    if not seen:
        raw.drain()
        pytest.skip("unclaimed: the key did not wait for user presence (nothing to cancel)")
    assert all(status == bytes([STATUS_UPNEEDED]) for _, status in seen), f"statuses {seen}"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    assert max(gaps, default=0) <= KEEPALIVE_PERIOD + KEEPALIVE_SLACK, f"keepalive gaps {gaps}"
    raw.send(cid, CANCEL)
    answer = raw.receive(cid, timeout=1.0)
    assert answer is not None and answer.cmd == CBOR, "no CBOR answer after CANCEL"
    assert answer.payload[:1] == bytes([KEEPALIVE_CANCEL]), (
        f"cancelled makeCredential answered 0x{answer.payload[:1].hex()}, expected 0x2D"
    )
