"""scripts/umockdev/with_emulated_key.py: a command run against a fresh key, status passed on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "umockdev" / "with_emulated_key.py"
TIMEOUT = 60


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=TIMEOUT
    )


def test_profile_reaches_libfido2() -> None:
    done = run("--profile", "u2f-only", "--", "fido2-token", "-I", "/dev/hidraw0")
    assert done.returncode == 0, done.stderr
    caps = [line for line in done.stdout.splitlines() if line.startswith("caps:")]
    assert caps == ["caps: 0x01 (wink, nocbor, msg)"]  # U2F only: no CTAPHID_CBOR


def test_command_status_is_passed_on() -> None:
    assert run("--", "sh", "-c", 'test -n "$UMOCKDEV_DIR" && exit 3').returncode == 3


def test_setup_errors_are_one_line() -> None:
    done = run("--profile", "no-such-profile", "--", "true")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "unknown device profile" in done.stderr
    missing = run("--", "/no/such/program")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: cannot run /no/such/program: No such file or directory"


RIG_CLIENT = """
import json, os, sys, urllib.error, urllib.request
from fido2.hid import list_descriptors
base = os.environ["TOKENBENCH_RIG_URL"]
def get(path, base=base):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
tokenless = "http://" + base.split("/")[2]
seen = [[d.path for d in list_descriptors()]]
statuses = [get("/usb1/power/off", tokenless), get("/"), get("/usb1/power/off")]
seen.append([d.path for d in list_descriptors()])
statuses.append(get("/usb1/power/on"))
seen.append([d.path for d in list_descriptors()])
print(json.dumps({"statuses": statuses, "seen": seen}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_rig_http_switches_the_node_for_the_command() -> None:
    """A command (like python-fido2's device suite) drives the key's rig over HTTP, given
    the rig's URL with its token; the same request without the token is not found."""
    port = free_port()
    done = run("--rig-http", f"127.0.0.1:{port}", "--", sys.executable, "-c", RIG_CLIENT)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got == {  # without the token in $TOKENBENCH_RIG_URL: 404, and the key stays
        "statuses": [404, 200, 200, 200],
        "seen": [["/dev/hidraw0"], [], ["/dev/hidraw1"]],
    }


def test_rig_http_must_be_loopback() -> None:
    done = run("--rig-http", "192.0.2.1:8800", "--", "true")
    assert done.returncode == 1
    assert done.stderr == "error: --rig-http 192.0.2.1 is not a loopback address\n"
