"""Helpers shared by the verifier tests (conftest puts this folder on sys.path)."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import IamService, open_account
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Store

PG_ENV = "TOKENBENCH_PG_URL"
START = 1_800_000_000.0  # 2027-01-15, a multiple of 30 s
DATA = Path(__file__).resolve().parent.parent / "data" / "pskc-verifier"
BACKENDS = ("sqlite", "postgres")
ACCOUNT = "123456789012"


def pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(
            f"${PG_ENV} is not set: run the PostgreSQL cases with "
            f"`scripts/with-services.sh .venv/bin/pytest tests/verifier` (make test does)",
            pytrace=False,
        )
    return url


def open_store(backend: str, tmp_path: Path) -> tuple[Store, str | None]:
    if backend == "sqlite":
        return Store.open(str(tmp_path / "iam.db")), None
    schema = f"tbv_{os.getpid()}_{secrets.token_hex(4)}"
    return Store.open(pg_url(), schema=schema), schema


def drop_schema(schema: str) -> None:
    engine = create_engine(pg_url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def make_service(store: Store, cipher: SeedCipher, clock: FakeClock, **kwargs) -> IamService:
    account = open_account(store, clock, ACCOUNT)
    return IamService(store, cipher, clock, account, **kwargs)


class Authenticator:
    """Codes for a base32 seed at the fake clock's time (what an app on a phone shows)."""

    def __init__(self, seed_b32: str, clock: FakeClock, *, digits: int = 6, **kwargs) -> None:
        self.totp = pyotp.TOTP(seed_b32, digits=digits, **kwargs)
        self.clock = clock

    def code(self, offset_steps: int = 0) -> str:
        return self.totp.at(self.clock.now() + offset_steps * self.totp.interval)

    def pair(self, offset_steps: int = 0) -> tuple[str, str]:
        return self.code(offset_steps), self.code(offset_steps + 1)


def new_virtual(service: IamService, name: str, path: str = "/") -> tuple[str, Authenticator]:
    """CreateVirtualMFADevice, and an authenticator app holding its seed."""
    device = service.create_virtual_mfa_device(VirtualMFADeviceName=name, Path=path)
    device = device["VirtualMFADevice"]
    return device["SerialNumber"], Authenticator(device["Base32StringSeed"], service.clock)


def enable(
    service: IamService, user: str | None, serial: str, app: Authenticator, **kwargs
) -> dict:
    """EnableMFADevice with the app's current and next codes."""
    code1, code2 = app.pair()
    return service.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
        **kwargs,
    )


def enabled_virtual(service: IamService, user: str = "alice") -> tuple[str, Authenticator]:
    """A new user with one enabled virtual device, the clock moved past the enabling codes."""
    service.create_user(UserName=user)
    serial, app = new_virtual(service, f"{user}-phone")
    enable(service, user, serial, app)
    service.clock.advance(60)
    return serial, app


def lock_out(service: IamService, user: str, serial: str, app: Authenticator) -> None:
    """Fail sign-in as often as the lockout limit allows."""
    wrong = "000000" if app.code() != "000000" else "111111"
    for _ in range(service.policy.lockout_limit):
        with pytest.raises(IamError) as info:
            service.sign_in(UserName=user, SerialNumber=serial, TokenCode=wrong)
        assert info.value.code == "AccessDenied"


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")
