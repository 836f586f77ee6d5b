"""moto as a scenario target: `moto.mock_aws()` in process, any clock (moto checks no code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from tokenbench.emulators.clock import FakeClock

REGION = "us-east-1"
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
