"""python-fido2 2.2.1's device suite, unmodified, against the emulated key over USB HID.

The suite finds the key as python-fido2's real Linux backend finds any key: it globs
/dev/hidraw*, opens the node and reads its report descriptor with hidraw ioctls. The node is
umockdev's (emulators/transport/umockdev_hidraw.py): the suite runs with umockdev's preload
library, which shows it a testbed's /dev and /sys instead of the machine's, and a helper
process plays the kernel's hidraw driver for the key's node. The rig controller it is pointed
at (`--controller`) is served here: power off removes the node and its sysfs tree (open files
get ENODEV) and power-cycles the key, power on plugs a new node in (/dev/hidraw1, ...), touch
holds the key's button. So the suite's reconnects and factory resets run unattended.

Why umockdev rather than the QEMU guest with /dev/uhid (tests/kernel): the guest boots a
kernel under TCG (no KVM in CI), and the suite would have to run inside it, at emulated-CPU
speed, with its rig controller inside too; one run would take minutes instead of seconds and
add a boot that can time out on a loaded 2-core box. umockdev needs no root, no module and no
VM, and a replug is a synchronous change to the testbed, so the suite's "wait until the device
is gone, then until a new one appears" loop never races the kernel. What the kernel path adds
(usbhid and hidraw themselves) is covered by tests/kernel with libfido2 and python-fido2.

A clean run has no failures and no errors, every skip is one docs/conformance.md allows for
the profile on this path, and every expected failure listed there happens (see
fido2_suite.py). With a core fault the same run must fail, in the test for that behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance.fido2_suite import Allowance, SuiteRun, assert_clean, run_suite

from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.rig_http import RigHttpServer
from tokenbench.emulators.transport.umockdev_hidraw import UmockdevHidraw, attach_umockdev

pytestmark = pytest.mark.slow

PATH = "hid"
USB_PORT = 1  # --pico-port: the rig port number in the controller's paths
LOOPBACK_ANY_PORT = ("127.0.0.1", 0)


@dataclass(frozen=True)
class HidRig:
    """One emulated key on the fake USB port, and the URL of the rig that switches it."""

    key: EmulatedKey
    node: UmockdevHidraw
    controller: str


@contextmanager
def hid_rig(profile: str, faults: Sequence[str]) -> Iterator[HidRig]:
    """A fresh key as a umockdev hidraw node, with a button and a rig controller."""
    key = EmulatedKey.create(profile=profile, presence="button", faults="+".join(faults))
    with key, attach_umockdev(key) as node:
        rig = RigHttpServer(node.rig_actions(key), LOOPBACK_ANY_PORT, usb_port=USB_PORT).start()
        try:
            yield HidRig(key, node, rig.url)
        finally:
            rig.close()


def suite_arguments(profile: str, controller: str) -> list[str]:
    """The rig options, and the enterprise-attestation RP ID of the profile if it has one
    (emulators/ctap/profiles.py), so that test_ep_vendor runs instead of skipping."""
    args = ["--controller", controller, "--pico-port", str(USB_PORT)]
    rp_ids = get_profile(profile).enterprise_rp_ids
    return args + (["--ep-rp-id", rp_ids[0]] if rp_ids else [])


def umockdev_prefix(node: UmockdevHidraw) -> list[str]:
    """`env LD_PRELOAD=... UMOCKDEV_DIR=...`: the suite's process sees the testbed only."""
    return ["env", *(f"{name}={value}" for name, value in node.client_env({}).items())]


@dataclass(frozen=True)
class HidRun:
    """A run, and what the rig saw of it: proof that the suite's reconnects used the rig."""

    run: SuiteRun
    power_cycles: int  # how often the rig switched the key off (the suite's reconnects)
    last_node: str  # the node the key had at the end: /dev/hidraw<power_cycles> after replugs


def run_over_hid(
    suite: Path, profile: str, faults: Sequence[str], rows: list[Allowance], workdir: Path
) -> HidRun:
    """One run of the suite against a fresh key; the key lives exactly as long as the run."""
    expected = [row for row in rows if row.outcome == "xfail"]
    with hid_rig(profile, faults) as rig:
        args = suite_arguments(profile, rig.controller)
        run = run_suite(suite, umockdev_prefix(rig.node), args, expected, workdir)
        done = HidRun(run, rig.key.power_cycles, rig.node.devnode)
    print(f"fido2 device suite, {profile} over {PATH}, faults {list(faults)}: {run.summary()}")
    return done


@pytest.mark.parametrize("profile", ["default", "ctap20", "all-algorithms", "ctap22", "ctap22-bio"])
def test_fido2_device_suite_passes_over_hid(
    device_suite: Path, allowances: list[Allowance], tmp_path: Path, profile: str
) -> None:
    rows = [row for row in allowances if row.applies(profile, PATH)]
    done = run_over_hid(device_suite, profile, (), rows, tmp_path)
    assert_clean(done.run, rows)
    # The suite's reconnects went through the rig and the replugged node, not around them.
    assert done.power_cycles > 0, done.run.summary()
    assert done.last_node == f"/dev/hidraw{done.power_cycles}"


@pytest.mark.parametrize(
    ("fault", "test", "message"),
    [
        (
            "pin-retries-before-pin",
            "test_clientpin.py::test_set_and_reset[PinProtocolV1]",
            "DID NOT RAISE CtapError",
        ),
        (
            "force-change-policy",
            "test_config.py::test_force_pin_change[PinProtocolV1]",
            "Expected regex: 'PIN_INVALID'",
        ),
    ],
)
def test_fido2_device_suite_over_hid_catches_a_core_fault(
    device_suite: Path,
    allowances: list[Allowance],
    tmp_path: Path,
    fault: str,
    test: str,
    message: str,
) -> None:
    """A key with one fixed behaviour broken again fails the run, in the test for it."""
    rows = [row for row in allowances if row.applies("default", PATH)]
    done = run_over_hid(device_suite, "default", (fault,), rows, tmp_path)
    run = done.run
    assert run.returncode == 1, f"the suite did not fail: {run.summary()}"
    failed = {o.test: o.message for o in run.of_kind("failed")}
    assert test in failed, f"{test} did not fail; failures: {sorted(failed)}"
    assert message in failed[test], failed[test][:1000]
