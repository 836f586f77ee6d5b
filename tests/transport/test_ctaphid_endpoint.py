"""CTAPHID device side (CTAP 2.1 §11.2) against raw 64-byte reports.

The core here is the `EchoCore` test double from conftest.py, so framing, channel and timing
rules are tested without depending on what the authenticator answers.
"""

from __future__ import annotations

import queue
import struct
import threading
import time

import pytest

from tokenbench.emulators.ctap.transaction import KeepaliveStatus
from tokenbench.emulators.transport.ctaphid import (
    BROADCAST_CID,
    CONT_PAYLOAD,
    INIT_PAYLOAD,
    MAX_MESSAGE,
    MESSAGE_TIMEOUT,
    U2F_ONLY_CAPABILITIES,
    Capability,
    FaultTuning,
    HidCommand,
    HidError,
    frame_message,
    parse_messages,
)

BOUNDARY_SIZES = sorted(
    {0, 1, INIT_PAYLOAD - 1, INIT_PAYLOAD, INIT_PAYLOAD + 1}
    | {INIT_PAYLOAD + CONT_PAYLOAD * k + d for k in (1, 2, 64, 127) for d in (-1, 0, 1)}
    | {MAX_MESSAGE - 1, MAX_MESSAGE}
)


def payload_of(size: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


def test_message_size_constants_follow_the_spec() -> None:
    assert (INIT_PAYLOAD, CONT_PAYLOAD, MAX_MESSAGE) == (57, 59, 7609)


def test_init_on_broadcast_allocates_a_channel(host) -> None:
    nonce = bytes.fromhex("0102030405060708")
    host.send(BROADCAST_CID, HidCommand.INIT, nonce)
    message = host.read_message()
    assert message.cid == BROADCAST_CID and message.cmd == HidCommand.INIT
    assert len(message.payload) == 17
    r_nonce, cid, version, major, minor, build, caps = struct.unpack(">8sIBBBBB", message.payload)
    assert r_nonce == nonce
    assert cid not in (0, BROADCAST_CID)
    assert version == 2
    assert (major, minor, build) == host.endpoint.device_version
    assert caps == Capability.WINK | Capability.CBOR
    second = host.init(b"abcdefgh")
    assert second != cid


def test_init_with_wrong_nonce_length_is_invalid_len(host) -> None:
    host.send(BROADCAST_CID, HidCommand.INIT, b"1234567")
    host.expect_error(BROADCAST_CID, HidError.INVALID_LEN)
    host.send(BROADCAST_CID, HidCommand.INIT, b"123456789")
    host.expect_error(BROADCAST_CID, HidError.INVALID_LEN)


def test_channel_zero_and_unallocated_channels_are_invalid(host) -> None:
    host.send(0, HidCommand.PING, b"x")
    host.expect_error(0, HidError.INVALID_CHANNEL)
    host.send(0, HidCommand.INIT, b"12345678")
    host.expect_error(0, HidError.INVALID_CHANNEL)
    host.send(0x12345678, HidCommand.PING, b"x")
    host.expect_error(0x12345678, HidError.INVALID_CHANNEL)
    host.write((0x12345678).to_bytes(4, "big") + b"\x00" + bytes(59))  # continuation
    host.expect_error(0x12345678, HidError.INVALID_CHANNEL)
    host.send(BROADCAST_CID, HidCommand.PING, b"x")
    host.expect_error(BROADCAST_CID, HidError.INVALID_CHANNEL)
    assert host.core.requests == []


def test_init_on_a_never_allocated_channel_is_answered_on_it(host) -> None:
    """§11.2.9.1.3: INIT on a channel other than broadcast answers on that channel, with that
    channel id; the channel is then usable, as on SoloKeys and Nitrokey firmware."""
    host.send(0x12345678, HidCommand.INIT, b"12345678")
    message = host.read_message()
    assert (message.cid, message.cmd) == (0x12345678, HidCommand.INIT)
    assert message.payload[:8] == b"12345678"
    assert int.from_bytes(message.payload[8:12], "big") == 0x12345678
    host.send(0x12345678, HidCommand.PING, b"x")
    assert host.read_message().payload == b"x"


def test_init_on_an_unknown_channel_is_refused_under_its_fault(make_host) -> None:
    host = make_host(faults="init-unknown-channel")
    host.send(0x12345678, HidCommand.INIT, b"12345678")
    host.expect_error(0x12345678, HidError.INVALID_CHANNEL)


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_ping_echoes_at_every_fragment_boundary(host, size: int) -> None:
    cid = host.init()
    data = payload_of(size)
    host.send(cid, HidCommand.PING, data)
    message = host.read_message()
    assert (message.cid, message.cmd, message.payload) == (cid, HidCommand.PING, data)


@pytest.mark.parametrize("size", [1, 57, 58, 117, 118, 7608, 7609])
def test_cbor_requests_and_answers_cross_packet_boundaries(host, size: int) -> None:
    cid = host.init()
    request = b"\x04" + payload_of(size - 1)
    host.send(cid, HidCommand.CBOR, request)
    message = host.read_message()
    assert message.cmd == HidCommand.CBOR
    assert message.payload == b"\x00" + request[1:]
    assert host.core.requests == [request]


def test_message_longer_than_7609_is_invalid_len(host) -> None:
    cid = host.init()
    too_long = (MAX_MESSAGE + 1).to_bytes(2, "big")
    header = cid.to_bytes(4, "big") + bytes([0x80 | HidCommand.PING]) + too_long
    host.write(header.ljust(64, b"\0"))
    host.expect_error(cid, HidError.INVALID_LEN)
    host.send(cid, HidCommand.PING, b"still works")
    assert host.read_message().payload == b"still works"


def test_frame_message_and_parse_messages_round_trip() -> None:
    for size in BOUNDARY_SIZES:
        reports = frame_message(7, HidCommand.CBOR, payload_of(size))
        assert all(len(r) == 64 for r in reports)
        assert len(reports) == 1 + max(0, -(-(size - INIT_PAYLOAD) // CONT_PAYLOAD))
        assert parse_messages(reports)[0].payload == payload_of(size)


def test_empty_cbor_request_is_invalid_len(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, b"")
    host.expect_error(cid, HidError.INVALID_LEN)


def test_unknown_command_is_invalid_cmd(host) -> None:
    cid = host.init()
    for cmd in (0x40, 0x02, 0x3E):
        host.send(cid, cmd, b"")
        host.expect_error(cid, HidError.INVALID_CMD)


def test_wrong_sequence_number_is_invalid_seq(host) -> None:
    cid = host.init()
    reports = frame_message(cid, HidCommand.PING, payload_of(200))
    host.write(reports[0])
    host.write(reports[2])  # seq 1 where seq 0 is due
    host.expect_error(cid, HidError.INVALID_SEQ)
    host.write(reports[3])  # the rest of the aborted message is now spurious
    host.expect_silence()
    host.send(cid, HidCommand.PING, b"ok")
    assert host.read_message().payload == b"ok"


def test_new_init_packet_during_a_message_is_invalid_seq(host) -> None:
    cid = host.init()
    host.write(frame_message(cid, HidCommand.PING, payload_of(100))[0])
    host.write(frame_message(cid, HidCommand.PING, b"x")[0])
    host.expect_error(cid, HidError.INVALID_SEQ)
    host.send(cid, HidCommand.PING, b"next")
    assert host.read_message().payload == b"next"


def test_spurious_continuation_is_ignored(host) -> None:
    cid = host.init()
    host.write(cid.to_bytes(4, "big") + b"\x00" + bytes(59))
    host.expect_silence()


def test_reports_of_the_wrong_size_get_invalid_len(host) -> None:
    cid = host.init()
    report = frame_message(cid, HidCommand.PING, b"hi")[0]
    host.write(report[:63])
    host.expect_error(cid, HidError.INVALID_LEN)
    host.write(report + b"\0")
    host.expect_error(cid, HidError.INVALID_LEN)
    host.write(b"\x01\x02")  # no channel id to answer on
    host.write(b"")
    host.expect_silence()


def test_incomplete_message_times_out_on_the_injected_clock(make_host, fake_clock) -> None:
    host = make_host(clock=fake_clock)
    cid = host.init()
    host.write(frame_message(cid, HidCommand.PING, payload_of(100))[0])
    fake_clock.advance(0.4)
    host.endpoint.poll()
    host.expect_silence()
    fake_clock.advance(MESSAGE_TIMEOUT - 0.4 + 0.01)
    host.endpoint.poll()
    host.expect_error(cid, HidError.MSG_TIMEOUT)
    assert 0.4 <= MESSAGE_TIMEOUT <= 1.0


def test_each_continuation_restarts_the_message_timer(make_host, fake_clock) -> None:
    host = make_host(clock=fake_clock)
    cid = host.init()
    data = payload_of(300)
    reports = frame_message(cid, HidCommand.PING, data)
    for report in reports:
        host.write(report)
        fake_clock.advance(0.3)  # 0.3 s between packets, well over 0.5 s in total
        host.endpoint.poll()
    assert host.read_message().payload == data


def test_incomplete_message_times_out_in_real_time(host) -> None:
    cid = host.init()
    host.write(frame_message(cid, HidCommand.PING, payload_of(100))[0])
    started = time.monotonic()
    host.expect_error(cid, HidError.MSG_TIMEOUT)
    assert time.monotonic() - started >= 0.4


def test_other_channel_is_busy_while_a_command_runs(host) -> None:
    first, second = host.init(), host.init()
    host.send(first, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    assert host.core.presence_started.wait(2)
    started = time.monotonic()
    host.send(second, HidCommand.PING, b"x")
    keepalives: list[int] = []
    message = host.read_message(keepalives=keepalives)
    assert (message.cid, message.payload) == (second, bytes([HidError.CHANNEL_BUSY]))
    assert time.monotonic() - started < 0.1 + 0.5  # "immediately"; generous for a loaded CI
    host.send(first, HidCommand.CANCEL)
    message = host.read_message()
    assert message.payload == bytes([host.core.KEEPALIVE_CANCEL])


def test_other_channel_is_busy_while_a_message_is_assembled(host) -> None:
    first, second = host.init(), host.init()
    host.write(frame_message(first, HidCommand.PING, payload_of(100))[0])
    host.send(second, HidCommand.PING, b"x")
    host.expect_error(second, HidError.CHANNEL_BUSY)
    host.write(frame_message(first, HidCommand.PING, payload_of(100))[1])
    assert host.read_message().payload == payload_of(100)


def test_broadcast_init_is_served_while_another_channel_is_busy(host) -> None:
    first = host.init()
    host.send(first, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    assert host.core.presence_started.wait(2)
    assert host.init(b"newcomer") not in (first, 0)
    host.send(first, HidCommand.CANCEL)
    assert host.read_message().payload == bytes([host.core.KEEPALIVE_CANCEL])


def test_cancel_during_presence_wait_answers_keepalive_cancel(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    keepalive = host.read(1.0)  # first keepalive after ~100 ms
    assert keepalive[4] == 0x80 | HidCommand.KEEPALIVE
    assert keepalive[7] == KeepaliveStatus.UPNEEDED
    host.send(cid, HidCommand.CANCEL)
    message = host.read_message()
    assert (message.cmd, message.payload) == (HidCommand.CBOR, b"\x2d")
    host.expect_silence(0.25)  # nothing answers the CANCEL itself, and keepalives stopped


def test_cancel_from_another_channel_does_not_cancel(host) -> None:
    first, second = host.init(), host.init()
    host.send(first, HidCommand.CBOR, bytes([host.core.SLOW_COMMAND]))
    host.send(second, HidCommand.CANCEL)
    message = host.read_message()
    assert (message.cid, message.payload) == (first, b"\x00")


def test_cancel_when_idle_is_silent(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CANCEL)
    host.expect_silence()


def test_keepalive_processing_during_a_slow_operation(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.SLOW_COMMAND]))
    keepalives: list[int] = []
    message = host.read_message(keepalives=keepalives)
    assert message.payload == b"\x00"
    assert len(keepalives) >= 2  # 0.35 s of work, one every 100 ms
    assert set(keepalives) == {KeepaliveStatus.PROCESSING}


def test_init_on_an_allocated_channel_resynchronises(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    assert host.core.presence_started.wait(2)
    host.send(cid, HidCommand.INIT, b"resync!!")
    keepalives: list[int] = []
    message = host.read_message(keepalives=keepalives)
    assert message.cid == cid and message.cmd == HidCommand.INIT
    assert message.payload[:8] == b"resync!!"
    assert int.from_bytes(message.payload[8:12], "big") == cid
    host.expect_silence(0.3)  # the aborted command's answer is never sent
    host.send(cid, HidCommand.PING, b"after")
    assert host.read_message().payload == b"after"


def test_lock_gives_one_channel_exclusive_access(make_host, fake_clock) -> None:
    host = make_host(clock=fake_clock)
    owner, other = host.init(), host.init()
    host.send(owner, HidCommand.LOCK, b"\x02")
    assert host.read_message().cmd == HidCommand.LOCK
    host.send(other, HidCommand.PING, b"x")
    host.expect_error(other, HidError.CHANNEL_BUSY)
    host.send(BROADCAST_CID, HidCommand.INIT, b"12345678")
    host.expect_error(BROADCAST_CID, HidError.CHANNEL_BUSY)
    host.send(owner, HidCommand.PING, b"mine")
    assert host.read_message().payload == b"mine"
    fake_clock.advance(2.01)  # the lock expires by itself
    host.send(other, HidCommand.PING, b"free")
    assert host.read_message().payload == b"free"
    host.send(owner, HidCommand.LOCK, b"\x0a")
    host.read_message()
    host.send(owner, HidCommand.LOCK, b"\x00")  # explicit release
    host.read_message()
    host.send(other, HidCommand.PING, b"again")
    assert host.read_message().payload == b"again"


def test_lock_parameters_are_checked(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.LOCK, b"\x0b")
    host.expect_error(cid, HidError.INVALID_PAR)
    host.send(cid, HidCommand.LOCK, b"")
    host.expect_error(cid, HidError.INVALID_LEN)
    host.send(cid, HidCommand.LOCK, b"\x01\x01")
    host.expect_error(cid, HidError.INVALID_LEN)


def test_wink(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.WINK)
    message = host.read_message()
    assert (message.cmd, message.payload) == (HidCommand.WINK, b"")
    assert host.core.winks == 1
    host.send(cid, HidCommand.WINK, b"x")
    host.expect_error(cid, HidError.INVALID_LEN)
    assert host.core.winks == 1


def test_u2f_only_profile_has_no_cbor(make_host) -> None:
    host = make_host(capabilities=U2F_ONLY_CAPABILITIES)
    host.send(BROADCAST_CID, HidCommand.INIT, b"12345678")
    caps = host.read_message().payload[16]
    assert caps == Capability.WINK
    cid = host.endpoint.channels[0]
    host.send(cid, HidCommand.CBOR, b"\x04")
    host.expect_error(cid, HidError.INVALID_CMD)
    host.send(cid, HidCommand.MSG, b"\x00\x03\x00\x00")
    assert host.read_message().payload == b"\x00\x03\x00\x00\x90\x00"


def test_nmsg_device_refuses_msg(make_host) -> None:
    host = make_host(capabilities=Capability.WINK | Capability.CBOR | Capability.NMSG)
    cid = host.init()
    host.send(cid, HidCommand.MSG, b"\x00\x03\x00\x00")
    host.expect_error(cid, HidError.INVALID_CMD)
    assert host.core.apdus == []


def test_msg_goes_to_process_u2f(host) -> None:
    cid = host.init()
    apdu = b"\x00\x01\x03\x00" + bytes(70)
    host.send(cid, HidCommand.MSG, apdu)
    message = host.read_message()
    assert (message.cmd, message.payload) == (HidCommand.MSG, apdu + b"\x90\x00")
    assert host.core.apdus == [apdu]


def test_a_core_that_raises_yields_err_other(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.RAISE_COMMAND]))
    host.expect_error(cid, HidError.OTHER)
    host.send(cid, HidCommand.PING, b"alive")
    assert host.read_message().payload == b"alive"


def test_reset_forgets_channels_and_cancels(host) -> None:
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    assert host.core.presence_started.wait(2)
    host.endpoint.reset()
    host.send(cid, HidCommand.PING, b"x")
    keepalives: list[int] = []
    message = host.read_message(keepalives=keepalives)
    assert message.payload == bytes([HidError.INVALID_CHANNEL])
    host.expect_silence(0.2)


def test_close_stops_the_threads(host) -> None:
    host.init()
    threads = [host.endpoint._worker, host.endpoint._ticker]
    host.endpoint.close()
    assert not any(t.is_alive() for t in threads)
    host.send(BROADCAST_CID, HidCommand.INIT, b"12345678")
    host.expect_silence()


def test_drop_packet_fault_loses_every_fourth_report(make_host) -> None:
    host = make_host(faults="drop-packet", tuning=FaultTuning(drop_every=4))
    cid = host.init()  # report 1
    host.send(cid, HidCommand.PING, payload_of(200))  # reports 2..5: the 4th is lost
    reports = [host.read() for _ in range(3)]
    host.expect_silence()
    with pytest.raises(ValueError):
        parse_messages(reports)


def test_duplicate_packet_fault_repeats_reports(make_host) -> None:
    host = make_host(faults="duplicate-packet", tuning=FaultTuning(duplicate_every=3))
    cid = host.init()
    host.send(cid, HidCommand.PING, payload_of(200))  # reports 2..5: the 3rd twice
    reports = [host.read() for _ in range(5)]
    assert reports[1] == reports[2]
    with pytest.raises(ValueError):
        parse_messages(reports)


def test_slow_fault_delays_answers_with_keepalives(make_host) -> None:
    host = make_host(faults="slow", tuning=FaultTuning(slow_delay=0.3))
    cid = host.init()
    started = time.monotonic()
    host.send(cid, HidCommand.CBOR, b"\x04")
    keepalives: list[int] = []
    assert host.read_message(keepalives=keepalives).payload == b"\x00"
    assert time.monotonic() - started >= 0.3
    assert keepalives and set(keepalives) == {KeepaliveStatus.PROCESSING}


def test_concurrent_writers_never_break_the_endpoint(host) -> None:
    cids = [host.init(bytes([i]) * 8) for i in range(4)]
    errors: list[BaseException] = []

    def hammer(cid: int) -> None:
        try:
            for _ in range(30):
                host.send(cid, HidCommand.PING, payload_of(130))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(c,)) for c in cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # drain what the storm produced (busy errors, a message timeout), then ask again
    while True:
        try:
            host.read(0.7)
        except queue.Empty:
            break
    cid = host.init(b"last one")
    host.send(cid, HidCommand.PING, b"calm")
    assert host.read_message().payload == b"calm"


def test_keepalive_cadence_on_the_injected_clock(make_host, fake_clock) -> None:
    host = make_host(clock=fake_clock)
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes([host.core.WAIT_FOR_PRESENCE]))
    assert host.core.presence_started.wait(2)
    fake_clock.advance(0.05)
    host.endpoint.poll()
    host.expect_silence(0.1)  # not yet: keepalives come every 100 ms
    for _ in range(3):
        fake_clock.advance(0.1)
        host.endpoint.poll()
        report = host.read(1.0)
        assert (report[:4], report[4], report[7]) == (
            cid.to_bytes(4, "big"),
            0x80 | HidCommand.KEEPALIVE,
            KeepaliveStatus.UPNEEDED,
        )
        host.expect_silence(0.05)  # exactly one per interval
    host.send(cid, HidCommand.CANCEL)
    assert host.read_message().payload == bytes([host.core.KEEPALIVE_CANCEL])
