"""pytest plugin for the conformance suites (registered through the `pytest11` entry point)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tokenbench")
    group.addoption("--target", action="append", default=[], help="target URI (repeatable)")
