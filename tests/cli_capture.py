"""Running `tokenbench` in-process for tests, and the warning its secret options print.

Tests that pass made-up secrets on the command line (`--password secret`) get a warning line
on stderr (bench/secret_input.py); most tests count stderr lines, so they drop it first.
"""

from __future__ import annotations

import re

import pytest

from tokenbench.bench.cli import main

SECRET_ARGV_WARNING = re.compile(
    r"tokenbench: warning: --[a-z-]+ on the command line is visible[^\n]*\n"
)


def without_secret_warnings(err: str) -> str:
    return SECRET_ARGV_WARNING.sub("", err)


def run_main(
    capsys: pytest.CaptureFixture[str], *argv: str, keep_warnings: bool = False
) -> tuple[int, str, str]:
    """`tokenbench ARGV...`: (exit status, stdout, stderr); argparse's exits count too."""
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err if keep_warnings else without_secret_warnings(err)
