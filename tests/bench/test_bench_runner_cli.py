"""`tokenbench bench ...`: argument errors, list commands, a real run and its three reports."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tokenbench.bench.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOKENBENCH = Path(sys.executable).parent / "tokenbench"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bench", "run"], "no target given"),
        (["bench", "run", "--target", "nonsense"], "bad target"),
        (["bench", "run", "--target", "emu:colour=blue"], "bad target"),
        (["bench", "run", "--target", "emu:fault=melted"], "unknown fault"),
        (["bench", "run", "--target", "udp:localhost"], "udp:HOST:PORT"),
        (["bench", "run", "--target", "totp:emu,count=many"], "numbers"),
        (["bench", "run", "--target", "totp:emu,fault=lost"], "unknown TOTP fault"),
        (["bench", "run", "--target", "emu:", "--suite", "nope"], "unknown suite"),
        (["bench", "run", "--target", "totp:emu", "--suite", "ctap2"], "no selected suite"),
        (["bench", "run", "--target", "emu:", "-j", "0"], "-j must be"),
        (["bench", "run", "--target", "totp:manual,serial=X"], "needs serial=S and pskc"),
    ],
)
def test_argument_errors_are_one_line(capsys, argv, needle):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert needle in err and "Traceback" not in err


def test_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "run", "--frobnicate"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_list_suites(capsys):
    assert main(["bench", "list-suites"]) == 0
    out = capsys.readouterr().out
    for suite in ("ctaphid", "ctap2", "u2f", "nfc", "totp", "verifier"):
        assert f"\n{suite} " in f"\n{out}", f"{suite} missing from list-suites"


def test_list_targets_says_what_is_attached(capsys):
    assert main(["bench", "list-targets"]) == 0
    out = capsys.readouterr().out
    assert "hid:" in out and "pcsc:" in out
    # This machine has neither keys nor a running pcscd: the listing must say so.
    assert "no FIDO HID keys" in out or "hid:/" in out
    assert "PC/SC unavailable" in out or "no PC/SC readers" in out or "pcsc:" in out


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOKENBENCH), "bench", "run", "--report", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_run_writes_the_three_reports(tmp_path):
    done = _run(
        tmp_path,
        "--target",
        "emu:",
        "--target",
        "totp:emu",
        "-k",
        "get_assertion or u2f_credential or codes_match or ping_echoes",
        "-j",
        "2",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    html = tmp_path / "report.html"
    assert done.stdout.strip().splitlines()[-1] == str(html.resolve())
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"] is True
    by_uri = {t["uri"]: t for t in results["targets"]}
    assert set(by_uri) == {"emu:", "totp:emu"}
    emu = by_uri["emu:"]
    assert emu["counts"]["passed"] >= 5 and emu["counts"]["failed"] == 0
    timed = [t for t in emu["tests"] if t["commands"]]
    assert timed, "no CTAP command latencies recorded"
    commands = {c["command"] for t in timed for c in t["commands"]}
    assert {"makeCredential", "getAssertion"} <= commands
    assert all(c["seconds"] > 0 for t in timed for c in t["commands"])
    assert {r["command"] for r in emu["latency_ms"]} >= {"getAssertion"}
    totp = by_uri["totp:emu"]
    assert totp["counts"]["passed"] == 1 and not totp["latency_ms"]
    for target in results["targets"]:
        junit = ET.parse(tmp_path / target["junit"]).getroot()
        suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
        assert int(suite.get("tests")) == len(target["tests"])
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert "src=" not in page and "http://" not in page.replace('"http://www.w3.org', "")
    assert "getAssertion" in page and "totp:emu" in page


def test_failing_run_exits_1_and_reports_failures(tmp_path):
    done = _run(tmp_path, "--target", "emu:fault=bad-signature", "-k", "get_assertion_signature")
    assert done.returncode == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"] is False
    assert results["targets"][0]["counts"]["failed"] == 1
    assert "FAIL" in done.stderr and "signature" in done.stderr


def test_destructive_tests_skip_without_permission_and_never_count_as_passed(tmp_path):
    done = _run(tmp_path, "--target", "emu:", "-k", "change_pin or get_info_is_canonical")
    results = json.loads((tmp_path / "results.json").read_text())
    counts = results["targets"][0]["counts"]
    assert counts["passed"] == 1, counts
    assert counts["not_permitted"] == 2, counts
    skipped = [t for t in results["targets"][0]["tests"] if t["outcome"] == "skipped"]
    assert all(t["skip_kind"] == "not-permitted" for t in skipped)
    assert done.returncode == 0, "a not-permitted skip must not fail the run"


def test_unreachable_target_fails_the_run(tmp_path):
    done = _run(tmp_path, "--target", "udp:127.0.0.1:9", "--suite", "ctap2", "-k", "info")
    assert done.returncode == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"] is False


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_against_the_udp_emulator(tmp_path):
    import signal
    import time

    port, reply = _free_udp_port(), _free_udp_port()
    server = subprocess.Popen(
        [
            str(TOKENBENCH),
            *("key", "emulate", "--udp", f"127.0.0.1:{port}"),
            *("--reply-to", f"127.0.0.1:{reply}"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)  # the emulator binds its sockets
        target = f"udp:127.0.0.1:{port},reply={reply}"
        done = _run(tmp_path, "--target", target, "-k", "get_info or u2f_version or lock_keeps")
        assert done.returncode == 0, done.stderr[-2000:]
        counts = json.loads((tmp_path / "results.json").read_text())["targets"][0]["counts"]
        assert counts["passed"] >= 4 and counts["failed"] == 0, counts
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def test_missing_real_key_is_one_problem_line(tmp_path):
    done = _run(tmp_path, "--target", "hid:/dev/hidraw-none", "--suite", "ctap2")
    assert done.returncode == 1
    assert "did not run" in done.stderr and "hidraw-none" in done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["targets"][0]["problem"] and results["targets"][0]["tests"] == []
