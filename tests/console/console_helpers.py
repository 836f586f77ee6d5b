"""Shared pieces of the console tests: a service on SQLite with a movable clock, a console
with cheap argon2 parameters, users with passwords, and TOTP codes at the service's time."""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2.profiles import CHEAPEST
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tokenbench.verifier.http.console.app import build_console
from tokenbench.verifier.iam import ADMIN
from tokenbench.verifier.login_profiles import LoginProfiles
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import MovableClock, Service, VerifierOptions, build_service
from tokenbench.verifier.store import Store

PG_ENV = "TOKENBENCH_PG_URL"
BACKENDS = ("sqlite", "postgres")
START = 1_800_000_000.0  # a multiple of 30 s
ACCOUNT = "123456789012"
PASSWORD = "Correct-Horse-9"
SESSION_KEY = bytes(range(32))
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(
            f"${PG_ENV} is not set: run the PostgreSQL cases with "
            "`scripts/with-services.sh .venv/bin/pytest tests/console` (make test does)",
            pytrace=False,
        )
    return url


def open_store(backend: str, tmp_path: Path) -> tuple[Store, str | None]:
    """SQLite in tmp_path, or a fresh schema on the test PostgreSQL (drop it afterwards)."""
    if backend == "sqlite":
        return Store.open(str(tmp_path / "console.db")), None
    schema = f"tbc_{os.getpid()}_{secrets.token_hex(4)}"
    return Store.open(pg_url(), schema=schema), schema


def drop_schema(schema: str) -> None:
    engine = create_engine(pg_url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def make_service(
    tmp_path: Path, *, lockout: bool = True, store: Store | None = None, **options: object
) -> Service:
    store = store or Store.open(str(tmp_path / "console.db"))
    opts = VerifierOptions(account_id=ACCOUNT, lockout=lockout, **options)  # type: ignore[arg-type]
    return build_service(store, SeedCipher(bytes(range(32))), MovableClock(START), opts)


def cheap_profiles(service: Service) -> LoginProfiles:
    return LoginProfiles(service.iam, parameters=CHEAPEST)


def mounted(service: Service, *, secure: bool = False) -> Starlette:
    console = build_console(
        service, session_key=SESSION_KEY, secure_cookies=secure, profiles=cheap_profiles(service)
    )
    return Starlette(routes=[Mount("/console", app=console)])


def add_user(service: Service, name: str = "alice", password: str = PASSWORD) -> None:
    service.iam.create_user(UserName=name)
    cheap_profiles(service).create_login_profile(ADMIN, UserName=name, Password=password)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def totp_at(seed_b32: str, when: float) -> str:
    return pyotp.TOTP(seed_b32).at(int(when))


def seed_b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


class ConsoleUser:
    """A TestClient session on the mounted console, with the page-level steps."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        self.csrf = csrf_of(response.text)
        return str(response.text)

    def post(self, path: str, **fields: str) -> httpx.Response:
        response: httpx.Response = self.client.post(
            path, data={"csrf_token": self.csrf, **fields}, follow_redirects=True
        )
        if "csrf-token" in response.text:
            self.csrf = csrf_of(response.text)
        return response

    def sign_in(self, user: str = "alice", password: str = PASSWORD) -> httpx.Response:
        self.get("/console/signin")
        return self.post("/console/signin", user_name=user, password=password)
