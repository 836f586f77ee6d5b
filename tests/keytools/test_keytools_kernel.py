"""The key tools on a real kernel's hidraw, uhid and USB/IP (the QEMU test guest).

This machine has no /dev/uhid and no USB bus, so the checks run in the project's QEMU guest
(tests/kernel explains it; the guest is booted by tests/guest_boot.py, with our own
entry point). Inside, the emulated key exposed through /dev/uhid stands in for a real USB key:
`key list/info/wink` reach it as `hid:/dev/hidrawN`, and `key trace` runs in front of it with a
uhid and a USB/IP front end used by python-fido2's Linux backend (tests/keytools/
keytools_in_guest.py). `key list` also enumerates the USB/IP-attached device with pyusb.
"""

from __future__ import annotations

import pytest
from guest_boot import boot_guest

ENTRY = "tests/keytools/keytools_guest.sh"


@pytest.fixture(scope="module")
def guest() -> dict[str, dict]:
    results, console = boot_guest(ENTRY)
    assert results, console[-3000:]
    return results


def ok(guest: dict[str, dict], name: str) -> dict:
    record = guest.get(name)
    assert record is not None, f"{name} did not run in the guest: {sorted(guest)}"
    assert record["ok"], record.get("error") or record
    return record


@pytest.mark.slow
def test_list_info_wink_on_a_hidraw_key(guest: dict[str, dict]) -> None:
    node = ok(guest, "key-node")["node"]
    hid = ok(guest, "list-hid")["hid"]
    assert [d["path"] for d in hid] == [f"hid:{node}"]
    assert hid[0]["vid_pid"] == "1209:7b01"
    info = ok(guest, "info-hid")
    assert "FIDO_2_1" in [v["name"] for v in info["info"]["versions"]]
    assert "winked" in ok(guest, "wink-hid")["out"]


@pytest.mark.slow
def test_trace_with_a_uhid_front_end(guest: dict[str, dict]) -> None:
    assert ok(guest, "trace-uhid-node")["node"] != ok(guest, "key-node")["node"]
    assert ok(guest, "trace-uhid-client")["same_credential"] is True
    log = ok(guest, "trace-uhid-log")
    assert log["rc"] == 0
    assert {"makeCredential", "getAssertion", "INIT"} <= set(log["commands"])


@pytest.mark.slow
def test_trace_with_a_usbip_front_end_and_pyusb_listing(guest: dict[str, dict]) -> None:
    ok(guest, "trace-usbip-attach")
    assert "FIDO_2_1" in ok(guest, "trace-usbip-client")["versions"]
    usb = ok(guest, "list-usb")["usb"]
    assert any(
        d["vid_pid"] == "1209:7b01" and "0:fido-hid (usage page 0xF1D0)" in d["interfaces"]
        for d in usb
    ), usb
    assert "getInfo" in ok(guest, "trace-usbip-log")["commands"]
