"""The UDP simulator transport: real sockets on 127.0.0.1 with free ports, python-fido2 client.

The last test runs `tokenbench key emulate --udp` as a subprocess and stops it with SIGTERM.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import STATUS

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.ctaphid import (
    BROADCAST_CID,
    HidCommand,
    HidError,
    frame_message,
)
from tokenbench.emulators.transport.udp import (
    UdpControlClient,
    UdpHidConnection,
    UdpKeyServer,
    open_udp_device,
    parse_address,
)

LOOPBACK = "127.0.0.1"
RP = {"id": "example.com", "name": "Example"}
ES256 = [{"type": "public-key", "alg": -7}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, presence: str = "auto") -> None:
        self.reply_port = free_port()
        self.key = EmulatedKey.create(seed=21, presence=presence)
        self.server = UdpKeyServer(
            self.key,
            bind=(LOOPBACK, 0),
            reply_to=(LOOPBACK, self.reply_port),
            control=(LOOPBACK, 0),
        ).start()
        self.control = UdpControlClient(self.server.control_address)

    def device(self, timeout: float = 3.0):  # type: ignore[no-untyped-def]
        return open_udp_device(self.server.address, (LOOPBACK, self.reply_port), timeout)

    def close(self) -> None:
        self.server.close()
        self.key.close()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.close()


def register(ctap: Ctap2, **kwargs):  # type: ignore[no-untyped-def]
    cdh = hashlib.sha256(b"udp").digest()
    return ctap.make_credential(cdh, RP, {"id": b"u", "name": "u"}, ES256, **kwargs)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8111") == ("127.0.0.1", 8111)
    assert parse_address(":7112", "10.0.0.1") == ("10.0.0.1", 7112)
    assert parse_address("", "127.0.0.1", 7112) == ("127.0.0.1", 7112)
    assert parse_address("9000") == ("127.0.0.1", 9000)
    for bad in ("host:port", "1.2.3.4:70000", "1.2.3.4"):
        with pytest.raises(ValueError):
            parse_address(bad)


def test_python_fido2_over_udp(served: Served) -> None:
    device = served.device()
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert "FIDO_2_1" in info.versions
    credential = register(ctap).auth_data.credential_data
    cdh = hashlib.sha256(b"login").digest()
    allow = [{"type": "public-key", "id": credential.credential_id}]
    ctap.get_assertion(RP["id"], cdh, allow).verify(cdh, credential.public_key)
    assert device.ping(b"u" * 3000) == b"u" * 3000
    device.close()


def test_raw_reports_and_errors_over_udp(served: Served) -> None:
    connection = UdpHidConnection(served.server.address, (LOOPBACK, served.reply_port), 2.0)
    try:
        connection.write_packet(frame_message(BROADCAST_CID, HidCommand.PING, b"x")[0])
        answer = connection.read_packet()
        assert answer[4] == 0x80 | HidCommand.ERROR and answer[7] == HidError.INVALID_CHANNEL
        connection.write_packet(b"\xff\xff\xff\xff\x86")  # a short datagram: wrong report size
        answer = connection.read_packet()
        assert answer[7] == HidError.INVALID_LEN
    finally:
        connection.close()


def test_control_channel_touch_and_replug() -> None:
    served = Served(presence="touch")
    try:
        ctap = Ctap2(served.device())
        statuses: list[int] = []
        touches: list[threading.Thread] = []

        def on_keepalive(status: int) -> None:
            statuses.append(status)
            if status == STATUS.UPNEEDED and not touches:
                touches.append(threading.Thread(target=served.control.touch))
                touches[0].start()

        assert register(ctap, on_keepalive=on_keepalive).auth_data.is_user_present()
        assert STATUS.UPNEEDED in statuses
        touches[0].join()
        assert served.control.status()["power_cycles"] == 0
        served.control.replug()
        assert served.control.status()["power_cycles"] == 1
        with pytest.raises(CtapError) as err:  # the old channel died with the power cycle
            ctap.get_info()
        assert err.value.code == CtapError.ERR.INVALID_CHANNEL
        assert served.control.status()["channels"] == 0
        ctap.device.close()
        assert Ctap2(served.device()).get_info().versions
        with pytest.raises(RuntimeError):
            served.control.call("explode")
    finally:
        served.close()


def test_control_touch_on_an_auto_key_does_nothing(served: Served) -> None:
    assert served.control.touch() is False
    assert served.control.status()["presence"] == "AutoApprove"
    assert served.control.call("state")["status"] == served.control.status()


# ---------------------------------------------------------------- the CLI as a subprocess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokenbench.bench.cli", "key", "emulate", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_refuses_a_remote_bind_and_bad_addresses() -> None:
    result = run_cli("--udp", "0.0.0.0:9")
    assert result.returncode == 1
    assert "--allow-remote" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("--udp", "127.0.0.1:notaport")
    assert result.returncode == 1 and "not a number" in result.stderr


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenbench: error: "), result.stderr
    return lines[0]


def test_cli_names_the_socket_it_cannot_bind_and_the_flag_that_moves_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOOPBACK, 0))
        busy = f"{LOOPBACK}:{taken.getsockname()[1]}"
        line = _one_error_line(run_cli("--udp", f"{LOOPBACK}:{free_port()}", "--control", busy))
        assert f"control socket {busy}" in line and "--control HOST:PORT" in line, line
        line = _one_error_line(run_cli("--udp", busy))
        assert f"HID socket {busy}" in line and "--udp HOST:PORT" in line, line


def test_cli_refuses_a_default_control_port_that_is_the_reply_port() -> None:
    # The control socket defaults to the HID port + 1; here that is where replies go.
    line = _one_error_line(run_cli("--udp", "127.0.0.1:9111", "--reply-to", "127.0.0.1:9112"))
    assert "127.0.0.1:9112" in line and "--reply-to" in line and "--control" in line, line
    assert "9111" not in line, "the message must name the control socket, not the HID one"


def test_cli_reports_unusable_state_files_in_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("garbage")
    missing_dir = tmp_path / "missing" / "key.json"
    for state in (corrupt, missing_dir):
        result = run_cli("--udp", f"{LOOPBACK}:{free_port()}", "--state", str(state))
        assert result.returncode == 1
        assert result.stderr.startswith("tokenbench: error: ") and "internal" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert corrupt.read_text() == "garbage"  # a state we cannot read is never overwritten


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if text in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"emulator did not print {text!r}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_python_fido2_and_stops_cleanly(tmp_path: Path, signum: int) -> None:
    port, reply, control = free_port(), free_port(), free_port()
    state = tmp_path / "key.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tokenbench.bench.cli", "key", "emulate",
            "--udp", f"{LOOPBACK}:{port}", "--reply-to", f"{LOOPBACK}:{reply}",
            "--control", f"{LOOPBACK}:{control}", "--state", str(state),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        wait_for_line(process, "emulated key")
        device = open_udp_device((LOOPBACK, port), (LOOPBACK, reply), 5.0)
        ctap = Ctap2(device)
        assert ctap.get_info().versions
        register(ctap)
        device.close()
        assert UdpControlClient((LOOPBACK, control)).status()["profile"] == "default"
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert state.exists() and state.stat().st_size > 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, port))  # the emulator released its port


def start_emulator(state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "tokenbench.bench.cli", "key", "emulate",
            "--udp", f"{LOOPBACK}:{free_port()}", "--reply-to", f"{LOOPBACK}:{free_port()}",
            "--control", f"{LOOPBACK}:{free_port()}", "--state", str(state),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def test_two_emulators_never_share_a_state_file(tmp_path: Path) -> None:
    """A second `key emulate` on the same --state is refused (each would save its own view
    over the other's); once the first is gone, even by SIGKILL, the file is free again."""
    state = tmp_path / "key.json"
    first = start_emulator(state)
    try:
        wait_for_line(first, "emulated key")
        saved = state.read_bytes()
        second = run_cli("--udp", f"{LOOPBACK}:{free_port()}", "--state", str(state))
        assert _one_error_line(second).endswith(f"key state {state} is in use by another emulator")
        assert state.read_bytes() == saved
    finally:
        first.kill()
        first.wait()
    third = start_emulator(state)
    try:
        wait_for_line(third, "emulated key")
    finally:
        third.kill()
        third.wait()
