"""The `pytest11` entry point: brings the bench plugin only into pytest runs that ask for it.

pytest loads every installed `pytest11` plugin into every run in the environment, including
projects that have nothing to do with tokenbench. The bench plugin's options are common words
(`--target`, `--pin`) that another project's conftest may define too, and pytest refuses an
option defined twice; its markers would also quietly satisfy another project's
`--strict-markers`. So this entry point adds no option, marker or fixture of its own: it loads
`tokenbench.bench.plugin` when the command line names the conformance suites (as paths or with
`--pyargs`). Anything else that wants the plugin (a lab's own suite built on our fixtures) says
so with `-p tokenbench.bench.plugin`, as the suites' own pytest.ini does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

PLUGIN = "tokenbench.bench.plugin"
SUITES_PACKAGE = "tokenbench.bench.suites"
SUITES_DIR = Path(__file__).resolve().parent / "suites"  # the one definition; plugin, runner use it


def _names_suites_package(arg: str) -> bool:
    module = arg.partition("::")[0]
    return module == SUITES_PACKAGE or module.startswith(f"{SUITES_PACKAGE}.")


def _names_suites_path(arg: str, invocation_dir: Path) -> bool:
    try:  # what looks like a path may be anything: an option's value, a NUL byte, 5 kB
        path = (invocation_dir / arg.partition("::")[0]).resolve()
    except (OSError, ValueError):
        return False
    return path == SUITES_DIR or SUITES_DIR in path.parents


def names_suites(args: Iterable[str], *, pyargs: bool, invocation_dir: Path) -> bool:
    """Whether these command-line arguments select (part of) the conformance suites."""
    for arg in args:
        if pyargs and _names_suites_package(arg):
            return True
        if _names_suites_path(arg, invocation_dir):
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Options registered here still count: pytest parses the full command line only after
    # the initial conftests (this is how a conftest's own options work too).
    known = early_config.known_args_namespace
    if names_suites(
        known.file_or_dir or [],
        pyargs=bool(known.pyargs),
        invocation_dir=early_config.invocation_params.dir,
    ):
        early_config.pluginmanager.import_plugin(PLUGIN)
