"""Fixtures for the TOTP emulator tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_capture import run_main


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own $TOKENBENCH_HOME, so nothing touches ~/.tokenbench."""
    home = tmp_path / "home"
    monkeypatch.setenv("TOKENBENCH_HOME", str(home))
    return home


CliResult = tuple[int, str, str]
# The warning for a secret given on the command line (tested in tests/bench/test_secret_input.py);
# these tests pass made-up secrets that way for brevity, so it is set aside here.


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `tokenbench ARGS...` in-process: (exit status, stdout, stderr)."""

    def run(*argv: str) -> CliResult:
        return run_main(capsys, *argv)

    return run


@pytest.fixture
def tokenbench_exe() -> Path:
    """The installed `tokenbench` console script of the running virtualenv."""
    exe = Path(sys.executable).parent / "tokenbench"
    assert exe.exists(), f"{exe} is not installed (pip install -e .)"
    return exe
