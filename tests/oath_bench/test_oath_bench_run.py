"""The issue's acceptance run: `tokenbench bench run --target pcsc:READER,control=… --suite oath
--allow-destructive` passes against the emulated card (`key emulate --vpcd --presence touch`
in a private pcscd, scripts/pcsc/with-emulated-card.sh). Failing under each `oath-*` fault is
the fault matrix's job (tests/suites_faults)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
CARD_SCRIPT = PROJECT / "scripts" / "pcsc" / "with-emulated-card.sh"
TARGET = "pcsc:Virtual PCD 00 00,control=127.0.0.1:36963"  # that script's card and control


def test_bench_run_oath_suite_passes_on_the_emulated_card(tmp_path) -> None:
    if os.geteuid() != 0:
        pytest.skip("private namespaces for pcscd need root (CI and make test run as root)")
    command = [str(CARD_SCRIPT), "--presence", "touch", "--", str(PROJECT / ".venv/bin/tokenbench")]
    command += ["bench", "run", "--target", TARGET, "--suite", "oath", "--allow-destructive"]
    command += ["--report", str(tmp_path / "report")]
    run = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "result: PASS" in run.stderr + run.stdout
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    (target,) = results["targets"]
    outcomes = {t["name"]: t["outcome"] for t in target["tests"]}
    assert len(outcomes) == 29 and set(outcomes.values()) == {"passed"}, outcomes
