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

from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import STATUS, CtapDevice
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY, CTAPHID

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.ctap.transaction import Transaction

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


# ---- WebAuthn option builders and a relying-party-side attestation verifier ------------------
def creation_options(
    user_id: bytes = b"user-1",
    name: str = "alice",
    rp_id: str = RP_ID,
    algs: tuple[int, ...] = (-7,),
    resident: str = "discouraged",
    uv: str = "discouraged",
    exclude: list[bytes] | None = None,
    attestation: str = "direct",
    extensions: dict[str, Any] | None = None,
) -> Any:
    from fido2.webauthn import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialCreationOptions,
        PublicKeyCredentialDescriptor,
        PublicKeyCredentialParameters,
        PublicKeyCredentialRpEntity,
        PublicKeyCredentialUserEntity,
    )

    return PublicKeyCredentialCreationOptions(
        rp=PublicKeyCredentialRpEntity(id=rp_id, name="Example RP"),
        user=PublicKeyCredentialUserEntity(id=user_id, name=name, display_name=name.title()),
        challenge=b"\x01" * 32,
        pub_key_cred_params=[PublicKeyCredentialParameters(type="public-key", alg=a) for a in algs],
        exclude_credentials=[
            PublicKeyCredentialDescriptor(type="public-key", id=c) for c in (exclude or [])
        ],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=resident, user_verification=uv
        ),
        attestation=attestation,
        extensions=extensions,
    )


def request_options(
    allow: list[bytes] | None = None,
    rp_id: str = RP_ID,
    uv: str = "discouraged",
    extensions: dict[str, Any] | None = None,
) -> Any:
    from fido2.webauthn import PublicKeyCredentialDescriptor, PublicKeyCredentialRequestOptions

    return PublicKeyCredentialRequestOptions(
        challenge=b"\x02" * 32,
        rp_id=rp_id,
        allow_credentials=[PublicKeyCredentialDescriptor(type="public-key", id=c) for c in allow]
        if allow
        else None,
        user_verification=uv,
        extensions=extensions,
    )


def root_verifier(key: Authenticator) -> Any:
    """python-fido2's AttestationVerifier trusting the emulated vendor's exported root."""
    from cryptography.hazmat.primitives import serialization
    from fido2.attestation import AttestationVerifier

    root_der = key.env.attestation.root_certificate.public_bytes(serialization.Encoding.DER)

    class Verifier(AttestationVerifier):
        def ca_lookup(self, attestation_result: Any, auth_data: Any) -> bytes | None:
            return root_der

    return Verifier()


PIN = "4321abcd"


def pin_client(key: Authenticator, protocol: int = 2) -> Any:
    """python-fido2's ClientPin over the adapter, for PIN protocol 1 or 2."""
    from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

    proto = PinProtocolV2() if protocol == 2 else PinProtocolV1()
    return ClientPin(Ctap2(DirectDevice(key)), proto)


def with_pin(key: Authenticator, pin: str = PIN) -> Authenticator:
    pin_client(key, max(key.profile.pin_uv_auth_protocols)).set_pin(pin)
    return key


def token(key: Authenticator, permissions: Any, protocol: int = 2, rp_id: str | None = None):
    cp = pin_client(key, protocol)
    return cp, cp.get_pin_token(PIN, permissions, rp_id)
