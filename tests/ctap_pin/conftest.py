"""Fixtures for the client-PIN tests: a ClientPin behind python-fido2's own Ctap2.

`PinOnlyDevice` is a TEST ADAPTER, not a transport: it answers getInfo and hands
authenticatorClientPIN requests straight to `ClientPin.handle`, so that python-fido2's real
`Ctap2`/`ClientPin` encode every request and decode every answer. The CTAPHID path through
the full `Authenticator` is tested by the transport and core suites.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from fido2 import cbor
from fido2.ctap import CtapDevice
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY, CTAPHID

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.ctap.client_pin import ClientPin, PinState
from tokenbench.emulators.ctap.constants import CtapCommand, CtapStatus
from tokenbench.emulators.ctap.errors import CtapError

TEST_AAGUID = bytes(range(16))


class SeededRng:
    """Reproducible bytes: SHA-256 in counter mode over a seed (tests only)."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed.to_bytes(8, "big")
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            self._counter += 1
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
        return out[:n]


@dataclass
class PinRig:
    """A ClientPin, its persisted state and a count of how often it was persisted."""

    state: PinState = field(default_factory=PinState)
    clock: FakeClock = field(default_factory=FakeClock)
    persisted: list[dict[str, Any]] = field(default_factory=list)
    protocols: tuple[int, ...] = (2, 1)
    client_pin: ClientPin = field(init=False)

    def __post_init__(self) -> None:
        self.client_pin = ClientPin(
            SeededRng(7),
            lambda: self.persisted.append(self.state.to_dict()),
            self.state,
            self.protocols,
            clock=self.clock,
        )


class PinOnlyDevice(CtapDevice):
    """Test adapter: getInfo + clientPIN only, straight into `ClientPin.handle`."""

    def __init__(self, rig: PinRig) -> None:
        self.rig = rig

    @property
    def capabilities(self) -> int:
        return CAPABILITY.CBOR

    @classmethod
    def list_devices(cls):  # pragma: no cover - never enumerated
        return iter(())

    def info(self) -> dict[int, Any]:
        return {
            1: ["FIDO_2_0", "FIDO_2_1"],
            3: TEST_AAGUID,
            4: {"clientPin": self.rig.client_pin.is_pin_set, "pinUvAuthToken": True},
            6: list(self.rig.protocols),
        }

    def call(self, cmd, data=b"", event=None, on_keepalive=None) -> bytes:
        assert cmd == CTAPHID.CBOR
        command, payload = data[0], data[1:]
        try:
            if command == CtapCommand.GET_INFO:
                return b"\x00" + cbor.encode(self.info())
            if command != CtapCommand.CLIENT_PIN:
                return bytes([CtapStatus.INVALID_COMMAND])
            response = self.rig.client_pin.handle(cbor.decode(payload), lambda: None)
        except CtapError as exc:
            return bytes([exc.status])
        return b"\x00" + (cbor.encode(response) if response else b"")


@pytest.fixture
def rig() -> PinRig:
    return PinRig()


@pytest.fixture
def ctap(rig: PinRig) -> Ctap2:
    return Ctap2(PinOnlyDevice(rig))


@pytest.fixture
def make_ctap():
    """Build a (rig, Ctap2) pair for a key with other supported protocols."""

    def build(protocols: tuple[int, ...]) -> tuple[PinRig, Ctap2]:
        rig = PinRig(protocols=protocols)
        return rig, Ctap2(PinOnlyDevice(rig))

    return build
