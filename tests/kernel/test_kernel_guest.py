"""The emulated key as a real kernel device, in a real Linux kernel (QEMU guest, TCG).

This machine's kernel has no /dev/uhid and no USB, so one QEMU guest boots once for this
module: a Debian kernel with uhid, hid-generic, usbhid and vhci-hcd, the host's root mounted
read-only over 9p. Inside it (tests/kernel/inside_guest.py) the emulator creates a uhid
device and serves itself over USB/IP to `usbip attach`; python-fido2's Linux backend and
libfido2's `fido2-token` then use the resulting /dev/hidrawN nodes. Nothing is mocked.
"""

from __future__ import annotations

import pytest
from guest_boot import boot_guest

GUEST_ENTRY = "tests/kernel/run_inside.sh"

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


@pytest.fixture(scope="module")
def guest_results() -> dict[str, dict]:
    results, _ = boot_guest(GUEST_ENTRY)
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
