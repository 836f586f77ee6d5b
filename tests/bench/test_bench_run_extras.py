"""`make run` sets up real keys too; `pytest` without the dev extra says what to run.

The venv is not reinstalled for this: `make -n` shows what `make run` would do, and a
Python whose import system refuses the dev extra's modules (a `sys.meta_path` finder)
stands in for a venv that `make run` alone built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from cli_capture import run_main

ROOT = Path(__file__).resolve().parents[2]
PYSCARD_BUILD = {"swig", "libpcsclite-dev", "gcc", "python3-dev"}  # pyscard builds from source

WITHOUT_DEV_EXTRA = """
import sys

class WithoutDevExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("hypothesis", "webauthn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, WithoutDevExtra())
import pytest
sys.exit(pytest.main(["-q"]))
"""


def test_make_run_installs_the_hardware_extra_and_what_pyscard_builds_with():
    dry = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", ".venv/.run-ready"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = dry.stdout.splitlines()
    apt = next(line.split()[1:] for line in lines if line.startswith("scripts/ensure-apt.sh"))
    assert set(apt) >= PYSCARD_BUILD and "pcscd" in apt
    # the service extra too: `make run`'s bench includes `tokenbench serve`'s dependencies
    assert any("pip install" in line and ".[qr,hardware,service]" in line for line in lines)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hardware = " ".join(extras["optional-dependencies"]["hardware"])
    assert "pyscard" in hardware and "pyusb" in hardware


def test_list_targets_has_pcsc_support_with_the_run_extras(capsys):
    status, out, _ = run_main(capsys, "bench", "list-targets")
    assert status == 0
    assert "No module named" not in out  # pyscard is there; pcscd may still be down


def test_pytest_without_the_dev_extra_is_one_line_naming_make_test():
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # hypothesis's plugin is "gone"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV_EXTRA],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4, done.stdout[-1000:] + done.stderr[-1000:]
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and "make test" in errors[0]
    assert "hypothesis, webauthn not installed" in errors[0]
    assert "Traceback" not in done.stdout + done.stderr
