"""The pytest plugin stays inert without --target; skip accounting; report rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fido2.hid import CTAPHID

from tokenbench.bench.report_html import render_html
from tokenbench.bench.report_records import (
    SKIP_NOT_PERMITTED,
    SKIP_OTHER,
    SKIP_UNCLAIMED,
    CommandTiming,
    TestRecord,
    TimedDevice,
    classify_skip,
    command_name,
)
from tokenbench.bench.report_summary import summarize

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plugin_is_inert_without_target(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    done = _pytest("-q", str(tmp_path / "test_plain.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed" in done.stdout and "tokenbench summary" not in done.stdout


def test_suites_without_target_are_a_usage_error(tmp_path):
    done = _pytest("--pyargs", "tokenbench.bench.suites", "-q", "-k", "info", cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--target" in done.stderr


def test_skip_kinds():
    assert classify_skip("Skipped: unclaimed: extension 'credBlob'") == SKIP_UNCLAIMED
    assert classify_skip("not permitted: destructive test") == SKIP_NOT_PERMITTED
    assert classify_skip("Skipped: could not import foo") == SKIP_OTHER


def _record(outcome: str, skip_kind: str = "", target: str = "emu:") -> TestRecord:
    return TestRecord("n::t", target, "ctap2", "t", outcome=outcome, skip_kind=skip_kind)


def test_summary_never_counts_a_skip_as_a_pass():
    summary = summarize([_record("passed"), _record("skipped", SKIP_UNCLAIMED)])
    counts = summary.targets["emu:"]
    assert (counts.passed, counts.unclaimed) == (1, 1)
    assert summary.exit_status == 0
    only_skips = summarize([_record("skipped", SKIP_UNCLAIMED)])
    assert only_skips.exit_status == 1, "a run where nothing passed must not succeed"
    odd_skip = summarize([_record("passed"), _record("skipped", SKIP_OTHER)])
    assert odd_skip.exit_status == 1 and odd_skip.failures
    failed = summarize([_record("passed"), _record("failed", target="totp:emu")])
    assert failed.exit_status == 1
    assert summarize([]).exit_status == 1


def test_command_names():
    assert command_name(CTAPHID.CBOR, b"\x02\xa1") == "getAssertion"
    assert command_name(CTAPHID.MSG, b"\x00\x01\x00\x00") == "U2F_REGISTER"
    assert command_name(CTAPHID.PING, b"") == "CTAPHID_PING"
    assert command_name(0x55, b"") == "ctaphid-0x55"


class _FakeDevice:
    """A stand-in CtapDevice that echoes, to check timing without a key."""

    capabilities = 0x04

    def call(self, cmd, data=b"", event=None, on_keepalive=None):
        on_keepalive(2)  # UPNEEDED once
        return b"\x00"


def test_timed_device_records_each_call_and_asks_for_presence():
    timings: list[CommandTiming] = []
    asked = []
    device = TimedDevice(lambda: _FakeDevice(), timings.append, lambda: asked.append(1))
    assert device.call(CTAPHID.CBOR, b"\x01") == b"\x00"
    assert [t.command for t in timings] == ["makeCredential"] and timings[0].ok
    assert asked == [1] and device.capabilities == 0x04


def test_html_escapes_and_is_self_contained():
    document = {
        "ok": False,
        "seconds": 1.0,
        "skip_rule": "rule",
        "targets": [
            {
                "uri": "emu:<script>",
                "ok": False,
                "problem": None,
                "counts": {"passed": 1, "failed": 1},
                "latency_ms": [
                    {"command": "getInfo", "count": 2, "median": 0.2, "p95": 0.3, "max": 0.4}
                ],
                "tests": [
                    {
                        "suite": "ctap2",
                        "name": "t",
                        "outcome": "failed",
                        "skip_kind": "",
                        "duration": 0.01,
                        "message": "<b>boom</b>",
                        "commands": [],
                    }
                ],
            }
        ],
    }
    page = render_html(document)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;boom" in page
    assert page.count("<svg") == 2 and "<link" not in page and "src=" not in page
