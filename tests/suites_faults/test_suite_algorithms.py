"""The suite's algorithm tests pass on a healthy key that lists every algorithm.

The fault matrix proves that `test_algorithms_claimed_in_get_info_work` fails for each
algorithm on a broken `all-algorithms` key; this is the other half: on the same profile
without a fault, all ten pass (on the default profile eight of them are skipped as unclaimed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALGORITHMS = "ES256 EdDSA ES384 ES512 ES256K RS256 PS256 ML-DSA-44 ML-DSA-65 ML-DSA-87".split()  # noqa: SIM905


def test_every_algorithm_test_passes_on_a_key_that_lists_them(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "--pyargs", "tokenbench.bench.suites"]
    command += ["-k", "algorithms_claimed_in_get_info_work", "--target"]
    command += ["emu:profile=all-algorithms", "--bench-json", str(results)]
    command += ["-q", "-p", "no:cacheprovider"]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    outcomes = {t["nodeid"].partition("[")[2]: t["outcome"] for t in _tests(results)}
    assert outcomes == {f"emu:profile=all-algorithms-{name}]": "passed" for name in ALGORITHMS}


def _tests(results: Path) -> list[dict[str, str]]:
    tests: list[dict[str, str]] = json.loads(results.read_text())["tests"]
    return tests
