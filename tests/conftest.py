"""Project-wide test settings."""

import os
import sys
from pathlib import Path

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
