"""The console path: virtual-device clean-up and FIDO registration/sign-in through
`verifier.webauthn`, driven by a minimal software authenticator (ES256, "none" attestation).
End-to-end runs with the emulated CTAP key are the bench's job; here each IAM rule of the FIDO
path is exercised with real signatures."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import pytest
import zxingcpp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AttestedCredentialData
from PIL import Image
from verifier_helpers import ACCOUNT, enable, new_virtual

from tokenbench.verifier import webauthn
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import Caller, IamService
from tokenbench.verifier.iam_console import ConsoleEnrolment

RP_ID = "example.com"
ORIGIN = "https://example.com"
FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


@dataclass
class SoftCredential:
    credential_id: bytes
    private: ec.EllipticCurvePrivateKey
    counter: int = 0


@dataclass
class SoftKey:
    """One physical key: a separate credential per registration (per identity)."""

    credentials: list[SoftCredential] = field(default_factory=list)
    aaguid: bytes = bytes(16)

    def create(self, options: dict, origin: str = ORIGIN) -> tuple[bytes, bytes, SoftCredential]:
        credential = SoftCredential(
            hashlib.sha256(b"cred%d" % len(self.credentials)).digest(),
            ec.generate_private_key(ec.SECP256R1()),
        )
        self.credentials.append(credential)
        cose = ES256.from_cryptography_key(credential.private.public_key())
        attested = bytes(AttestedCredentialData.create(self.aaguid, credential.credential_id, cose))
        auth_data = _header(FLAG_UP | FLAG_UV | FLAG_AT, 0) + attested
        client = _client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return client, attestation, credential

    def get(self, options: dict, credential: SoftCredential, *, counter: int | None = None) -> dict:
        credential.counter = credential.counter + 1 if counter is None else counter
        auth_data = _header(FLAG_UP | FLAG_UV, credential.counter)
        client = _client_data("webauthn.get", options["challenge"], ORIGIN)
        signature = credential.private.sign(
            auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "CredentialId": credential.credential_id,
            "ClientDataJSON": client,
            "AuthenticatorData": auth_data,
            "Signature": signature,
        }


def _header(flags: int, counter: int) -> bytes:
    return hashlib.sha256(RP_ID.encode()).digest() + bytes([flags]) + counter.to_bytes(4, "big")


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    body = {"type": kind, "challenge": challenge, "origin": origin}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def console(service: IamService) -> ConsoleEnrolment:
    policy = webauthn.RelyingPartyPolicy(RP_ID, frozenset({ORIGIN}))
    service.create_user(UserName="alice")
    service.create_user(UserName="bob")
    return ConsoleEnrolment(service, policy)


def register(
    console: ConsoleEnrolment, key: SoftKey, user: str, origin: str = ORIGIN
) -> tuple[str, SoftCredential]:
    ceremony, options = console.begin_fido_registration(UserName=user, DeviceName="yubi")
    client, attestation, credential = key.create(options, origin)
    result = console.finish_fido_registration(
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    return result["SerialNumber"], credential


def sign_in(console: ConsoleEnrolment, key: SoftKey, user: str, credential, **kw):
    ceremony, options = console.begin_fido_sign_in(UserName=user)
    return console.finish_fido_sign_in(CeremonyId=ceremony, **key.get(options, credential, **kw))


def code_of(call) -> str:
    with pytest.raises(IamError) as info:
        call()
    return info.value.code


def test_register_list_get_and_sign_in(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    serial, credential = register(console, key, "alice")
    assert serial.startswith(f"arn:aws:iam::{ACCOUNT}:u2f/user/alice/yubi-")
    service = console.service
    listed = service.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assert service.get_mfa_device(UserName="alice", SerialNumber=serial)["SerialNumber"] == serial
    session = sign_in(console, key, "alice", credential)
    assert session.serial_number == serial and session.caller.mfa_authenticated


def test_fido_never_through_enable_or_totp_sign_in(console: ConsoleEnrolment) -> None:
    serial, _ = register(console, SoftKey(), "alice")
    service = console.service
    call = lambda: service.enable_mfa_device(  # noqa: E731
        UserName="bob",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    assert code_of(call) == "InvalidInput"
    call = lambda: service.sign_in(UserName="alice", SerialNumber=serial, TokenCode="123456")  # noqa: E731
    assert code_of(call) == "ValidationError"


def test_one_key_many_identities_distinct_credentials(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    _, alice_credential = register(console, key, "alice")
    _, bob_credential = register(console, key, "bob")
    assert alice_credential.credential_id != bob_credential.credential_id
    sign_in(console, key, "alice", alice_credential)
    sign_in(console, key, "bob", bob_credential)
    # bob's credential does not sign alice in, even from the same key
    assert code_of(lambda: sign_in(console, key, "alice", bob_credential)) == "AccessDenied"


def test_registration_checks_surface_as_iam_errors(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    with pytest.raises(IamError, match="origin-mismatch") as info:
        register(console, key, "alice", origin="https://evil.example")
    assert info.value.code == "InvalidInput"
    ceremony, options = console.begin_fido_registration(UserName="alice")
    client, attestation, _ = key.create(options)
    console.finish_fido_registration(
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    call = lambda: console.finish_fido_registration(  # noqa: E731
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    assert code_of(call) == "InvalidInput"  # a ceremony is answered once


def test_same_credential_twice_is_entity_already_exists(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    register(console, key, "alice")
    ceremony, options = console.begin_fido_registration(UserName="alice")
    assert [websafe_decode(c["id"]) for c in options["excludeCredentials"]] == [
        key.credentials[0].credential_id
    ]
    key.credentials.pop()  # a key that ignores excludeCredentials and re-uses the credential ID
    client, attestation, _ = key.create(options)
    call = lambda: console.finish_fido_registration(  # noqa: E731
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    assert code_of(call) == "EntityAlreadyExists"


def test_counter_regression_marks_clone_and_refuses(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    serial, credential = register(console, key, "alice")
    sign_in(console, key, "alice", credential, counter=10)
    assert code_of(lambda: sign_in(console, key, "alice", credential, counter=5)) == "AccessDenied"
    device = console.store.device(serial)
    assert device.possibly_cloned and device.sign_count == 10
    # suspended from now on, even with a higher counter
    assert code_of(lambda: sign_in(console, key, "alice", credential, counter=50)) == "AccessDenied"


def test_bad_signature_or_wrong_challenge(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    _, credential = register(console, key, "alice")
    ceremony, options = console.begin_fido_sign_in(UserName="alice")
    answer = key.get(options, credential)
    answer["Signature"] = answer["Signature"][:-1] + bytes([answer["Signature"][-1] ^ 1])
    call = lambda: console.finish_fido_sign_in(CeremonyId=ceremony, **answer)  # noqa: E731
    assert code_of(call) == "AccessDenied"
    ceremony, options = console.begin_fido_sign_in(UserName="alice")
    stale = key.get({"challenge": websafe_encode(b"x" * 32)}, credential)
    call = lambda: console.finish_fido_sign_in(CeremonyId=ceremony, **stale)  # noqa: E731
    with pytest.raises(IamError, match="challenge-mismatch"):
        call()


def test_expired_ceremony(console: ConsoleEnrolment) -> None:
    ceremony, options = console.begin_fido_registration(UserName="alice")
    client, attestation, _ = SoftKey().create(options)
    console.service.clock.advance(301)
    call = lambda: console.finish_fido_registration(  # noqa: E731
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    assert code_of(call) == "InvalidInput"


def test_limit_counts_fido_with_other_kinds(console: ConsoleEnrolment) -> None:
    service = console.service
    key = SoftKey()
    for _ in range(4):
        register(console, key, "alice")
    service.add_legacy_sms_device(UserName="alice")
    for n in range(3):
        enable(service, "alice", *new_virtual(service, f"p{n}"))
    assert code_of(lambda: register(console, key, "alice")) == "LimitExceeded"
    serial, app = new_virtual(service, "p9")
    assert code_of(lambda: enable(service, "alice", serial, app)) == "LimitExceeded"


def test_self_service_fido_needs_mfa(console: ConsoleEnrolment) -> None:
    key = SoftKey()
    alice = Caller("alice")
    ceremony, options = console.begin_fido_registration(UserName=None, caller=alice)
    client, attestation, credential = key.create(options)
    console.finish_fido_registration(
        CeremonyId=ceremony, ClientDataJSON=client, AttestationObject=attestation
    )
    call = lambda: console.begin_fido_registration(UserName=None, caller=alice)  # noqa: E731
    assert code_of(call) == "AccessDenied"
    session = sign_in(console, key, "alice", credential)
    console.begin_fido_registration(UserName=None, caller=session.caller)


def test_deactivating_fido_removes_it(console: ConsoleEnrolment) -> None:
    serial, _ = register(console, SoftKey(), "alice")
    console.service.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert console.service.list_mfa_devices(UserName="alice")["MFADevices"] == []
    assert code_of(lambda: console.begin_fido_sign_in(UserName="alice")) == "AccessDenied"


def test_console_virtual_enrolment_cleans_unassigned(console: ConsoleEnrolment) -> None:
    service = console.service
    service.create_virtual_mfa_device(VirtualMFADeviceName="abandoned1")
    service.create_virtual_mfa_device(VirtualMFADeviceName="abandoned2")
    created = console.add_virtual_device(UserName="alice", VirtualMFADeviceName="abandoned1")
    assert created["RemovedUnassignedDevices"] == 2
    listed = service.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert [d["SerialNumber"] for d in listed] == [created["VirtualMFADevice"]["SerialNumber"]]
    # the QR code's label names the user
    png = created["VirtualMFADevice"]["QRCodePNG"]
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert barcode.text.startswith("otpauth://totp/abandoned1@alice?secret=")
