"""Random command lines for `key pin|config|make-credential|get-assertion`: one line or success.

The words mix the verbs' own options and values with malformed ones (odd hex, bad lengths,
RP IDs with slashes, empty strings) and run against a fresh `emu:` key in-process, so both
the argument parsers and the paths where the key refuses are exercised.
"""

from __future__ import annotations

import io
import sys

import pytest
from cli_capture import without_secret_warnings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.bench.cli import main

# fmt: off
VOCABULARY = (
    "--rp-id", "a.example", "https://a.example/", "--user", "--user-id", "--display-name",
    "--resident", "--uv", "required", "preferred", "discouraged", "--alg", "es256", "eddsa",
    "--hmac-secret", "--cred-blob", "--large-blob", "--credential-id", "--hmac-salt",
    "--large-blob-read", "--large-blob-write", "--rp-id", "--force-pin-change", "--json",
    "--pin", "--pin-file", "--new-pin", "--new-pin-file", "-", "/nonexistent",
    "on", "off", "3", "4", "8", "64", "-1", "x", "0b0b", "00" * 32, "zz", "0", "", " ", "é",
    "\udcff",
)
# fmt: on
VERBS = st.sampled_from(
    [
        ["pin", "set"],
        ["pin", "change"],
        ["pin", "retries"],
        ["config", "always-uv"],
        ["config", "min-pin-length"],
        ["config", "force-pin-change"],
        ["config", "enterprise-attestation"],
        ["make-credential"],
        ["get-assertion"],
    ]
)
TAIL = st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)), max_size=7)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(verb=VERBS, tail=TAIL)
def test_random_verb_lines_end_in_one_line_or_success(
    verb: list[str],
    tail: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("4711-otter\n"))
    for name in ("TOKENBENCH_PIN", "TOKENBENCH_NEW_PIN"):
        monkeypatch.delenv(name, raising=False)
    try:
        status = main(["key", *verb, "--target", "emu:", *tail])
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 2
    err = without_secret_warnings(capsys.readouterr().err)
    assert "Traceback" not in err
    assert "internal error" not in err, err
    if status != 0:
        assert err.count("\n") == 1, err
