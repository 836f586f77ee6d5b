"""Fixtures for the authenticator-core tests: python-fido2 talking to an emulated key.

`DirectDevice` is a *test adapter*, not a transport: it hands CTAP2 CBOR (CTAPHID_CBOR, 0x10)
straight to `Authenticator.process` and CTAP1 APDUs (CTAPHID_MSG, 0x03) to `process_u2f`, with
no CTAPHID framing in between. The real CTAPHID/NFC transports live in emulators/transport and
have their own tests; this adapter exists so that python-fido2's own client code (Ctap2,
Fido2Client, ClientPin, CredentialManagement, LargeBlobs, Config, Ctap1) drives the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from threading import Event
from typing import Any

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import STATUS, CtapDevice
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY, CTAPHID

from emulators.ctap.authenticator import Authenticator
from emulators.ctap.env import Env
from emulators.ctap.profiles import get_profile
from emulators.ctap.transaction import Transaction

ORIGIN = "https://example.com"
RP_ID = "example.com"


class DirectDevice(CtapDevice):
    """Test adapter: python-fido2's CtapDevice seam wired straight to the core (no CTAPHID)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        self.calls: list[tuple[int, bytes]] = []

    @property
    def capabilities(self) -> int:
        caps = CAPABILITY.WINK
        if self.authenticator.profile.ctap2:
            caps |= CAPABILITY.CBOR
        if not self.authenticator.profile.u2f:
            caps |= CAPABILITY.NMSG
        return caps

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: Event | None = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        self.calls.append((cmd, bytes(data)))
        transaction = Transaction()
        if event is not None and event.is_set():
            transaction.cancel()
        if cmd == CTAPHID.CBOR:
            return self.authenticator.process(bytes(data), transaction)
        if cmd == CTAPHID.MSG:
            return self.authenticator.process_u2f(bytes(data), transaction)
        if cmd == CTAPHID.WINK:
            self.authenticator.wink()
            return b""
        raise ValueError(f"test adapter does not do CTAPHID command 0x{cmd:02x}")

    @classmethod
    def list_devices(cls) -> Iterator[CtapDevice]:
        return iter(())


class PinInteraction(UserInteraction):
    """Supplies a PIN when python-fido2's client asks for one."""

    def __init__(self, pin: str | None = None) -> None:
        self.pin = pin

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        return self.pin

    def request_uv(self, permissions: Any, rp_id: str | None) -> bool:
        return True


def make_key(profile: str = "default", seed: int = 0, **env_overrides: Any) -> Authenticator:
    return Authenticator(Env.for_tests(seed, **env_overrides), get_profile(profile))


def client_for(key: Authenticator, pin: str | None = None, origin: str = ORIGIN) -> Fido2Client:
    return Fido2Client(
        DirectDevice(key),
        client_data_collector=DefaultClientDataCollector(origin),
        user_interaction=PinInteraction(pin),
    )


@pytest.fixture
def key() -> Authenticator:
    return make_key()


@pytest.fixture
def device(key: Authenticator) -> DirectDevice:
    return DirectDevice(key)


@pytest.fixture
def ctap2(device: DirectDevice) -> Ctap2:
    return Ctap2(device)


@pytest.fixture
def client(key: Authenticator) -> Fido2Client:
    return client_for(key)
