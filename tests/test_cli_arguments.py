"""Malformed command lines: the `tokenbench` parser answers with one line, never a traceback.

Random words, options and values are fed to the command groups whose commands return at
once (no servers, no suites), with stores and files in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from cli_capture import without_secret_warnings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.bench.cli import main
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.totp.errors import TotpError
from tokenbench.verifier.seeds import SeedError
from tokenbench.verifier.trust import TrustError

# The warning for a secret given on the command line (tested in tests/bench/test_secret_input.py);
# these tests pass made-up secrets that way for brevity, so it is set aside here.
# fmt: off
VOCABULARY = (
    "totp", "code", "press", "pskc", "app", "codes", "add", "import", "export", "mint",
    "iam", "create-user", "enable-mfa-device", "list-mfa-devices", "sign-in",
    "create-virtual-mfa-device", "import-seeds", "resync-mfa-device",
    "--secret", "--digits", "--period", "--at", "--algorithm", "--counter",
    "--user-name", "--serial-number", "--token-code", "--authentication-code1",
    "--virtual-mfa-device-name", "--bootstrap-method", "--outfile", "--password",
    "--psk-hex", "--count", "--prefix", "--out", "--app",
    "JBSWY3DPEHPK3PXP", "SHA1", "SHA512", "MD5", "6", "8", "0", "-1", "30", "1e9", "nan",
    "alice", "GAHT00000001", "123456", "12345", "QRCodePNG", "", " ", "é", "\x00",
)
# fmt: on
WORDS = st.sampled_from(VOCABULARY)
COMMANDS = st.sampled_from(
    [
        ["totp", "code"],
        ["totp", "press"],
        ["totp", "pskc"],
        ["totp", "app", "add"],
        ["totp", "app", "codes"],
        ["iam", "create-user"],
        ["iam", "create-virtual-mfa-device"],
        ["iam", "enable-mfa-device"],
        ["iam", "sign-in"],
        ["iam", "import-seeds"],
    ]
)
TAIL = st.lists(st.one_of(WORDS, st.text(max_size=12)), min_size=0, max_size=8)
ARGV = st.one_of(TAIL, st.builds(lambda head, tail: head + tail, COMMANDS, TAIL))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=ARGV)
def test_random_command_lines_end_in_one_line_or_success(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["TOKENBENCH_HOME"] = str(tmp_path / "home")
    store = ["--store", str(tmp_path / "iam.db")] if argv[:1] == ["iam"] else []
    try:
        status = main([*argv[:1], *store, *argv[1:]] if store else argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 2
    captured = capsys.readouterr()
    captured = captured._replace(err=without_secret_warnings(captured.err))
    assert "Traceback" not in captured.err
    assert "internal error" not in captured.err, captured.err
    if status != 0:
        assert captured.err.count("\n") <= 1 or captured.err.startswith("usage:"), captured.err


@pytest.mark.parametrize(
    "error",
    [
        TotpError("the app has no account 'x'"),
        StateError("key state is corrupt"),
        TrustError("cannot read root.pem"),
        SeedError("wrong key-encryption key"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_library_errors_reach_the_person_as_one_line(error, monkeypatch, capsys):
    """The libraries raise their own errors (never the CLI's); the CLI makes each one line."""

    def fails(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr("tokenbench.bench.cli.build_parser", lambda: _ParsesTo(fails))
    assert main(["totp", "code"]) == 1
    assert capsys.readouterr().err == f"tokenbench: error: {error}\n"


class _ParsesTo:
    """A parser whose every command line runs `handler`."""

    def __init__(self, handler: object) -> None:
        self.handler = handler

    def parse_args(self, argv: object) -> argparse.Namespace:
        return argparse.Namespace(handler=self.handler)
