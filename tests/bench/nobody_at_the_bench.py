"""No person at the bench: a pytest plugin that makes every prompt of a target fail its test.

`test_bench_rig_hooks` loads it into the bench's pytest child through `PYTEST_PLUGINS`, so
a run that passes proves the rig hooks stood in for the person everywhere: a confirmation,
a countdown, a notice or a question would raise instead of waiting for someone.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from tokenbench.bench.plugin import bench_session


class NobodyThere:
    """A `Prompter` with nobody behind it."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the bench asked the person ({name})")


@pytest.hookimpl(trylast=True)  # after the bench plugin has made its targets
def pytest_configure(config: pytest.Config) -> None:
    session = bench_session(config)
    for target in session.targets if session is not None else ():
        target.prompter = NobodyThere()  # type: ignore[attr-defined]
