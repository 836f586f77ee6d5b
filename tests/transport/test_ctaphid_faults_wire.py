"""The emulator's CTAPHID framing faults and the U2F status fault, each caught by a host.

These faults break what the ctaphid and u2f suites check (announced lengths, CTAPHID_ERROR
answers, distinct channels, keepalives, status words). Each test shows that a raw-report
check or python-fido2's own client notices the fault, so that a suite failing under it is
failing for the right reason. Raw tests use the `EchoCore` test double from conftest.py;
python-fido2 tests run the real key in-process, and the last one runs the real CLI over UDP.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fido2.ctap import CtapError
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import Ctap2
from fido2.hid import STATUS

from tokenbench.emulators.ctap.constants import IsoSw
from tokenbench.emulators.ctap.faults import Fault
from tokenbench.emulators.key import EmulatedKey, parse_emu_uri
from tokenbench.emulators.transport.control import ControlError
from tokenbench.emulators.transport.ctaphid import (
    BCNT_FIELD,
    BROADCAST_CID,
    CONT_PAYLOAD,
    FIRST_CID,
    INIT_HEADER_SIZE,
    INIT_PAYLOAD,
    MESSAGE_TIMEOUT,
    NONCE_SIZE,
    REPORT_SIZE,
    HidCommand,
    HidError,
    frame_message,
)
from tokenbench.emulators.transport.udp import UdpControlClient, open_udp_device

INIT_ANSWER_SIZE = NONCE_SIZE + 9  # nonce, CID(4), version, major, minor, build, capabilities
CID_IN_INIT_ANSWER = slice(INIT_HEADER_SIZE + NONCE_SIZE, INIT_HEADER_SIZE + NONCE_SIZE + 4)
UNASSIGNED_COMMAND = 0x55  # no CTAPHID command has this byte
UNALLOCATED_CID = 0x7E7E7E7E
LOCK_SECONDS = b"\x05"
SILENCE = 0.3  # three keepalive intervals: a healthy key would have sent keepalives by now
WIRE_FAULTS = (
    Fault.BAD_LENGTH,
    Fault.NO_ERRORS,
    Fault.FIXED_CID,
    Fault.NO_KEEPALIVE,
    Fault.U2F_STATUS,
    Fault.LAX_CONTINUATION,
    Fault.NO_MSG_TIMEOUT,
    Fault.CANCEL_UNKNOWN,
)
LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]


def announced(report: bytes) -> int:
    """The message length an init packet claims."""
    return int.from_bytes(report[BCNT_FIELD], "big")


def make_credential(ctap: Ctap2, **kwargs):  # type: ignore[no-untyped-def]
    return ctap.make_credential(
        hashlib.sha256(b"wire-faults").digest(),
        {"id": "example.com", "name": "Example"},
        {"id": b"u1", "name": "alice"},
        [{"type": "public-key", "alg": -7}],
        **kwargs,
    )


# ---------------------------------------------------------------------------- bad-length


def test_bad_length_claims_one_byte_more_than_the_message_holds(make_host) -> None:
    host = make_host(faults=Fault.BAD_LENGTH)
    host.send(BROADCAST_CID, HidCommand.INIT, b"nonce-01")
    answer = host.read()
    assert announced(answer) == INIT_ANSWER_SIZE + 1
    cid = int.from_bytes(answer[CID_IN_INIT_ANSWER], "big")
    host.send(cid, HidCommand.PING, bytes(INIT_PAYLOAD))  # fills the init packet exactly
    assert announced(host.read()) == INIT_PAYLOAD + 1
    host.expect_silence()  # the continuation the length promises never comes


def test_bad_length_is_caught_by_python_fido2() -> None:
    with EmulatedKey.create(seed=31, faults=Fault.BAD_LENGTH) as key:
        device = key.hid_device(read_timeout=0.5)
        assert device.ping(b"abc") == b"abc\x00"  # a byte of padding read as payload
        with pytest.raises(ValueError, match="Extraneous data"):  # getInfo's CBOR has a tail
            Ctap2(device)


# ---------------------------------------------------------------------------- no-errors


def test_no_errors_leaves_bad_requests_unanswered(make_host) -> None:
    host = make_host(faults=Fault.NO_ERRORS)
    cid = host.init()
    host.send(cid, UNASSIGNED_COMMAND)  # INVALID_CMD on a healthy key
    host.send(UNALLOCATED_CID, HidCommand.PING, b"x")  # INVALID_CHANNEL
    host.send(BROADCAST_CID, HidCommand.INIT, b"short")  # INVALID_LEN
    host.send(cid, HidCommand.LOCK, b"\xff")  # INVALID_PAR
    host.expect_silence()
    host.send(cid, HidCommand.PING, b"still here")  # only the errors are gone
    assert host.read_message().payload == b"still here"


def test_no_errors_turns_python_fido2_errors_into_timeouts() -> None:
    with EmulatedKey.create(seed=32) as healthy:
        with pytest.raises(CtapError) as refused:
            healthy.hid_device(read_timeout=0.5).call(UNASSIGNED_COMMAND, b"")
        assert refused.value.code == HidError.INVALID_CMD
    with (
        EmulatedKey.create(seed=32, faults=Fault.NO_ERRORS) as broken,
        pytest.raises(TimeoutError),
    ):
        broken.hid_device(read_timeout=0.5).call(UNASSIGNED_COMMAND, b"")


# ---------------------------------------------------------------------------- fixed-cid


def test_fixed_cid_hands_every_host_the_same_channel(make_host) -> None:
    host = make_host(faults=Fault.FIXED_CID)
    first, second, third = (host.init(bytes([n]) * NONCE_SIZE) for n in range(3))
    assert first == second == third == FIRST_CID
    host.send(first, HidCommand.LOCK, LOCK_SECONDS)
    assert host.read_message().cmd == HidCommand.LOCK
    host.send(second, HidCommand.PING, b"other host")  # CHANNEL_BUSY if channels were distinct
    assert host.read_message().payload == b"other host"


# ---------------------------------------------------------------------------- no-keepalive


def test_no_keepalive_is_silent_while_the_core_waits(make_host) -> None:
    host = make_host(faults=Fault.NO_KEEPALIVE)
    cid = host.init()
    host.send(cid, HidCommand.CBOR, bytes((host.core.WAIT_FOR_PRESENCE,)))
    assert host.core.presence_started.wait(2.0)
    host.expect_silence(SILENCE)  # no UPNEEDED: the host cannot tell waiting from dead
    host.send(cid, HidCommand.CANCEL)
    keepalives: list[int] = []
    answer = host.read_message(keepalives=keepalives)
    assert answer.payload == bytes((host.core.KEEPALIVE_CANCEL,)) and keepalives == []


@pytest.mark.parametrize(
    ("faults", "statuses"),
    [(Fault.SLOW, [STATUS.PROCESSING]), (f"{Fault.SLOW}+{Fault.NO_KEEPALIVE}", [])],
)
def test_no_keepalive_is_caught_by_python_fido2(faults: str, statuses: list[int]) -> None:
    with EmulatedKey.create(seed=33, faults=faults, slow_delay=SILENCE) as key:
        seen: list[int] = []
        make_credential(Ctap2(key.hid_device()), on_keepalive=seen.append)
        assert seen == statuses


# ---------------------------------------------------------------------------- u2f-status


def test_u2f_status_lies_in_both_directions() -> None:
    with EmulatedKey.create(seed=34, faults=Fault.U2F_STATUS) as key:
        ctap1 = Ctap1(key.hid_device(read_timeout=0.5))
        with pytest.raises(ApduError) as version:
            ctap1.get_version()  # a success, answered as a failure
        assert version.value.code == IsoSw.NO_PRECISE_DIAGNOSIS
        # INS_NOT_SUPPORTED on a healthy key; here python-fido2 sees an empty success
        assert ctap1.send_apdu(ins=UNASSIGNED_COMMAND) == b""


# ---------------------------------------------------------------------------- continuation


def continuation(cid: int, seq: int, data: bytes) -> bytes:
    return (cid.to_bytes(4, "big") + bytes((seq,)) + data).ljust(REPORT_SIZE, b"\0")


def test_lax_continuation_takes_any_sequence_and_any_channel(make_host) -> None:
    host = make_host(faults=Fault.LAX_CONTINUATION)
    cid, other = host.init(), host.init(b"other-01")
    head = frame_message(cid, HidCommand.PING, b"a" * (INIT_PAYLOAD + 2 * CONT_PAYLOAD))[0]
    host.write(head)
    host.write(continuation(cid, 5, b"b" * CONT_PAYLOAD))  # INVALID_SEQ on a healthy key
    host.write(continuation(other, 0, b"c" * CONT_PAYLOAD))  # ignored on a healthy key
    echo = host.read_message()
    assert (echo.cid, echo.payload[INIT_PAYLOAD:]) == (
        cid,
        b"b" * CONT_PAYLOAD + b"c" * CONT_PAYLOAD,
    )


# ---------------------------------------------------------------------------- no-msg-timeout


def test_no_msg_timeout_keeps_an_unfinished_message_forever(make_host, fake_clock) -> None:
    host = make_host(clock=fake_clock, faults=Fault.NO_MSG_TIMEOUT)
    stalled, other = host.init(), host.init(b"other-02")
    host.write(frame_message(stalled, HidCommand.PING, bytes(INIT_PAYLOAD + 1))[0])
    fake_clock.advance(10 * MESSAGE_TIMEOUT)
    host.endpoint.poll()
    host.expect_silence()  # no ERR_MSG_TIMEOUT
    host.send(other, HidCommand.PING, b"x")
    host.expect_error(other, HidError.CHANNEL_BUSY)  # and the key stays busy


# ---------------------------------------------------------------------------- cancel-unknown


def test_cancel_unknown_answers_cancel_with_invalid_cmd(make_host) -> None:
    host = make_host(faults=Fault.CANCEL_UNKNOWN)
    cid = host.init()
    host.send(cid, HidCommand.CANCEL)
    host.expect_error(cid, HidError.INVALID_CMD)


# ---------------------------------------------------------------------------- selection


@pytest.mark.parametrize("fault", WIRE_FAULTS)
def test_emu_uri_selects_the_fault(fault: Fault) -> None:
    kwargs = parse_emu_uri(f"emu:fault={fault}")
    with EmulatedKey.create(**kwargs) as key:
        assert key.status()["faults"] == [fault.value]


def test_bench_has_no_wire_option_any_more() -> None:
    from tokenbench.bench.errors import UserError
    from tokenbench.bench.targets import parse_target

    with pytest.raises(UserError, match="wire"):
        parse_target(f"emu:wire={Fault.BAD_LENGTH}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _wait_for_status(control: UdpControlClient, process: subprocess.Popen[bytes]) -> dict:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return control.status()
        except (OSError, ControlError):  # not listening yet (or its token not yet written)
            time.sleep(0.1)
    raise AssertionError("the emulator never answered its control socket")


def test_cli_emulates_a_key_with_the_wire_faults() -> None:
    port, reply, control_port = _free_port(), _free_port(), _free_port()
    fault_args = [arg for fault in WIRE_FAULTS for arg in ("--fault", fault.value)]
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tokenbench.bench.cli", "key", "emulate",
            "--udp", f"{LOOPBACK}:{port}", "--reply-to", f"{LOOPBACK}:{reply}",
            "--control", f"{LOOPBACK}:{control_port}", *fault_args,
        ],
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        control = UdpControlClient((LOOPBACK, control_port), timeout=0.5)
        status = _wait_for_status(control, process)
        assert status["faults"] == sorted(f.value for f in WIRE_FAULTS)
        device = open_udp_device((LOOPBACK, port), (LOOPBACK, reply), 2.0)
        assert device.ping(b"udp") == b"udp\x00"  # bad-length, seen over UDP
        device.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
