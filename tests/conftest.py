"""Project-wide test settings.

The tests need the `dev` extra (hypothesis, py_webauthn). `make run` installs only what
running the bench needs, so `pytest` after it would stop at the first import; instead it
stops here with one line that says what to run.
"""

import importlib
import os
import sys
from pathlib import Path

import pytest

DEV_MODULES = ("hypothesis", "webauthn")  # test-only libraries from the `dev` extra


def missing_dev_modules() -> list[str]:
    missing = []
    for name in DEV_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


MISSING = missing_dev_modules()


def pytest_configure(config: pytest.Config) -> None:
    if MISSING:
        raise pytest.UsageError(
            f"the tests need the dev extra ({', '.join(MISSING)} not installed): run `make test`"
            ", which installs it (or: .venv/bin/pip install -e '.[qr,hardware,postgres,dev]')"
        )


if not MISSING:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=int(os.environ.get("TOKENBENCH_HYPOTHESIS_EXAMPLES", "100")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("ci")

# Shared test helpers that are not tests themselves (e.g. guest_boot) live in this folder.
sys.path.insert(0, str(Path(__file__).parent))
