"""The emulated key as a fake /dev/hidraw0 under umockdev, driven by unmodified clients.

python-fido2's Linux backend and libfido2's `fido2-token` run as child processes with
libumockdev-preload and the testbed's UMOCKDEV_DIR: they enumerate sysfs / libudev, issue the
hidraw ioctls and read()/write() reports exactly as on a desktop with a USB key. No kernel,
no root-only device and no VM are involved. umockdev is a test dependency (`make test`
installs it), so a missing umockdev fails these tests rather than skipping them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from fido2.cose import CoseKey
from fido2.ctap2 import Ctap2
from fido2.webauthn import AuthenticatorData

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.fido_hid import (
    EMULATOR_PRODUCT_ID,
    EMULATOR_VENDOR_ID,
    FIDO_REPORT_DESCRIPTOR,
    REPORT_SIZE,
)
from tokenbench.emulators.transport.umockdev_hidraw import (
    UmockdevHidraw,
    UmockdevUnavailable,
    attach_umockdev,
)

HERE = Path(__file__).resolve().parent
FIDO2_CLIENT = HERE / "fido2_hidraw_client.py"
HIDRAW_PROBE = HERE / "hidraw_probe.py"
NAME = "tokenbench umockdev key"
ORIGIN = "https://umockdev.example"
CHILD_TIMEOUT = 30
BUS_USB = 3


@pytest.fixture(scope="module")
def key() -> Iterator[EmulatedKey]:
    with EmulatedKey.create(seed=4242) as emulated:
        yield emulated


@pytest.fixture(scope="module")
def bridge(key: EmulatedKey) -> Iterator[UmockdevHidraw]:
    node = attach_umockdev(key, name=NAME, product="Emulated FIDO key")
    yield node
    key.remove_sink(node.send)
    node.close()


def run(bridge: UmockdevHidraw, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    """One unmodified client program, seeing the testbed instead of the real /dev and /sys."""
    done = run_unchecked(bridge, *argv)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def run_unchecked(bridge: UmockdevHidraw, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        env=bridge.client_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )


def run_json(bridge: UmockdevHidraw, script: Path, *args: str) -> Any:
    return json.loads(run(bridge, sys.executable, script, *args).stdout.splitlines()[-1])


def in_process_info(key: EmulatedKey) -> Any:
    return Ctap2(key.hid_device()).get_info()


# -- libfido2 ---------------------------------------------------------------------------------


def test_fido2_token_lists_the_fake_node(bridge: UmockdevHidraw) -> None:
    out = run(bridge, "fido2-token", "-L").stdout.strip().splitlines()
    expected = (
        f"/dev/hidraw0: vendor=0x{EMULATOR_VENDOR_ID:04x}, product=0x{EMULATOR_PRODUCT_ID:04x}"
        " (tokenbench Emulated FIDO key)"
    )
    assert out == [expected]


def test_fido2_token_reads_info_from_this_key(bridge: UmockdevHidraw, key: EmulatedKey) -> None:
    out = run(bridge, "fido2-token", "-I", "/dev/hidraw0").stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    info = in_process_info(key)
    assert fields["aaguid"] == bytes(info.aaguid).hex()
    assert fields["version strings"].split(", ") == list(info.versions)
    assert fields["maxmsgsiz"] == str(info.max_msg_size)


def libfido2_register(bridge: UmockdevHidraw, workdir: Path) -> tuple[Path, bool]:
    """fido2-cred -M on the node, then -V: the credential file, and whether it verified."""
    request = workdir / "cred.in"
    request.write_text(
        f"{base64.b64encode(b'c' * 32).decode()}\nlibfido2.example\nerin\n"
        f"{base64.b64encode(b'user-erin').decode()}\n"
    )
    made = run(bridge, "fido2-cred", "-M", "-i", request, "/dev/hidraw0").stdout
    credential = workdir / "cred.out"
    credential.write_text(made)
    checked = run_unchecked(
        bridge, "fido2-cred", "-V", "-i", credential, "-o", workdir / "pubkey.pem"
    )
    return credential, checked.returncode == 0


def test_libfido2_registers_and_signs_in(bridge: UmockdevHidraw, tmp_path: Path) -> None:
    """fido2-cred and fido2-assert (libfido2) make and use a credential; both verify."""
    credential, verified = libfido2_register(bridge, tmp_path)
    assert verified
    fields = credential.read_text().splitlines()
    assert fields[2] == "packed"  # attestation format; fields[4] is the credential ID
    request = tmp_path / "assert.in"
    request.write_text(f"{base64.b64encode(b'a' * 32).decode()}\nlibfido2.example\n{fields[4]}\n")
    assertion = tmp_path / "assert.out"
    assertion.write_text(run(bridge, "fido2-assert", "-G", "-i", request, "/dev/hidraw0").stdout)
    run(bridge, "fido2-assert", "-V", "-i", assertion, tmp_path / "pubkey.pem", "es256")


def test_libfido2_refuses_a_bad_attestation_signature(tmp_path: Path) -> None:
    with (
        EmulatedKey.create(seed=78, faults="bad-signature") as faulty,
        attach_umockdev(faulty) as node,
    ):
        _, verified = libfido2_register(node, tmp_path)
    assert not verified


# -- python-fido2 -----------------------------------------------------------------------------


def test_python_fido2_enumerates_one_key(bridge: UmockdevHidraw) -> None:
    devices = run_json(bridge, FIDO2_CLIENT, "list")
    assert devices == [
        {
            "path": "/dev/hidraw0",
            "vid": EMULATOR_VENDOR_ID,
            "pid": EMULATOR_PRODUCT_ID,
            "product_name": NAME,
            "serial": bridge.serial,  # attach_umockdev gives the node a USB serial (HID_UNIQ)
            "report_size_in": REPORT_SIZE,
            "report_size_out": REPORT_SIZE,
        }
    ]


def test_python_fido2_get_info_is_this_key(bridge: UmockdevHidraw, key: EmulatedKey) -> None:
    got = run_json(bridge, FIDO2_CLIENT, "info")
    info = in_process_info(key)
    assert got["aaguid"] == bytes(info.aaguid).hex()
    assert got["versions"] == list(info.versions)
    assert got["device_version"][0] == key.profile.firmware_version & 0xFF


def verified_counters(got: Any) -> list[int]:
    """Check each assertion's signature with the registered key; the counters, in order."""
    cose = got["public_key"]  # JSON: string labels, byte strings as hex
    public_key = CoseKey.parse(
        {int(k): bytes.fromhex(v) if isinstance(v, str) else v for k, v in cose.items()}
    )
    counters = []
    for assertion in got["assertions"]:
        auth_data = bytes.fromhex(assertion["authenticator_data"])
        client_data = bytes.fromhex(assertion["client_data"])
        parsed = AuthenticatorData(auth_data)
        assert parsed.is_user_present()
        assert not parsed.is_user_verified()  # user_verification="discouraged", no PIN set
        public_key.verify(
            auth_data + hashlib.sha256(client_data).digest(),
            bytes.fromhex(assertion["signature"]),
        )
        counters.append(parsed.counter)
    return counters


def test_python_fido2_register_and_sign_in(bridge: UmockdevHidraw, key: EmulatedKey) -> None:
    got = run_json(bridge, FIDO2_CLIENT, "ceremony", ORIGIN)
    assert got["attestation_format"] == "packed"
    counters = verified_counters(got)
    assert counters[0] < counters[1]
    # The credential lives on this key: it signs for it when asked in-process too.
    credential_id = bytes.fromhex(got["credential_id"])
    rp_id = ORIGIN.split("://", 1)[1]
    direct = Ctap2(key.hid_device()).get_assertion(
        rp_id, b"\x00" * 32, [{"type": "public-key", "id": credential_id}]
    )
    assert direct.credential["id"] == credential_id
    assert direct.auth_data.counter > counters[1]


CTAPHID_KEEPALIVE = 0xBB  # command byte (0x80 | 0x3B) of an initialisation packet


def ceremony_on_faulty_key(faults: str) -> tuple[Any, list[int]]:
    """The ceremony against a fresh key with `faults`; also the command bytes the key sent."""
    sent: list[int] = []
    with EmulatedKey.create(seed=77, faults=faults, slow_delay=0.25) as faulty:
        faulty.add_sink(lambda report: sent.append(report[4]))
        with attach_umockdev(faulty) as node:
            return run_json(node, FIDO2_CLIENT, "ceremony", ORIGIN), sent


def test_ceremony_check_catches_bad_signatures() -> None:
    """The same check fails against a key that signs wrongly (fault injection)."""
    got, _ = ceremony_on_faulty_key("bad-signature")
    with pytest.raises(InvalidSignature):
        verified_counters(got)


def test_ceremony_check_catches_counter_rollback() -> None:
    got, _ = ceremony_on_faulty_key("counter-rollback")
    counters = verified_counters(got)
    assert not counters[0] < counters[1]


def test_slow_key_keepalives_pass_through_the_fake_node() -> None:
    """Held-back answers with CTAPHID keepalives meanwhile: blocking reads must carry both."""
    got, sent = ceremony_on_faulty_key("slow")
    counters = verified_counters(got)
    assert counters[0] < counters[1]
    assert sent.count(CTAPHID_KEEPALIVE) >= 3  # at least one per held-back answer


# -- hidraw behaviour seen by a bare client ---------------------------------------------------


def test_poll_reports_readable_only_while_a_report_waits(bridge: UmockdevHidraw) -> None:
    got = run_json(bridge, HIDRAW_PROBE, "poll")
    assert got == {
        "readable_before_request": False,
        "written": REPORT_SIZE + 1,
        "readable_after_request": True,
        "reply_is_init": True,
        "reply_length": REPORT_SIZE,
        "readable_after_drain": False,
    }


def test_every_open_file_gets_each_report(bridge: UmockdevHidraw) -> None:
    assert run_json(bridge, HIDRAW_PROBE, "broadcast") == {"first": True, "second": True}


def test_ioctls_follow_hidraw_copy_rules(bridge: UmockdevHidraw) -> None:
    got = run_json(bridge, HIDRAW_PROBE, "ioctls")
    assert (got["bus"], got["vid"], got["pid"]) == (
        BUS_USB,
        EMULATOR_VENDOR_ID,
        EMULATOR_PRODUCT_ID,
    )
    assert got["descriptor_size"] == len(FIDO_REPORT_DESCRIPTOR)
    assert bytes.fromhex(got["descriptor"]) == FIDO_REPORT_DESCRIPTOR
    short = bytes.fromhex(got["short_copy"])
    assert short[:5] == FIDO_REPORT_DESCRIPTOR[:5]
    assert set(short[5:]) == {0xEE}  # nothing written past what the caller asked for
    assert got["name_len"] == 8  # truncated to the ioctl's size, like the kernel
    assert bytes.fromhex(got["name"]) == NAME.encode()[:8]
    assert got["unknown_is_enotty"], got["unknown_errno"]
    assert got["oversized_is_einval"]


def test_bad_writes_are_refused_and_the_node_keeps_working(bridge: UmockdevHidraw) -> None:
    got = run_json(bridge, HIDRAW_PROBE, "garbage")
    einval = -22
    # empty and 1-byte writes, and writes over HID_MAX_BUFFER_SIZE, fail as in hidraw; the
    # others are taken (and dropped by the key: not 64-byte reports).
    assert got["results"] == [einval, einval, 10, 101, einval]
    assert got["answered_after"]


def test_answers_longer_than_the_hidraw_queue_arrive_whole(bridge: UmockdevHidraw) -> None:
    """The key hands over up to 129 reports at once; hidraw keeps 63 per file. A reading
    client must still get every one (ML-DSA answers hung the device suite here)."""
    got = run_json(bridge, HIDRAW_PROBE, "long")
    assert got == dict.fromkeys(got, "ok") and len(got) == 9, got


def test_a_file_that_never_reads_does_not_stall_the_reader(bridge: UmockdevHidraw) -> None:
    """The hold for room is bounded, once per idle file; that file keeps what hidraw keeps."""
    got = run_json(bridge, HIDRAW_PROBE, "idle")
    assert got["echoes"] == ["ok"] * 3
    assert got["seconds"] < 10
    assert got["queued_on_idle_file"] == 63


# -- lifecycle --------------------------------------------------------------------------------


def wait_until_blocked_on_helper(pid: int) -> None:
    """The preload sends read() to the helper and then sleeps on the unix socket's answer."""
    deadline = time.monotonic() + CHILD_TIMEOUT
    wchan = Path(f"/proc/{pid}/wchan")
    while wchan.read_text() != "unix_stream_read_generic":
        assert time.monotonic() < deadline, "the client never blocked in read()"
        time.sleep(0.01)


def test_unplug_fails_a_blocked_reader_and_removes_the_testbed() -> None:
    node = UmockdevHidraw(lambda report: None).start()  # no key: nothing will ever answer
    root = Path(node.root)
    child = subprocess.Popen(
        [sys.executable, str(HIDRAW_PROBE), "unplug"],
        env=node.client_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "waiting"
        wait_until_blocked_on_helper(child.pid)
        node.close()
        out, err = child.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert json.loads(out.splitlines()[-1]) == {"errno": 19, "is_enodev": True}, err
    assert not root.exists()


# -- replug: a test rig's power switch --------------------------------------------------------


def listed_nodes(node: UmockdevHidraw) -> list[str]:
    """The nodes python-fido2's Linux backend finds in the testbed."""
    return [device["path"] for device in run_json(node, FIDO2_CLIENT, "list")]


def dev_entries(node: UmockdevHidraw) -> list[str]:
    return sorted(p.name for p in (Path(node.root) / "dev").iterdir() if p.name.startswith("hid"))


def test_unplug_removes_the_node_and_plug_adds_the_next_one() -> None:
    """One testbed, so a client started once sees the key go and come back, as on a desktop."""
    with EmulatedKey.create(seed=91) as key, attach_umockdev(key) as node:
        node.unplug()
        assert listed_nodes(node) == []
        assert dev_entries(node) == []
        assert node.plug() == "/dev/hidraw1"
        assert dev_entries(node) == ["hidraw1"]
        assert listed_nodes(node) == ["/dev/hidraw1"]
        # libfido2 enumerates through sysfs and libudev: the new tree must be whole too.
        out = run(node, "fido2-token", "-L").stdout.strip().splitlines()
        assert [line.split(":", 1)[0] for line in out] == ["/dev/hidraw1"]
        assert (
            run_json(node, FIDO2_CLIENT, "info")["aaguid"]
            == bytes(in_process_info(key).aaguid).hex()
        )
        assert node.plug() == "/dev/hidraw1"  # already in: nothing changes


def test_unplug_fails_a_blocked_reader_and_the_port_stays_usable() -> None:
    node = UmockdevHidraw(lambda report: None).start()  # no key: nothing will ever answer
    try:
        child = subprocess.Popen(
            [sys.executable, str(HIDRAW_PROBE), "unplug"],
            env=node.client_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "waiting"
        wait_until_blocked_on_helper(child.pid)
        node.unplug()
        out, err = child.communicate(timeout=CHILD_TIMEOUT)
        assert json.loads(out.splitlines()[-1]) == {"errno": 19, "is_enodev": True}, err
        assert node.plug() == "/dev/hidraw1"
        got = run_json(node, HIDRAW_PROBE, "ioctls", "/dev/hidraw1")
        assert (got["vid"], got["pid"]) == (EMULATOR_VENDOR_ID, EMULATOR_PRODUCT_ID)
    finally:
        node.close()


def test_rig_actions_power_cycle_the_key_and_hold_its_button() -> None:
    key = EmulatedKey.create(seed=92, presence="button")
    with key, attach_umockdev(key) as node:
        rig = node.rig_actions(key)
        rig.power(False)
        assert (key.power_cycles, listed_nodes(node)) == (1, [])
        rig.power(True)
        assert listed_nodes(node) == ["/dev/hidraw1"]
        rig.touch(True)
        # Every presence request is approved while the button is held (else: a 30 s timeout).
        got = run_json(node, FIDO2_CLIENT, "ceremony", ORIGIN)
        assert verified_counters(got)
        rig.touch(False)
        assert key.status()["power_cycles"] == 1


def test_replug_without_a_running_helper_is_a_clear_error() -> None:
    node = UmockdevHidraw(lambda report: None)
    with pytest.raises(UmockdevUnavailable, match="not running"):
        node.unplug()
    with pytest.raises(UmockdevUnavailable, match="not running"):
        node.plug()


def test_missing_system_python_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UmockdevUnavailable, match="not found"):
        UmockdevHidraw(lambda report: None, python=str(tmp_path / "python3")).start()


def test_helper_that_does_not_start_is_a_clear_error() -> None:
    with pytest.raises(UmockdevUnavailable, match="did not start"):
        UmockdevHidraw(lambda report: None, python="/bin/false").start()


def test_interpreter_without_gi_is_a_clear_error() -> None:
    """The venv's own interpreter has no PyGObject: the helper's import error is reported."""
    with pytest.raises(UmockdevUnavailable, match="No module named 'gi'"):
        UmockdevHidraw(lambda report: None, python=sys.executable).start()
