"""The emulated vendor's certificates under python-fido2's attestation verifiers and MDS3."""

from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.attestation import (
    AttestationVerifier,
    FidoU2FAttestation,
    InvalidData,
    InvalidSignature,
    PackedAttestation,
    UntrustedAttestation,
)
from fido2.attestation.base import AttestationType, verify_x509_chain
from fido2.cose import ES256
from fido2.mds3 import MetadataStatement
from fido2.webauthn import AttestationObject, AttestedCredentialData, AuthenticatorData

from tokenbench.emulators.ctap.attestation import (
    ATTESTATION_OU,
    DEFAULT_AAGUID,
    OID_FIDO_GEN_CE_AAGUID,
    VendorAuthority,
    certificate_aaguid,
    metadata_statement,
)

MODEL_AAGUID = bytes.fromhex("00112233445566778899aabbccddeeff")
RP_ID_HASH = hashlib.sha256(b"example.com").digest()
FLAGS_UP_AT = 0x41


class RootOnly(AttestationVerifier):
    def __init__(self, root: x509.Certificate) -> None:
        super().__init__()
        self.root_der = root.public_bytes(serialization.Encoding.DER)

    def ca_lookup(self, attestation_result, auth_data):
        return self.root_der


def registration(aaguid: bytes) -> tuple[AuthenticatorData, ec.EllipticCurvePrivateKey, bytes]:
    credential_key = ec.generate_private_key(ec.SECP256R1())
    cred_id = os.urandom(32)
    public = ES256.from_cryptography_key(credential_key.public_key())
    cred = AttestedCredentialData.create(aaguid, cred_id, public)
    return AuthenticatorData.create(RP_ID_HASH, FLAGS_UP_AT, 1, cred), credential_key, cred_id


def packed_statement(batch, auth_data: AuthenticatorData, cdh: bytes) -> dict:
    return {"alg": -7, "sig": batch.sign(bytes(auth_data) + cdh), "x5c": batch.chain_der()}


@pytest.fixture(scope="module")
def vendor() -> VendorAuthority:
    return VendorAuthority.default()


def test_root_is_a_self_signed_p256_ca(vendor) -> None:
    root = vendor.root_certificate
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert isinstance(root.public_key().curve, ec.SECP256R1)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_batch_cert_meets_packed_requirements(vendor) -> None:
    cert = vendor.batch(MODEL_AAGUID, "Model X").certificate
    assert cert.version == x509.Version.v3
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[x509.NameOID.ORGANIZATIONAL_UNIT_NAME] == ATTESTATION_OU
    names = x509.NameOID
    for oid in (names.COUNTRY_NAME, names.ORGANIZATION_NAME, names.COMMON_NAME):
        assert subject[oid]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ext = cert.extensions.get_extension_for_oid(OID_FIDO_GEN_CE_AAGUID)
    assert not ext.critical and ext.value.value == b"\x04\x10" + MODEL_AAGUID
    assert certificate_aaguid(cert) == MODEL_AAGUID
    assert cert.not_valid_after_utc.year == 9999
    cert.verify_directly_issued_by(vendor.root_certificate)


@pytest.mark.parametrize("enterprise", [False, True], ids=["batch", "enterprise"])
def test_packed_attestation_verifies_and_chains(vendor, enterprise) -> None:
    batch = (
        vendor.enterprise_batch(MODEL_AAGUID, "Model X", serial="SN0001")
        if enterprise
        else vendor.batch(MODEL_AAGUID, "Model X")
    )
    auth_data, _, _ = registration(MODEL_AAGUID)
    cdh = os.urandom(32)
    statement = packed_statement(batch, auth_data, cdh)
    result = PackedAttestation().verify(statement, auth_data, cdh)
    assert result.attestation_type == AttestationType.BASIC
    root_der = vendor.root_certificate.public_bytes(serialization.Encoding.DER)
    verify_x509_chain([*result.trust_path, root_der])
    RootOnly(vendor.root_certificate).verify_attestation(
        AttestationObject.create("packed", auth_data, statement), cdh
    )


def test_enterprise_cert_is_distinct_and_identifies_the_device(vendor) -> None:
    batch = vendor.batch(MODEL_AAGUID, "Model X")
    ep = vendor.enterprise_batch(MODEL_AAGUID, "Model X", serial="SN0001")
    assert ep.certificate.public_key() != batch.certificate.public_key()
    assert ep.certificate.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value == (
        "SN0001"
    )
    assert ep.certificate.subject != batch.certificate.subject


def test_packed_verifier_rejects_mismatched_aaguid_and_bad_signature(vendor) -> None:
    batch = vendor.batch(MODEL_AAGUID, "Model X")
    auth_data, _, _ = registration(DEFAULT_AAGUID)
    cdh = os.urandom(32)
    with pytest.raises(InvalidData):
        PackedAttestation().verify(packed_statement(batch, auth_data, cdh), auth_data, cdh)
    auth_data, _, _ = registration(MODEL_AAGUID)
    statement = packed_statement(batch, auth_data, cdh)
    with pytest.raises(InvalidSignature):
        PackedAttestation().verify(statement, auth_data, os.urandom(32))


def test_fido_u2f_attestation_uses_the_same_batch_cert(vendor) -> None:
    batch = vendor.batch(MODEL_AAGUID, "Model X")
    auth_data, credential_key, cred_id = registration(bytes(16))
    cdh = os.urandom(32)
    point = credential_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    signed = b"\x00" + RP_ID_HASH + cdh + cred_id + point
    statement = {"sig": batch.sign(signed), "x5c": batch.chain_der()[:1]}
    result = FidoU2FAttestation().verify(statement, auth_data, cdh)
    assert result.attestation_type == AttestationType.BASIC
    RootOnly(vendor.root_certificate).verify_attestation(
        AttestationObject.create("fido-u2f", auth_data, statement), cdh
    )


def test_another_root_does_not_validate(vendor) -> None:
    stranger = VendorAuthority(seed_label=b"some other vendor")
    batch = vendor.batch(MODEL_AAGUID, "Model X")
    auth_data, _, _ = registration(MODEL_AAGUID)
    cdh = os.urandom(32)
    statement = packed_statement(batch, auth_data, cdh)
    with pytest.raises(UntrustedAttestation):
        RootOnly(stranger.root_certificate).verify_attestation(
            AttestationObject.create("packed", auth_data, statement), cdh
        )


def test_keys_and_certificates_are_deterministic(vendor) -> None:
    again = VendorAuthority()
    assert again.root_pem == vendor.root_pem
    assert (
        again.batch(MODEL_AAGUID, "Model X").chain_der()
        == vendor.batch(MODEL_AAGUID, "Model X").chain_der()
    )
    assert (
        vendor.batch(MODEL_AAGUID, "Model Y").certificate.public_key()
        != vendor.batch(MODEL_AAGUID, "Model X").certificate.public_key()
    )


def test_no_private_key_in_repr(vendor) -> None:
    batch = vendor.batch(MODEL_AAGUID, "Model X")
    assert "_key" not in repr(batch) and "PrivateKey" not in repr(batch)
    assert "PrivateKey" not in repr(vendor)


def test_metadata_statement_parses_with_fido2_mds3(vendor) -> None:
    info = {
        1: ["FIDO_2_1", "FIDO_2_0", "U2F_V2"],
        2: ["credProtect", "hmac-secret"],
        3: MODEL_AAGUID,
        4: {"rk": True, "clientPin": False, "up": True},
        5: 1200,
        6: [2, 1],
        9: ["usb"],
        10: [{"alg": -7, "type": "public-key"}, {"alg": -8, "type": "public-key"}],
        14: 3,
    }
    statement = metadata_statement(MODEL_AAGUID, "Model X", info, vendor.root_certificate)
    parsed = MetadataStatement.from_dict(json.loads(json.dumps(statement)))
    assert bytes(parsed.aaguid) == MODEL_AAGUID
    assert parsed.protocol_family == "fido2" and parsed.schema == 3
    assert parsed.attestation_root_certificates == [
        vendor.root_certificate.public_bytes(serialization.Encoding.DER)
    ]
    assert parsed.key_protection == ["software"] and parsed.matcher_protection == ["software"]
    assert parsed.authentication_algorithms == [
        "secp256r1_ecdsa_sha256_raw",
        "ed25519_eddsa_sha512_raw",
    ]
    assert parsed.attestation_types == ["basic_full"]
    assert {(v.major, v.minor) for v in parsed.upv} == {(1, 0), (1, 1)}
    assert parsed.authenticator_version == 3
    get_info = parsed.authenticator_get_info
    assert get_info["aaguid"] == MODEL_AAGUID.hex() and get_info["pinUvAuthProtocols"] == [2, 1]
    assert any(
        m.user_verification_method == "passcode_external"
        for methods in parsed.user_verification_details
        for m in methods
    )


def rfc5280_verifier(root: x509.Certificate):
    """cryptography's path validation (names, key IDs, validity, CA constraints); the leaf
    policy is relaxed because attestation certificates carry no SAN/EKU."""
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

    return (
        PolicyBuilder()
        .store(Store([root]))
        .time(datetime.datetime(2040, 1, 1, tzinfo=datetime.UTC))
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )


@pytest.mark.parametrize("enterprise", [False, True], ids=["batch", "enterprise"])
def test_full_path_validation_to_the_root(vendor, enterprise) -> None:
    from cryptography.x509.verification import VerificationError

    leaf = (
        vendor.enterprise_batch(MODEL_AAGUID, "Model X", serial="SN1")
        if enterprise
        else vendor.batch(MODEL_AAGUID, "Model X")
    ).certificate
    chain = rfc5280_verifier(vendor.root_certificate).verify(leaf, []).chain
    assert chain == [leaf, vendor.root_certificate]
    stranger = VendorAuthority(seed_label=b"some other vendor").root_certificate
    with pytest.raises(VerificationError):
        rfc5280_verifier(stranger).verify(leaf, [])
