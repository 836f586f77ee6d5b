"""The suite's CTAP 2.2 tests pass on a healthy ctap22 key and skip, unclaimed, on a 2.1 one.

The fault matrix proves each test in test_ctap2_ctap22.py fails on a broken `ctap22` key; this
is the other half: without a fault all of them pass (none skipped), and on the `default`
profile, which answers as a CTAP 2.1 key, every one is skipped as unclaimed, never failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = (
    "test_hmac_secret_mc_outputs_equal_get_assertion_outputs",
    "test_third_party_payment_is_reported_per_credential",
    "test_credential_management_lists_the_payment_flag",
    "test_persistent_token_reads_never_writes_and_outlives_a_power_cycle",
)


@pytest.mark.parametrize(("target", "outcome"), [("ctap22", "passed"), ("default", "skipped")])
def test_ctap22_suite_on_a_healthy_key(tmp_path: Path, target: str, outcome: str) -> None:
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", str(ROOT / "bench/suites/test_ctap2_ctap22.py")]
    command += ["--target", f"emu:profile={target}", "--allow-destructive"]
    command += ["--bench-json", str(results), "-q", "-p", "no:cacheprovider"]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    tests = json.loads(results.read_text())["tests"]
    outcomes = {t["nodeid"].partition("::")[2].partition("[")[0]: t["outcome"] for t in tests}
    assert outcomes == dict.fromkeys(TESTS, outcome)
