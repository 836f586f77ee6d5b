"""The emulated key as a real kernel device, in a real Linux kernel (QEMU guest, TCG).

This machine's kernel has no /dev/uhid and no USB, so one QEMU guest boots once for this
module: a Debian kernel with uhid, hid-generic, usbhid and vhci-hcd, the host's root mounted
read-only over 9p. Inside it (tests/kernel/inside_guest.py) the emulator creates a uhid
device and serves itself over USB/IP to `usbip attach`; python-fido2's Linux backend and
libfido2's `fido2-token` then use the resulting /dev/hidrawN nodes. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_GUEST = REPO / "scripts/guest/build_guest.py"
GUEST_ENTRY = "tests/kernel/run_inside.sh"
BOOT_TIMEOUT = 300  # seconds; a TCG boot plus the checks takes ~25 s here
CACHE = Path(os.environ.get("TOKENBENCH_CACHE", Path.home() / ".cache/tokenbench"))

EXPECTED_CHECKS = (
    "uhid-node",
    "uhid-python-fido2",
    "uhid-fido2-token",
    "uhid-removed",
    "usbip-list",
    "usbip-attach",
    "usbip-node",
    "usbip-python-fido2",
    "usbip-fido2-token",
    "usbip-detach",
)


def boot_guest() -> tuple[dict[str, dict], str]:
    qemu = shutil.which("qemu-system-x86_64")
    assert qemu, "qemu-system-x86_64 is missing: `make test` installs qemu-system-x86"
    built = subprocess.run(
        [sys.executable, str(BUILD_GUEST), str(CACHE / "guest")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, f"building the guest failed: {built.stderr[-2000:]}"
    guest = Path(built.stdout.strip())
    command = [
        qemu,
        "-machine", "q35,accel=tcg",
        "-cpu", "max",
        "-m", "1024",
        "-smp", "1",
        "-nographic",
        "-no-reboot",
        "-nic", "none",
        "-kernel", str(guest / "vmlinuz"),
        "-initrd", str(guest / "initrd.img"),
        "-append", f"console=ttyS0 quiet panic=-1 tb.cmd={GUEST_ENTRY} tb.cwd={REPO}",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=BOOT_TIMEOUT)
    console = run.stdout + run.stderr
    results = {}
    for line in console.splitlines():
        if line.startswith("TB-RESULT "):
            record = json.loads(line.removeprefix("TB-RESULT "))
            results[record["check"]] = record
    assert "TB-DONE" in console, f"the guest did not finish:\n{console[-4000:]}"
    return results, console


@pytest.fixture(scope="module")
def guest_results() -> dict[str, dict]:
    results, _ = boot_guest()
    return results


@pytest.mark.slow
@pytest.mark.parametrize("check", EXPECTED_CHECKS)
def test_guest_check(guest_results: dict[str, dict], check: str) -> None:
    record = guest_results.get(check)
    assert record is not None, f"{check} did not run in the guest"
    assert record["ok"], record.get("error") or record


@pytest.mark.slow
def test_clients_saw_the_emulator_identity(guest_results: dict[str, dict]) -> None:
    for path in ("uhid", "usbip"):
        seen = guest_results[f"{path}-python-fido2"]
        assert (seen["vid"], seen["pid"]) == (0x1209, 0x7B01)
        assert "FIDO_2_1" in seen["versions"]
    assert "tokenbench" in guest_results["usbip-fido2-token"]["listing"]
