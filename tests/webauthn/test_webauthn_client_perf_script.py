"""The ceremony benchmark runs end to end (its numbers are printed, never asserted)."""

from __future__ import annotations

import shutil

from tokenbench.bench.perf import webauthn_client_perf


def test_the_benchmark_prints_every_row(capsys) -> None:
    assert webauthn_client_perf.main(["--ceremonies", "2"]) == 0
    out = capsys.readouterr().out
    for algorithm in webauthn_client_perf.ALGORITHMS:
        for ceremony in ("create", "get", "create (plain Fido2Client)", "get (plain Fido2Client)"):
            assert f"{algorithm:<6} {ceremony} " in out
    if not any(shutil.which(name) for name in webauthn_client_perf.CHROMIUM_NAMES):
        assert "skipped (no chromium installed" in out
