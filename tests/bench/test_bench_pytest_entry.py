"""Which command lines bring the bench plugin in (the pytest11 entry point's one decision).

The whole behaviour, in an installed wheel and an unrelated project, is tested in
tests/packaging/test_wheel_install.py; this pins the rule itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenbench.bench.pytest_entry import SUITES_DIR, names_suites

ELSEWHERE = Path("/")


@pytest.mark.parametrize(
    ("args", "pyargs"),
    [
        (["tokenbench.bench.suites"], True),
        (["tokenbench.bench.suites.test_ctap2_info", "emu:"], True),
        (["tokenbench.bench.suites.test_ctap2_info::test_get_info"], True),
        ([str(SUITES_DIR)], False),
        ([f"{SUITES_DIR}/test_ctap2_info.py::test_get_info[emu:]"], False),
        (["tests", str(SUITES_DIR / "test_u2f_ctap1.py")], False),
    ],
)
def test_the_suites_named_bring_the_plugin(args, pyargs):
    assert names_suites(args, pyargs=pyargs, invocation_dir=ELSEWHERE)


@pytest.mark.parametrize(
    ("args", "pyargs"),
    [
        ([], False),
        (["tests"], False),
        (["tokenbench.bench.suites"], False),  # a module name without --pyargs is a path
        (["tokenbench.bench.suitesque"], True),
        (["tokenbench.bench"], True),
        (["emu:", "staging"], False),
        ([str(SUITES_DIR.parent)], False),
        (["a\x00b", "x" * 5000], False),
    ],
)
def test_other_command_lines_do_not(args, pyargs):
    assert not names_suites(args, pyargs=pyargs, invocation_dir=ELSEWHERE)


def test_a_relative_path_counts_from_where_pytest_was_started():
    assert names_suites(
        ["suites/test_ctap2_info.py"], pyargs=False, invocation_dir=SUITES_DIR.parent
    )
