"""python-fido2 2.2.1's device suite, unmodified, against the emulated key (see fido2_suite.py).

The suite runs as it runs on a hardware test rig: `--reader` picks the emulated card's PC/SC
reader, `--controller` points at the rig controller that the emulated key serves itself
(`key emulate --rig-http`), which takes the card out of the reader's field and back, and holds
the key's button while the suite asks for a touch. A clean run has no failures and no errors,
every skip is one docs/conformance.md allows for that profile and path, and every expected
failure listed there happens. With a core fault the same suite must fail, in the test that
checks the broken behaviour.

The reader: pcscd's vpcd driver shows two slots, "Virtual PCD 00 00" and "Virtual PCD 00 01";
the suite takes every reader whose name contains --reader (case-insensitive) and wants exactly
one, so the full slot name of slot 0 (where the card is) matches only that slot.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from conformance.fido2_suite import (
    Allowance,
    SuiteRun,
    assert_clean,
    nfc_target,
    rig_token,
    run_suite,
)

from tokenbench.emulators.ctap.profiles import get_profile

pytestmark = pytest.mark.slow

READER = "Virtual PCD 00 00"
RIG_PORT = 8800  # inside the run's own network namespace
USB_PORT = "1"  # --pico-port: the rig port number in the controller's paths
PATH = "nfc"


@pytest.fixture
def nfc_rig() -> None:
    if os.geteuid() != 0:
        pytest.skip("private namespaces for pcscd need root (CI and make test run as root)")
    missing = [tool for tool in ("pcscd", "unshare", "ip") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: make test installs them")


def run_over_nfc(
    suite: Path, profile: str, faults: Sequence[str], rows: list[Allowance], workdir: Path
) -> SuiteRun:
    token_file, token = rig_token(workdir)
    args = ["--reader", READER, "--controller", f"http://127.0.0.1:{RIG_PORT}/{token}"]
    args += ["--pico-port", USB_PORT]
    # A profile's vendor-facilitated enterprise-attestation RP ID lets test_ep_vendor run.
    args += [f"--ep-rp-id={rp_id}" for rp_id in get_profile(profile).enterprise_rp_ids[:1]]
    expected = [row for row in rows if row.outcome == "xfail"]
    target = nfc_target(profile, faults, RIG_PORT, token_file)
    run = run_suite(suite, target, args, expected, workdir)
    print(f"fido2 device suite, {profile} over {PATH}, faults {list(faults)}: {run.summary()}")
    return run


@pytest.mark.parametrize("profile", ["default", "ctap20", "ctap22", "ctap22-bio", "all-algorithms"])
def test_fido2_device_suite_passes_over_nfc(
    device_suite: Path, allowances: list[Allowance], nfc_rig: None, tmp_path: Path, profile: str
) -> None:
    rows = [row for row in allowances if row.applies(profile, PATH)]
    run = run_over_nfc(device_suite, profile, (), rows, tmp_path)
    assert_clean(run, rows)


@pytest.mark.parametrize(
    ("fault", "test", "message"),
    [
        pytest.param(
            "bad-signature",
            "test_credentials.py::test_make_assert[PinProtocolV1-ES256]",
            "Invalid signature",
            id="bad-signature",
        ),
        pytest.param(
            "pin-retries-before-pin",
            "test_clientpin.py::test_set_and_reset[PinProtocolV1]",
            "DID NOT RAISE CtapError",
            id="pin-retries-before-pin",
        ),
        pytest.param(
            "force-change-policy",
            "test_config.py::test_force_pin_change[PinProtocolV1]",
            "Expected regex: 'PIN_INVALID'",
            id="force-change-policy",
        ),
    ],
)
def test_fido2_device_suite_over_nfc_catches_a_core_fault(
    device_suite: Path,
    allowances: list[Allowance],
    nfc_rig: None,
    tmp_path: Path,
    fault: str,
    test: str,
    message: str,
) -> None:
    """The same run against a key with one fixed behaviour broken again fails, in the test
    that checks that behaviour and for that reason."""
    rows = [row for row in allowances if row.applies("default", PATH)]
    run = run_over_nfc(device_suite, "default", (fault,), rows, tmp_path)
    assert run.returncode == 1, f"the suite did not fail: {run.summary()}"
    failed = {o.test: o.message for o in run.of_kind("failed")}
    assert test in failed, f"{test} did not fail; failures: {sorted(failed)}"
    assert message in failed[test], failed[test][:1000]
