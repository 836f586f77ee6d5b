"""python-fido2's own device suite, run unmodified against an emulated key (helpers, not tests).

python-fido2 ships a destructive suite for real authenticators in its sdist (`tests/device/`),
driven by a "rig controller" over HTTP when `--controller URL` is given. This module fetches
that sdist with pip, checks it against a pinned SHA-256, unpacks a fresh copy for every session,
runs it in a subprocess, and reads its outcomes from the JUnit XML it writes.

What a run may skip, and which tests are expected to fail because the suite itself is wrong,
is not decided here: `docs/conformance.md` holds the table (section `ALLOWANCES_SECTION`), with
the reason for every row, and `read_allowances` reads it.

A run's target decides how the suite reaches the key; the NFC path is
`scripts/pcsc/with-emulated-card.sh` (private namespaces with pcscd, the vpcd reader and
`tokenbench key emulate --vpcd --rig-http`), inside which the suite runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SUITE_VERSION = "2.2.1"
SDIST_NAME = f"fido2-{SUITE_VERSION}.tar.gz"
SDIST_SHA256 = "85787428a94c3f8eaf72f0ff30afba983b559a1b1b795c93318c81b4ad4062c4"
CACHE_DIR = PROJECT / "build" / "fido2-device-suite"
DOC = PROJECT / "docs" / "conformance.md"
ALLOWANCES_SECTION = "python-fido2 device suite: skips and expected failures"
SUITE_DIR = "tests/device"  # node ids in the allowances are relative to this folder
XFAIL_PLUGIN = "fido2_suite_xfail"  # tests/conformance/fido2_suite_xfail.py, loaded with -p
XFAIL_ENV = "TOKENBENCH_SUITE_XFAIL"  # the JSON file the plugin reads its expectations from
PIP_TIMEOUT = 300
RUN_TIMEOUT = 300  # a run takes ~10 s; a key that never leaves the reader hangs the suite
OUTPUT_TAIL = 4000  # characters of the run's output kept for assertion messages
ANY = "*"
TABLE_COLUMNS = 6  # test id | profile | path | outcome | suite's message | why


# -- the suite's sources ----------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist(cache: Path = CACHE_DIR) -> Path:
    """The verified sdist in `cache`, downloaded with pip unless a verified copy is there."""
    target = cache / SDIST_NAME
    if target.exists() and sha256_of(target) == SDIST_SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as download:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        command += ["--disable-pip-version-check", f"fido2=={SUITE_VERSION}", "-d", download]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        fetched = Path(download) / SDIST_NAME
        if done.returncode != 0 or not fetched.exists():
            raise RuntimeError(f"pip could not download {SDIST_NAME}:\n{done.stderr[-2000:]}")
        digest = sha256_of(fetched)
        if digest != SDIST_SHA256:
            raise RuntimeError(f"{SDIST_NAME} has SHA-256 {digest}, expected {SDIST_SHA256}")
        os.replace(fetched, target)  # atomic: concurrent runs never see half a file
    return target


def unpack_sdist(sdist: Path, into: Path) -> Path:
    """A fresh, unmodified copy of the sdist under `into`; returns its top folder."""
    if sha256_of(sdist) != SDIST_SHA256:
        raise RuntimeError(f"{sdist} changed since it was verified")
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    top = into / f"fido2-{SUITE_VERSION}"
    if not (top / SUITE_DIR / "conftest.py").exists():
        raise RuntimeError(f"{sdist} holds no {SUITE_DIR}/conftest.py")
    return top


# -- what a run may skip or fail (docs/conformance.md) ----------------------------------------


@dataclass(frozen=True)
class Allowance:
    """One row of the table: tests (glob) that may skip, or must fail, with this message."""

    tests: str
    profiles: frozenset[str]
    paths: frozenset[str]
    outcome: str  # "skip" or "xfail"
    message: str  # glob over a skip's message; text in an expected failure's message
    reason: str

    def applies(self, profile: str, path: str) -> bool:
        return bool({ANY, profile} & self.profiles) and bool({ANY, path} & self.paths)

    def covers(self, test_id: str) -> bool:
        return glob_match(self.tests, test_id)

    def allows_skip(self, test_id: str, message: str) -> bool:
        return self.outcome == "skip" and self.covers(test_id) and glob_match(self.message, message)


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters; everything else, brackets too, only itself."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]


def _words(cell: str) -> frozenset[str]:
    return frozenset(word.strip() for word in cell.split(",") if word.strip())


def read_allowances(doc: Path = DOC) -> list[Allowance]:
    """The rows of the first table under the `ALLOWANCES_SECTION` heading."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    headings = [i for i, line in enumerate(lines) if line.lstrip("# ") == ALLOWANCES_SECTION]
    if not headings:
        raise ValueError(f"{doc} has no section {ALLOWANCES_SECTION!r}")
    heading = headings[0]
    table = []
    for line in lines[heading + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    rows = []
    for line in table[2:]:  # after the header and its |---| line
        cells = _cells(line)
        if len(cells) != TABLE_COLUMNS or not cells[-1]:
            raise ValueError(f"{doc}: a row needs {TABLE_COLUMNS} cells, a reason last: {line}")
        tests, profiles, paths, outcome, message, reason = cells
        if outcome not in ("skip", "xfail"):
            raise ValueError(f"{doc}: outcome {outcome!r} is neither skip nor xfail: {line}")
        rows.append(Allowance(tests, _words(profiles), _words(paths), outcome, message, reason))
    return rows


# -- a run and its outcomes -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    test: str  # node id relative to tests/device/, e.g. test_client.py::test_x[param]
    kind: str  # passed, failed, error, skipped, xfailed
    message: str = ""


@dataclass
class SuiteRun:
    returncode: int
    seconds: float
    outcomes: list[Outcome]
    output: str
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for outcome in self.outcomes:
            self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1

    def of_kind(self, *kinds: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind in kinds]

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
        return f"{counts} in {self.seconds:.1f} s (exit {self.returncode})"


def _test_id(case: ET.Element) -> str:
    module = case.get("classname", "").rsplit(".", 1)[-1]
    return f"{module}.py::{case.get('name', '')}"


def _outcomes_of(case: ET.Element) -> list[Outcome]:
    test = _test_id(case)
    found = []
    for child in case:
        message = child.get("message", "") + "\n" + (child.text or "")
        if child.tag in ("failure", "error"):
            found.append(Outcome(test, "failed" if child.tag == "failure" else "error", message))
        elif child.tag == "skipped":
            kind = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
            found.append(Outcome(test, kind, child.get("message", "")))
    return found or [Outcome(test, "passed")]


def read_junit(report: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        outcomes.extend(_outcomes_of(case))
    return outcomes


def run_suite(
    suite: Path,
    prefix: Sequence[str],
    suite_args: Sequence[str],
    expected_failures: Sequence[Allowance],
    workdir: Path,
    env: Mapping[str, str] | None = None,
) -> SuiteRun:
    """Run `prefix... python -m pytest <suite>/tests/device suite_args...` and read its outcomes.

    `prefix` is the command the suite runs under (`nfc_target`; empty for none), `env` the
    environment it starts from (default: ours; e.g. a HID path's LD_PRELOAD). The rows of
    `expected_failures` go to the xfail plugin; pytest's cache and our own pytest plugin stay
    out of the run, so the suite sees a plain pytest.
    """
    report = workdir / "junit.xml"
    expectations = workdir / "xfail.json"
    expectations.write_text(
        json.dumps([{"tests": a.tests, "message": a.message} for a in expected_failures])
    )
    child_env = {k: v for k, v in (env or os.environ).items() if k != "PCSCLITE_CSOCK_NAME"}
    child_env["PYTHONPATH"] = str(Path(__file__).parent)
    child_env[XFAIL_ENV] = str(expectations)
    command = [*prefix, sys.executable, "-m", "pytest", str(suite / SUITE_DIR), *suite_args]
    command += ["-p", "no:cacheprovider", "-p", "no:tokenbench", "-p", XFAIL_PLUGIN]
    command += ["-q", "-rfE", f"--junitxml={report}"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=workdir, env=child_env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        returncode, output = -1, f"{_text(expired.stdout)}{_text(expired.stderr)}\n{expired}"
    seconds = time.monotonic() - started
    outcomes = read_junit(report) if report.exists() else []
    return SuiteRun(returncode, seconds, outcomes, output)


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def rig_token(workdir: Path) -> tuple[Path, str]:
    """A fresh rig token in a 0600 file of `workdir`: the file goes to `key emulate
    --rig-token-file`, the token into the `--controller` URL (the rig answers no other)."""
    token = secrets.token_urlsafe(24)
    path = workdir / "rig.token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token)
    return path, token


def nfc_target(profile: str, faults: Sequence[str], rig_port: int, token_file: Path) -> list[str]:
    """The command prefix that gives the suite a private pcscd with the emulated card in
    `Virtual PCD 00 00` and the card's rig controller on 127.0.0.1:`rig_port` (both inside
    the private network namespace, so fixed ports never collide), its token in `token_file`."""
    script = PROJECT / "scripts" / "pcsc" / "with-emulated-card.sh"
    emulate = ["--profile", profile, "--rig-http", f"127.0.0.1:{rig_port}"]
    emulate += ["--rig-token-file", str(token_file)]
    for fault in faults:
        emulate += ["--fault", fault]
    return [str(script), *emulate, "--"]


def _listed(lines: list[str]) -> str:
    return "\n  ".join(lines)


def assert_clean(run: SuiteRun, rows: Sequence[Allowance]) -> None:
    """A clean run: tests ran and some passed, nothing failed or errored, every skip is one
    `rows` allow, and every expected failure in `rows` happened."""
    tail = run.output[-OUTPUT_TAIL:]
    assert run.outcomes, f"the suite ran no tests: {run.summary()}\n{tail}"
    broken = [f"{o.test} ({o.kind}): {o.message.strip()[:300]}" for o in run.of_kind("failed")]
    broken += [f"{o.test} (error): {o.message.strip()[:300]}" for o in run.of_kind("error")]
    assert not broken, f"{run.summary()}\n  {_listed(broken)}"
    unexplained = [
        f"{o.test}: {o.message}"
        for o in run.of_kind("skipped")
        if not any(row.allows_skip(o.test, o.message) for row in rows)
    ]
    assert not unexplained, (
        f"skips that docs/conformance.md does not allow:\n  {_listed(unexplained)}"
    )
    xfailed = run.of_kind("xfailed")
    missing = [
        row.tests
        for row in rows
        if row.outcome == "xfail" and not any(row.covers(o.test) for o in xfailed)
    ]
    assert not missing, f"expected failures that did not happen: {missing}"
    assert run.counts.get("passed", 0) > 0, run.summary()
    assert run.returncode == 0, f"{run.summary()}\n{tail}"
