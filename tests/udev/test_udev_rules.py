"""udev/*.rules under `udevadm test` with umockdev devices, in a private mount namespace.

Each case runs the machine's real udev rules plus ours (systemd 252 here) on a device described
in this folder's .umockdev files, then checks the resulting tags, properties, mode and group.
A system without fido_id, or whose 70-uaccess.rules lacks the security-token line, is simulated
by masking those rules files (a /dev/null symlink in /etc/udev/rules.d, as an admin would).
Control runs without our rules show each result is ours, so the tests can fail.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from udev_harness import UDEV_RULES, Node, UdevResult, missing_tools, udevadm_test

from tokenbench.bench.keytools.usb_scan import KNOWN_FIDO_IDS

HERE = Path(__file__).parent
USB = "/sys/devices/pci0000:00/0000:00:14.0/usb1"
YUBIKEY_FIDO = (
    HERE / "fido-yubikey.umockdev",
    f"{USB}/1-2/1-2:1.1/0003:1050:0407.0002/hidraw/hidraw5",
    Node("/dev/hidraw5", 241, 5),
)
YUBIKEY_OTP = (
    HERE / "yubikey-otp-keyboard.umockdev",
    f"{USB}/1-2/1-2:1.0/0003:1050:0407.0001/hidraw/hidraw4",
    Node("/dev/hidraw4", 241, 4),
)
KEYBOARD = (
    HERE / "keyboard.umockdev",
    f"{USB}/1-1/1-1:1.0/0003:046D:C31C.0003/hidraw/hidraw3",
    Node("/dev/hidraw3", 241, 3),
)
CCID_READER = (HERE / "ccid-reader.umockdev", f"{USB}/1-3", Node("/dev/bus/usb/001/007", 189, 6))
KEYBOARD_USB = (HERE / "keyboard.umockdev", f"{USB}/1-1", Node("/dev/bus/usb/001/003", 189, 2))
UHID = (HERE / "uhid.umockdev", "/sys/devices/virtual/misc/uhid", Node("/dev/uhid", 10, 239))
EMULATOR_UHID = (
    HERE / "uhid.umockdev",
    "/sys/devices/virtual/misc/uhid/0003:1209:7B01.0004/hidraw/hidraw6",
    Node("/dev/hidraw6", 241, 6),
)
NO_FIDO_ID = ("60-fido-id.rules",)  # a system older than systemd 244
# a system whose 70-uaccess.rules lacks the security-token and smart-card lines (systemd < 244)
NO_SECURITY_TOKEN_UACCESS = ("70-uaccess.rules",)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="udev is Linux-only")


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail(f"udev tests need {', '.join(missing)} (apt-get install udev umockdev)")
    if os.geteuid() != 0:  # reported as skipped, never as passed
        pytest.skip("udev tests need root for unshare --mount, mknod and bind mounts")


def run(tmp_path: Path, case: tuple[Path, str, Node], **kwargs: object) -> UdevResult:
    description, syspath, node = case
    return udevadm_test(
        tmp_path / f"run{len(list(tmp_path.iterdir()))}", description, syspath, node, **kwargs
    )  # type: ignore[arg-type]


def test_fido_key_gets_uaccess_through_fido_id(tmp_path: Path) -> None:
    result = run(tmp_path, YUBIKEY_FIDO, mask=NO_SECURITY_TOKEN_UACCESS)
    assert result.properties.get("ID_FIDO_TOKEN") == "1", result.output  # the real fido_id
    assert result.properties.get("ID_SECURITY_TOKEN") == "1"
    assert "uaccess" in result.tags
    control = run(tmp_path, YUBIKEY_FIDO, rules=[], mask=NO_SECURITY_TOKEN_UACCESS)
    assert control.properties.get("ID_SECURITY_TOKEN") == "1"
    assert "uaccess" not in control.tags  # so the tag above is our rule's


def test_fido_key_without_fido_id_is_matched_by_vid_pid(tmp_path: Path) -> None:
    result = run(tmp_path, YUBIKEY_FIDO, mask=NO_FIDO_ID + NO_SECURITY_TOKEN_UACCESS)
    assert "ID_FIDO_TOKEN" not in result.properties  # fido_id did not run
    assert result.properties.get("ID_SECURITY_TOKEN") == "1"
    assert "uaccess" in result.tags
    assert (result.mode, result.group) == ("660", "plugdev")
    control = run(tmp_path, YUBIKEY_FIDO, rules=[], mask=NO_FIDO_ID)
    assert "uaccess" not in control.tags
    assert (control.mode, control.group) == ("600", "root")


@pytest.mark.parametrize("mask", [(), NO_FIDO_ID], ids=["with-fido_id", "vid-pid-only"])
def test_a_keys_otp_keyboard_interface_gets_no_access(
    tmp_path: Path, mask: tuple[str, ...]
) -> None:
    result = run(tmp_path, YUBIKEY_OTP, mask=mask)
    assert result.properties.get("ID_SECURITY_TOKEN") is None
    assert "uaccess" not in result.tags
    assert (result.mode, result.group) == ("600", "root")


def test_a_keyboard_hidraw_gets_no_access(tmp_path: Path) -> None:
    result = run(tmp_path, KEYBOARD)
    assert "ID_FIDO_TOKEN" not in result.properties and "ID_SECURITY_TOKEN" not in result.properties
    assert "uaccess" not in result.tags and "security-device" not in result.tags
    assert (result.mode, result.group) == ("600", "root")


def test_uhid_belongs_to_the_tokenbench_group(tmp_path: Path) -> None:
    result = run(tmp_path, UHID)
    assert (result.mode, result.group) == ("660", "tokenbench")
    assert "uaccess" not in result.tags  # a group decision, not the seat's
    control = run(tmp_path, UHID, rules=[])
    assert (control.mode, control.group) == ("600", "root")


@pytest.mark.parametrize("mask", [(), NO_FIDO_ID], ids=["with-fido_id", "hid-id-only"])
def test_the_emulator_through_uhid_is_a_fido_key(tmp_path: Path, mask: tuple[str, ...]) -> None:
    result = run(tmp_path, EMULATOR_UHID, mask=mask + NO_SECURITY_TOKEN_UACCESS)
    assert result.properties.get("ID_SECURITY_TOKEN") == "1", result.output
    assert "uaccess" in result.tags


def test_ccid_reader_gets_uaccess(tmp_path: Path) -> None:
    result = run(tmp_path, CCID_READER, mask=NO_SECURITY_TOKEN_UACCESS)
    assert result.properties.get("ID_USB_INTERFACES") == ":0b0000:", result.output
    assert result.properties.get("ID_SMARTCARD_READER") == "1"
    assert "uaccess" in result.tags
    control = run(tmp_path, CCID_READER, rules=[], mask=NO_SECURITY_TOKEN_UACCESS)
    assert "uaccess" not in control.tags
    keyboard = run(tmp_path, KEYBOARD_USB)
    assert keyboard.properties.get("ID_USB_INTERFACES") == ":030101:"
    assert "uaccess" not in keyboard.tags


def test_vid_pid_list_matches_the_scanner_list() -> None:
    """udev/70-tokenbench-fido.rules and usb_scan.KNOWN_FIDO_IDS name the same keys."""
    text = (UDEV_RULES / "70-tokenbench-fido.rules").read_text()
    in_rules = {
        (int(vendor, 16), int(product, 16))
        for vendor, products in re.findall(
            r'ATTRS\{idVendor\}=="([0-9a-f]{4})", ATTRS\{idProduct\}=="([0-9a-f|]+)"', text
        )
        for product in products.split("|")
    }
    assert in_rules == set(KNOWN_FIDO_IDS)
