"""The `webauthn_authenticator` pytest fixture, for people testing their own WebAuthn server.

Load it where you want it, in your conftest.py or on the command line:

    pytest_plugins = ["tokenbench.bench.webauthn.pytest_plugin"]   # conftest.py
    pytest -p tokenbench.bench.webauthn.pytest_plugin

Not through tokenbench's `pytest11` entry point: that one deliberately adds nothing to pytest
runs that did not ask for the bench (tokenbench.bench.pytest_entry explains why), and a
fixture named like this one may well exist in the project being tested.

    def test_login(webauthn_authenticator, client):
        key = webauthn_authenticator("https://shop.example")
        response = key.create(client.post("/register/begin").json())
        assert client.post("/register/finish", json=response).ok

Each call builds a `SoftwareAuthenticator` (same arguments: target, faults, uv, pin); all are
closed when the test ends. The default target is a fresh emulated key per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from tokenbench.bench.webauthn.authenticator import SoftwareAuthenticator


class AuthenticatorFactory(Protocol):
    def __call__(self, origin: str, target: str = ..., **options: Any) -> SoftwareAuthenticator:
        """A software authenticator for `origin` (see SoftwareAuthenticator)."""


@pytest.fixture
def webauthn_authenticator() -> Iterator[AuthenticatorFactory]:
    """Makes software authenticators for this test and closes them after it."""
    made: list[SoftwareAuthenticator] = []

    def make(origin: str, target: str = "emu:", **options: Any) -> SoftwareAuthenticator:
        key = SoftwareAuthenticator(origin, target, **options)
        made.append(key)
        return key

    yield make
    for key in made:
        key.close()
