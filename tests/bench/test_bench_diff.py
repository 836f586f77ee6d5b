"""`tokenbench bench diff OLD NEW`: outcome changes, latency moves, identity, exit status.

The runs are real `bench run`s of the same tests against `emu:`, `emu:` again, a CTAP 2.0
key (`emu:profile=ctap20`) and a key whose signatures do not verify (`fault=bad-signature`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_capture import run_main
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.bench.errors import UserError
from tokenbench.bench.report_diff import DEFAULT_THRESHOLD, check_results, diff_runs

ROOT = Path(__file__).resolve().parents[2]
TOKENBENCH = Path(sys.executable).parent / "tokenbench"
KEYWORD = "get_assertion or large_blob"
RUNS = {
    "base": "emu:",
    "again": "emu:",
    "ctap20": "emu:profile=ctap20",
    "fault": "emu:fault=bad-signature",
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four runs, side by side (each is its own `bench run` and report directory)."""
    root = tmp_path_factory.mktemp("runs")
    run = (str(TOKENBENCH), "bench", "run", "-k", KEYWORD)
    started = {
        name: subprocess.Popen(
            [*run, "--target", uri, "--report", root / name],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, uri in RUNS.items()
    }
    for name, process in started.items():
        assert process.wait(timeout=180) == (1 if name == "fault" else 0), name
    return {name: root / name for name in RUNS}


def _diff(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    return run_main(capsys, "bench", "diff", *(str(a) for a in args))


def test_a_run_against_itself_has_no_differences(capsys, reports):
    status, out, err = _diff(capsys, reports["base"], reports["base"] / "results.json")
    assert status == 0 and err == ""
    assert out.splitlines() == [
        "targets: emu: -> emu:",
        "result: 0 outcome change(s), 0 new failure(s), 0 median latency move(s) over 20%",
    ]


def test_an_identical_rerun_exits_0(capsys, reports):
    status, out, _ = _diff(capsys, reports["base"], reports["again"], "--json")
    assert status == 0
    result = json.loads(out)
    assert result["outcomes"] == [] and result["identity"] == [] and result["new_failures"] == 0


def test_a_ctap20_key_shows_unclaimed_features_and_its_identity(capsys, reports):
    status, out, _ = _diff(capsys, reports["base"], reports["ctap20"])
    assert status == 0, "features a key does not claim are skipped, not failed"
    where = "[emu: vs emu:profile=ctap20]"
    assert f"device {where}: versions: U2F_V2, FIDO_2_0, FIDO_2_1 -> U2F_V2, FIDO_2_0" in out
    assert f"device {where}: firmwareVersion: 1 -> 0" in out
    assert f"device {where}: getInfo (CBOR, hex): differs" in out
    assert (
        f"changed {where} test_ctap2_extensions.py::test_large_blob_key: "
        "passed -> skipped (unclaimed)" in out
    )
    assert "NEW FAILURE" not in out and " 0 new failure(s)" in out


def test_a_new_failure_exits_1_and_is_named(capsys, reports):
    status, out, _ = _diff(capsys, reports["base"], reports["fault"])
    assert status == 1
    failures = [line for line in out.splitlines() if line.startswith("NEW FAILURE")]
    assert len(failures) == 1
    assert "test_ctap2_credentials.py::test_get_assertion_signature_and_counter" in failures[0]
    assert "passed -> failed" in failures[0] and "signature" in failures[0]
    status, out, _ = _diff(capsys, reports["fault"], reports["base"])
    assert status == 0, "a failure that went away is not a new one"
    assert "failed -> passed" in out


def _document(uri: str, tests: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"targets": [{"uri": uri, "tests": tests, **extra}]}


def _test(name: str, outcome: str, skip_kind: str = "") -> dict[str, Any]:
    nodeid = f"test_m.py::{name}[emu:]"
    return {"nodeid": nodeid, "name": name, "outcome": outcome, "skip_kind": skip_kind}


def _latency(median: float) -> list[dict[str, Any]]:
    return [{"command": "getAssertion", "count": 3, "median": median, "p95": 1, "max": 1}]


def test_latency_moves_beyond_the_threshold_are_listed():
    old = _document("emu:", [], latency_ms=_latency(10.0))
    small = _document("emu:", [], latency_ms=_latency(11.5))
    large = _document("emu:", [], latency_ms=_latency(7.0))
    assert DEFAULT_THRESHOLD == 20.0
    assert diff_runs(old, small).latency == []
    moved = diff_runs(old, large).latency
    assert [(m.command, round(m.percent)) for m in moved] == [("getAssertion", -30)]
    assert diff_runs(old, small, threshold=10).latency[0].percent == pytest.approx(15.0)
    assert diff_runs(old, large).exit_status == 0, "latency alone is information"


def test_what_counts_as_a_new_failure():
    old = _document("emu:", [_test("a", "passed"), _test("b", "skipped", "unclaimed")])
    odd_skip = _document("emu:", [_test("a", "passed"), _test("b", "skipped", "other")])
    assert diff_runs(old, odd_skip).exit_status == 1
    new_test = _document("emu:", [*old["targets"][0]["tests"], _test("c", "error")])
    change = diff_runs(old, new_test).outcomes
    assert [(c.test, c.old, c.new, c.new_failure) for c in change] == [
        ("test_m.py::c", "absent", "error", True)
    ]
    gone = _document("emu:", [], problem="no FIDO HID key attached")
    assert diff_runs(old, gone).new_failures[0].new == "did not run"


def test_unpaired_targets_are_named():
    old = {"targets": [{"uri": "emu:", "tests": []}, {"uri": "totp:emu", "tests": []}]}
    result = diff_runs(old, _document("emu:", []))
    assert result.unpaired == ["totp:emu (only in OLD)"] and result.pairs == [("emu:", "emu:")]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read"),
        ("not json", "is not JSON"),
        ('{"targets": 3}', "not a tokenbench results.json"),
        ('{"targets": [{"uri": "emu:"}]}', "not a tokenbench results.json"),
    ],
)
def test_unreadable_runs_are_one_line_and_exit_2(capsys, reports, tmp_path, content, needle):
    bad = tmp_path / "results.json"
    if content is not None:
        bad.write_text(content)
    status, out, err = _diff(capsys, reports["base"], bad)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and needle in err


def test_a_negative_threshold_is_refused(capsys, reports):
    status, _, err = _diff(capsys, reports["base"], reports["base"], "--threshold", "-5")
    assert status == 2 and "threshold" in err


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
TEST = st.fixed_dictionaries(
    {},
    optional={
        "nodeid": JSON,
        "name": JSON,
        "outcome": st.sampled_from(["passed", "failed", "error", "skipped"]) | JSON,
        "skip_kind": JSON,
        "message": JSON,
    },
)
TARGET = st.fixed_dictionaries(
    {"uri": st.sampled_from(["emu:", "totp:emu", "x"]), "tests": st.lists(TEST, max_size=3)},
    optional={"problem": JSON, "device": JSON, "latency_ms": JSON},
)
DOCUMENT = st.fixed_dictionaries({"targets": st.lists(TARGET, max_size=3)}) | JSON


@given(DOCUMENT, DOCUMENT)
def test_any_document_is_diffed_or_refused_in_one_line(old, new):
    try:
        result = diff_runs(check_results(old, "OLD"), check_results(new, "NEW"))
    except UserError:
        return
    assert result.exit_status in (0, 1)
    assert result.lines()[-1].startswith("result: ")
    json.dumps(result.to_dict())
