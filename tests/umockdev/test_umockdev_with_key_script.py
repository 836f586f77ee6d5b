"""scripts/umockdev/with_emulated_key.py: a command run against a fresh key, status passed on."""

from __future__ import annotations

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
