"""The emulated key's control channel is its owner's only, and never leaves loopback.

Issue 14, item 3: `touch` approves user presence and `replug` resets the "power-cycle needed"
PIN counter, so another user of the machine must get no answer at all from the control socket
of a key root started; the owner's bench target still drives it. Item 7: `--vpcd` to a reader
on another host needs `--allow-remote`, like UDP and USB/IP.

The other user is `nobody` (uid 65534) through setpriv: a real second user, so these tests
need root (CI and `make test` run as root) and skip only without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenbench.bench.targets import parse_target
from tokenbench.emulators.transport.control import UdpControlClient, token_path

LOOPBACK = "127.0.0.1"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
PROJECT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0

# Runs as nobody: every command raw (the old wire format), with a guessed token, and with the
# token file's contents if nobody could read it. Prints what came back (null: no answer).
ATTACKER = """
import json, socket, sys
port, token_file = int(sys.argv[1]), sys.argv[2]
try:
    stolen = open(token_file).read().strip()
except OSError as exc:
    stolen = None
    print(json.dumps({"token_file": exc.strerror}))
answers = {}
for command in ("status", "touch", "replug", "power-cycle"):
    for prefix in ("", "guess ", (stolen + " ") if stolen else ""):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto((prefix + command).encode(), ("127.0.0.1", port))
            try:
                answers[prefix + command] = sock.recv(4096).decode()
            except TimeoutError:
                answers[prefix + command] = None
print(json.dumps({"answers": answers}))
"""


def free_pair() -> int:
    """A free UDP port whose next port is free too (HID port, control port = HID port + 1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two adjacent free UDP ports")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def emulate(*args: str) -> list[str]:
    return [sys.executable, "-m", "tokenbench.bench.cli", "key", "emulate", *args]


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a second user (CI and make test run as root)")
    if not shutil.which("setpriv"):
        pytest.fail("setpriv missing (util-linux)")


@contextlib.contextmanager
def started(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`key emulate ARGS` as this (root) user, until the block ends."""
    process = subprocess.Popen(
        emulate(*args),
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = ""
        while time.monotonic() < deadline and "emulated key" not in line:
            line = process.stderr.readline()
            if not line:
                break
        assert process.poll() is None, f"emulator exited: {line}"
        yield process
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def root_key(as_root: None) -> Iterator[tuple[int, int]]:
    """`key emulate --udp --presence touch` started by root: (HID port, reply port); the
    control port is the HID port + 1, as the bench's `udp:` target expects."""
    port, reply = free_pair(), free_port()
    args = ["--udp", f"{LOOPBACK}:{port}", "--reply-to", f"{LOOPBACK}:{reply}"]
    with started(*args, "--presence", "touch"):
        yield port, reply


def test_nobody_gets_no_answer_from_roots_key(root_key: tuple[int, int]) -> None:
    port, reply = root_key
    control_port = port + 1
    token_file = token_path("control", control_port)
    attack = subprocess.run(
        [*NOBODY, sys.executable, "-I", "-S", "-c", ATTACKER, str(control_port), str(token_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert attack.returncode == 0, attack.stderr
    lines = [json.loads(line) for line in attack.stdout.splitlines()]
    answers = lines[-1]["answers"]
    assert answers and all(answer is None for answer in answers.values()), answers
    assert lines[0] == {"token_file": "Permission denied"}
    # The token is the owner's: 0600 in a 0700 directory of the owner.
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    # The owner's own client and bench target still drive the key, which nobody re-plugged.
    owner = UdpControlClient((LOOPBACK, control_port))
    assert owner.status()["power_cycles"] == 0
    target = parse_target(f"udp:{LOOPBACK}:{port},reply={reply}")
    try:
        target.power_cycle()
    finally:
        target.close()
    assert owner.status()["power_cycles"] == 1


def bound_udp_addresses(port: int) -> list[str]:
    """The local addresses of the UDP sockets on `port` (/proc/net/udp: hex IPv4:port)."""
    rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    local = [row.split()[1] for row in rows]
    return [address for address in local if int(address.split(":")[1], 16) == port]


def test_allow_remote_leaves_the_control_socket_on_loopback(as_root: None) -> None:
    port = free_pair()
    reply = free_port()
    args = ["--udp", f"0.0.0.0:{port}", "--reply-to", f"{LOOPBACK}:{reply}", "--allow-remote"]
    with started(*args):
        assert bound_udp_addresses(port) == [f"00000000:{port:04X}"]  # HID: as asked
        assert bound_udp_addresses(port + 1) == [f"0100007F:{port + 1:04X}"]  # control
        assert UdpControlClient((LOOPBACK, port + 1)).status()["profile"] == "default"


@pytest.mark.parametrize(
    "args",
    [
        ["--udp", f"{LOOPBACK}:0", "--control", "0.0.0.0:0", "--allow-remote"],
        ["--vpcd", f"{LOOPBACK}:1", "--control", "0.0.0.0:0", "--allow-remote"],
    ],
)
def test_a_non_loopback_control_address_is_refused(args: list[str]) -> None:
    done = subprocess.run(emulate(*args), cwd=PROJECT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr == (
        "tokenbench: error: control address 0.0.0.0 is not loopback; it never leaves this machine\n"
    )


def test_vpcd_to_another_host_needs_allow_remote() -> None:
    """Without the check, the card would dial 192.0.2.1 and wait: the timeout fails the test."""
    done = subprocess.run(
        emulate("--vpcd", "192.0.2.1:35963"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "tokenbench: error: vpcd reader address 192.0.2.1 is not loopback; "
        "pass --allow-remote to expose the key\n"
    )


def test_the_control_client_refuses_other_hosts() -> None:
    with pytest.raises(RuntimeError, match="not loopback"):
        UdpControlClient(("192.0.2.1", 8112))


def test_a_rig_token_file_others_may_read_is_refused(tmp_path: Path, capsys) -> None:
    from tokenbench.bench.cli import main

    token_file = tmp_path / "rig.token"
    token_file.write_text("some-token")
    token_file.chmod(0o644)
    args = ["--vpcd", f"{LOOPBACK}:1", "--rig-http", f"{LOOPBACK}:0"]
    assert main(["key", "emulate", *args, "--rig-token-file", str(token_file)]) == 1
    assert capsys.readouterr().err == (
        f"tokenbench: error: --rig-token-file {token_file} must be readable by its owner only\n"
    )
