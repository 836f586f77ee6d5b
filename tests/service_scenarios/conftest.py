"""The scenario targets. Against moto: `moto.mock_aws()` in process, any clock.

A target for `tokenbench serve` gives the same three things (admin clients, `client_for`, and
the service's own clock); see aws_scenarios.AwsTarget.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tokenbench.emulators.clock import FakeClock

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

REGION = "us-east-1"
START = 1_800_000_000.0  # 2027-01-15, a multiple of 30 s
MOTO_ADMIN_KEY = ("AKIAMOTOADMIN0000001", "moto-admin-secret-not-checked")


@dataclass
class MotoTarget:
    clock: FakeClock
    admin_iam: Any = None
    admin_sts: Any = None

    def __post_init__(self) -> None:
        self.admin_iam = self.client_for("iam", *MOTO_ADMIN_KEY)
        self.admin_sts = self.client_for("sts", *MOTO_ADMIN_KEY)

    def client_for(
        self, service: str, access_key_id: str, secret: str, session_token: str | None = None
    ) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            aws_session_token=session_token,
        )


@pytest.fixture
def moto_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoTarget]:
    # No file or variable of the machine's own AWS setup may leak in.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with mock_aws():
        yield MotoTarget(FakeClock(START))
