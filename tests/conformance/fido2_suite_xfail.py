"""pytest plugin loaded into python-fido2's device suite run (`-p fido2_suite_xfail`).

It marks the tests that docs/conformance.md lists as expected failures (where the suite itself
is wrong), and nothing else. The harness writes those rows to a JSON file named by
$TOKENBENCH_SUITE_XFAIL: [{"tests": glob over node ids below tests/device/, "message": text}].

An expected failure counts as one (xfailed) only if the test fails in its call phase with an
exception whose type and text contain `message`; a test that passes, or fails differently,
stays a failure (strict), so a row can never hide another problem. The suite's files are not
touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from fido2_suite import glob_match  # beside this file, on the child's PYTHONPATH

ENV = "TOKENBENCH_SUITE_XFAIL"
SUITE_PREFIX = "tests/device/"


def _expectations() -> list[dict[str, str]]:
    path = os.environ.get(ENV)
    if not path:
        return []
    rows: list[dict[str, str]] = json.loads(Path(path).read_text())
    return rows


EXPECTED = _expectations()


def _expected_message(item: pytest.Item) -> str | None:
    test_id = item.nodeid.split(SUITE_PREFIX, 1)[-1]
    for row in EXPECTED:
        if glob_match(row["tests"], test_id):
            return row["message"]
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[Any]:
    outcome = yield
    report = outcome.get_result()
    message = _expected_message(item)
    if message is None or call.when != "call":
        return
    if call.excinfo is None:
        report.outcome = "failed"
        report.longrepr = f"expected to fail with {message!r} (docs/conformance.md), but passed"
    elif message in f"{call.excinfo.typename}: {call.excinfo.value}":
        report.outcome = "skipped"
        report.wasxfail = f"expected failure ({message}): see docs/conformance.md"
