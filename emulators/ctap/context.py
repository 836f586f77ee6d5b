"""What a CTAP command handler may read and change on the key: `KeyContext`.

Handlers are typed against this Protocol, not against `Authenticator`, so they cannot reach
into the hub, and no handler module imports `authenticator.py` (not even for typing), which
keeps the import graph of this package free of cycles.

Multi-call commands (getNextAssertion, credential enumeration, fragmented large-blob writes)
keep what the next call needs in one `pending` slot. A handler only ever puts something there;
`Authenticator.process` empties it when a request does not continue it, so the rule "any
other command ends the operation" lives in one place.
"""

from __future__ import annotations

from typing import Protocol

from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.client_pin import ClientPin
from tokenbench.emulators.ctap.credentials import CredentialWrapper
from tokenbench.emulators.ctap.fingerprint import FingerprintSensor
from tokenbench.emulators.ctap.misbehaviour import CoreFaults
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import CborMap, Response
from tokenbench.emulators.ctap.state import KeyState
from tokenbench.emulators.ctap.transaction import Transaction


class Pending(Protocol):
    """State a multi-call command leaves for its next call."""

    def continued_by(self, command: int, body: bytes) -> bool:
        """Whether this request (command byte, CBOR body) is the next call of the operation."""
        ...


class KeyContext(Protocol):
    """The key as the command handlers see it."""

    @property
    def profile(self) -> DeviceProfile: ...

    @property
    def state(self) -> KeyState:
        """The persistent state; call `persist()` after changing it."""
        ...

    @property
    def client_pin(self) -> ClientPin: ...

    @property
    def wrapper(self) -> CredentialWrapper:
        """Makes and opens credential IDs under this key's master secret."""
        ...

    @property
    def attestation(self) -> VendorAuthority: ...

    @property
    def faults(self) -> CoreFaults:
        """The misbehaviour strategies (all honest unless a core fault is injected)."""
        ...

    @property
    def sensor(self) -> FingerprintSensor:
        """The fingerprint sensor's readings (used only on a key whose profile has one)."""
        ...

    pending: Pending | None

    def random(self, n: int) -> bytes: ...

    def now(self) -> float: ...

    def persist(self) -> None: ...

    def presence(self, transaction: Transaction | None, reason: str) -> bool:
        """A test of user presence: True if touched, OPERATION_DENIED if declined, False
        when the key withholds presence (fault no-presence)."""
        ...

    def uv_protected(self) -> bool:
        """Whether some form of user verification is configured (here: a PIN)."""
        ...

    def remaining_resident_slots(self) -> int: ...

    def next_counter(self, cred_id: bytes, user_present: bool = True) -> int: ...

    def forget_counter(self, cred_id: bytes) -> None:
        """The credential is gone: so is its signature counter."""
        ...


class Handler(Protocol):
    """One CTAP2 command: the decoded request map in, the response map (or None) out."""

    def __call__(
        self, key: KeyContext, params: CborMap, transaction: Transaction | None
    ) -> Response | None: ...
