"""The bench's child pytest runs ignore the project around them.

`make run` installs only the run extras, so a conftest or pytest config of the repository the
bench is started from (here: one that fails to import) must not be loaded by the suites.
"""

from pathlib import Path

import pytest

from tokenbench.bench.cli import main


def test_a_hostile_project_around_the_bench_does_not_leak_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(
        "raise RuntimeError('project conftest leaked')\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --this-option-does-not-exist\n")
    monkeypatch.chdir(tmp_path)
    one_test = ["-k", "test_init_allocates_a_channel"]
    status = main(["bench", "run", "--target", "emu:", *one_test, "--report", "report"])
    assert status == 0
    assert (tmp_path / "report" / "report.html").exists()
