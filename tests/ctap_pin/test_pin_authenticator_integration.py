"""PIN end to end: python-fido2's ClientPin and Fido2Client against CORE's Authenticator.

`KeyDevice` below is a TEST ADAPTER (python-fido2's CtapDevice seam wired straight to
`Authenticator.process`, no CTAPHID framing), modelled on tests/ctap/conftest.py; the
CTAPHID path is tested by the transport suites.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import serialization
from fido2.attestation import AttestationVerifier
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapDevice
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin as Fido2ClientPin
from fido2.hid import CAPABILITY, CTAPHID
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    UserVerificationRequirement,
)

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile

ORIGIN, RP_ID, PIN = "https://example.com", "example.com", "4321-abc"


class KeyDevice(CtapDevice):
    """Test adapter: CTAP2 CBOR straight into `Authenticator.process`."""

    def __init__(self, key: Authenticator) -> None:
        self.key = key

    @property
    def capabilities(self) -> int:
        return CAPABILITY.CBOR | CAPABILITY.NMSG

    def call(self, cmd, data=b"", event=None, on_keepalive=None) -> bytes:
        assert cmd == CTAPHID.CBOR
        return self.key.process(bytes(data))

    @classmethod
    def list_devices(cls):  # pragma: no cover - never enumerated
        return iter(())


class GivePin(UserInteraction):
    def __init__(self, pin: str) -> None:
        self.pin = pin

    def request_pin(self, permissions, rp_id):
        return self.pin


class VendorRoot(AttestationVerifier):
    def __init__(self, key: Authenticator) -> None:
        super().__init__()
        root = key.env.attestation.root_certificate
        self.root = root.public_bytes(serialization.Encoding.DER)

    def ca_lookup(self, attestation_result, auth_data):
        return self.root


def new_key(protocols: tuple[int, ...]) -> Authenticator:
    profile = get_profile("default").with_(pin_uv_auth_protocols=protocols)
    return Authenticator(Env.for_tests(3), profile)


def creation_options() -> PublicKeyCredentialCreationOptions:
    return PublicKeyCredentialCreationOptions(
        rp=PublicKeyCredentialRpEntity(name="Example", id=RP_ID),
        user=PublicKeyCredentialUserEntity(name="alice", id=b"alice-id", display_name="Alice"),
        challenge=os.urandom(32),
        pub_key_cred_params=[
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=-7)
        ],
    )


def client(key: Authenticator, pin: str) -> Fido2Client:
    return Fido2Client(
        KeyDevice(key),
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=GivePin(pin),
    )


def register(key: Authenticator, resident: bool):
    options = creation_options()
    if resident:
        options = PublicKeyCredentialCreationOptions.from_dict(
            {**dict(options), "authenticatorSelection": {"residentKey": "required"}}
        )
    registration = client(key, PIN).make_credential(options)
    attestation = registration.response.attestation_object
    auth_data = attestation.auth_data
    assert auth_data.rp_id_hash == hashlib.sha256(RP_ID.encode()).digest()
    assert auth_data.is_user_verified() and auth_data.is_user_present()
    VendorRoot(key).verify_attestation(attestation, registration.response.client_data.hash)
    return registration


def assert_with_pin(key: Authenticator, allow: list[bytes]) -> None:
    request = PublicKeyCredentialRequestOptions(
        challenge=os.urandom(32),
        rp_id=RP_ID,
        allow_credentials=[
            PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=cred)
            for cred in allow
        ]
        or None,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    assertion = client(key, PIN).get_assertion(request).get_response(0)
    assert assertion.response.authenticator_data.is_user_verified()


def key_with_pin(protocol: int) -> Authenticator:
    key = new_key((protocol,))
    pin = Fido2ClientPin(Ctap2(KeyDevice(key)))
    assert protocol == pin.protocol.VERSION
    pin.set_pin(PIN)
    assert Ctap2(KeyDevice(key)).info.options["clientPin"] is True
    return key


@pytest.mark.parametrize("protocol", [2, 1])
def test_make_credential_and_assert_with_pin(protocol: int) -> None:
    key = key_with_pin(protocol)
    register(key, resident=True)
    assert_with_pin(key, allow=[])


def test_assert_with_allow_list_and_pin() -> None:
    key = key_with_pin(2)
    registration = register(key, resident=False)
    assert_with_pin(key, allow=[registration.raw_id])


def test_wrong_pin_through_the_client_spends_retries() -> None:
    key = new_key((2, 1))
    Fido2ClientPin(Ctap2(KeyDevice(key))).set_pin(PIN)
    with pytest.raises(ClientError) as info:
        client(key, "wrong-pin").make_credential(creation_options())
    assert info.value.cause.code == CtapStatus.PIN_INVALID
    assert Fido2ClientPin(Ctap2(KeyDevice(key))).get_pin_retries()[0] == 7


def test_token_for_one_rp_is_refused_for_another() -> None:
    key = new_key((2,))
    ctap = Ctap2(KeyDevice(key))
    pin = Fido2ClientPin(ctap)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, Fido2ClientPin.PERMISSION.MAKE_CREDENTIAL, "other.example")
    cdh = os.urandom(32)
    with pytest.raises(Exception) as info:
        ctap.make_credential(
            cdh,
            {"id": RP_ID, "name": "Example"},
            {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}],
            pin_uv_param=pin.protocol.authenticate(token, cdh),
            pin_uv_protocol=2,
        )
    assert getattr(info.value, "code", None) == CtapStatus.PIN_AUTH_INVALID


def test_power_cycle_invalidates_the_token() -> None:
    key = new_key((2,))
    ctap = Ctap2(KeyDevice(key))
    pin = Fido2ClientPin(ctap)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, Fido2ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    key.power_cycle()
    cdh = os.urandom(32)
    with pytest.raises(Exception) as info:
        ctap.make_credential(
            cdh,
            {"id": RP_ID, "name": "Example"},
            {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}],
            pin_uv_param=pin.protocol.authenticate(token, cdh),
            pin_uv_protocol=2,
        )
    assert getattr(info.value, "code", None) == CtapStatus.PIN_AUTH_INVALID
