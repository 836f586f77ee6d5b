"""Boot the QEMU test guest once and collect what its checks printed.

The guest (scripts/guest/) is a Debian kernel with uhid, hid-generic, usbhid and vhci-hcd in a
busybox initramfs; it mounts the host's root read-only over 9p and runs ENTRY (a script path
relative to the repository), whose lines `TB-RESULT <json>` come back here. Used by the test
modules that need a real kernel (tests/kernel, tests/keytools).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_GUEST = REPO / "scripts/guest/build_guest.py"
BOOT_TIMEOUT = 300  # seconds; a TCG boot plus the checks takes ~25 s here
VIRTFS_OPTIONS = "security_model=none,readonly=on,multidevs=remap"
CACHE = Path(os.environ.get("TOKENBENCH_CACHE", Path.home() / ".cache/tokenbench"))


def boot_guest(entry: str) -> tuple[dict[str, dict], str]:
    """Boot, run `entry` inside, return {check: record} and the whole console output."""
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
        "-append", f"console=ttyS0 quiet panic=-1 tb.cmd={entry} tb.cwd={REPO}",
        "-virtfs", f"local,path=/,mount_tag=hostroot,{VIRTFS_OPTIONS}",
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
