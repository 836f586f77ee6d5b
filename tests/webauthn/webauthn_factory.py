"""Test inputs for WebAuthn verification, built with python-fido2 and cryptography.

A small software authenticator (`SoftKey`) and a test attestation PKI (`Pki`): enough to
produce every attestation format the verifier accepts, signed correctly, and then to break
exactly one thing at a time. Not an emulator: the real emulated key lives in `emulators`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from fido2 import cbor
from fido2.cose import ES256, RS256, CoseKey, EdDSA
from fido2.utils import websafe_encode
from fido2.webauthn import AttestedCredentialData, AuthenticatorData

RP_ID = "example.com"
ORIGIN = "https://example.com"
AAGUID = bytes.fromhex("0123456789abcdef0123456789abcdef")
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)

FLAG = AuthenticatorData.FLAG
UP, UV, BE, BS, AT = FLAG.UP, FLAG.UV, FLAG.BE, FLAG.BS, FLAG.AT


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tokenbench Test Vendor"),
    ]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def make_cert(
    subject: x509.Name,
    public_key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    ca: bool,
    aaguid: bytes | None = None,
    not_after: dt.datetime = NOT_AFTER,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if aaguid is not None:
        der_octets = b"\x04\x10" + aaguid
        builder = builder.add_extension(
            x509.UnrecognizedExtension(OID_FIDO_AAGUID, der_octets), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Pki:
    """A vendor root CA and one batch attestation certificate under it."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    batch_key: ec.EllipticCurvePrivateKey
    batch: x509.Certificate

    @classmethod
    def create(cls, aaguid: bytes = AAGUID, vendor: str = "Test Root CA") -> Pki:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = make_cert(_name(vendor), root_key.public_key(), _name(vendor), root_key, ca=True)
        batch_key = ec.generate_private_key(ec.SECP256R1())
        batch = make_cert(
            _name("Batch 1", "Authenticator Attestation"),
            batch_key.public_key(),
            root.subject,
            root_key,
            ca=False,
            aaguid=aaguid,
        )
        return cls(root_key, root, batch_key, batch)

    def another_batch(self, common_name: str = "Batch 2", aaguid: bytes = AAGUID) -> Pki:
        """A second batch certificate (new key) under the same root."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name, "Authenticator Attestation")
        cert = make_cert(subject, key.public_key(), self.root.subject, self.root_key, False, aaguid)
        return Pki(self.root_key, self.root, key, cert)

    @classmethod
    def self_signed_batch(cls, aaguid: bytes = AAGUID) -> Pki:
        """Like a browser's virtual authenticator: a batch cert that is its own issuer."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("Virtual Authenticator", "Authenticator Attestation")
        cert = make_cert(name, key.public_key(), name, key, ca=False, aaguid=aaguid)
        return cls(key, cert, key, cert)

    def sign(self, message: bytes) -> bytes:
        return self.batch_key.sign(message, ec.ECDSA(hashes.SHA256()))


@dataclass
class SoftKey:
    """One credential key pair of a software authenticator."""

    alg: int = ES256.ALGORITHM
    credential_id: bytes = field(default_factory=lambda: sha256(b"cred").digest())
    aaguid: bytes = AAGUID
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            if self.alg == ES256.ALGORITHM:
                self.private = ec.generate_private_key(ec.SECP256R1())
            elif self.alg == EdDSA.ALGORITHM:
                self.private = ed25519.Ed25519PrivateKey.generate()
            elif self.alg == RS256.ALGORITHM:
                self.private = rsa.generate_private_key(65537, 2048)
            else:
                raise ValueError(f"no test key for alg {self.alg}")

    @property
    def cose(self) -> CoseKey:
        return CoseKey.for_alg(self.alg).from_cryptography_key(self.private.public_key())

    @property
    def cose_bytes(self) -> bytes:
        return cbor.encode(self.cose)

    def sign(self, message: bytes) -> bytes:
        if self.alg == ES256.ALGORITHM:
            return self.private.sign(message, ec.ECDSA(hashes.SHA256()))
        if self.alg == EdDSA.ALGORITHM:
            return self.private.sign(message)
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def attested(self, aaguid: bytes | None = None) -> bytes:
        return bytes(
            AttestedCredentialData.create(
                self.aaguid if aaguid is None else aaguid, self.credential_id, self.cose
            )
        )


def client_data(type_: str, challenge: bytes, origin: str = ORIGIN, **extra: Any) -> bytes:
    body = {"type": type_, "challenge": websafe_encode(challenge), "origin": origin}
    body.update(extra)
    return json.dumps(body, separators=(",", ":")).encode()


def auth_data(
    flags: int,
    counter: int = 0,
    attested: bytes = b"",
    rp_id: str = RP_ID,
    rp_id_hash: bytes | None = None,
) -> bytes:
    rp_hash = sha256(rp_id.encode()).digest() if rp_id_hash is None else rp_id_hash
    return rp_hash + bytes([flags]) + counter.to_bytes(4, "big") + attested


def u2f_public_key(key: SoftKey) -> bytes:
    cose = key.cose
    return b"\x04" + cose[-2] + cose[-3]


@dataclass
class Registration:
    client_data_json: bytes
    attestation_object: bytes
    key: SoftKey
    auth_data: bytes

    def py_webauthn_credential(self) -> dict[str, Any]:
        return {
            "id": websafe_encode(self.key.credential_id),
            "rawId": websafe_encode(self.key.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(self.client_data_json),
                "attestationObject": websafe_encode(self.attestation_object),
            },
        }


def register(
    challenge: bytes,
    fmt: str = "packed-self",
    key: SoftKey | None = None,
    pki: Pki | None = None,
    flags: int = UP | UV | AT,
    counter: int = 0,
    type_: str = "webauthn.create",
    origin: str = ORIGIN,
    rp_id: str = RP_ID,
    rp_id_hash: bytes | None = None,
    tamper_signature: bool = False,
    aaguid: bytes | None = None,
) -> Registration:
    """A registration response in one of: none, packed-self, packed, fido-u2f."""
    key = key or SoftKey()
    if fmt == "fido-u2f":
        aaguid = bytes(16)
    attested = key.attested(aaguid) if flags & AT else b""
    cdj = client_data(type_, challenge, origin)
    cdh = sha256(cdj).digest()
    ad = auth_data(flags, counter, attested, rp_id, rp_id_hash)
    stmt: dict[str, Any]
    if fmt == "none":
        stmt = {}
    elif fmt == "packed-self":
        stmt = {"alg": key.alg, "sig": key.sign(ad + cdh)}
    elif fmt == "packed":
        assert pki is not None
        stmt = {"alg": ES256.ALGORITHM, "sig": pki.sign(ad + cdh), "x5c": [der(pki.batch)]}
    elif fmt == "fido-u2f":
        assert pki is not None
        signed = b"\x00" + ad[:32] + cdh + key.credential_id + u2f_public_key(key)
        stmt = {"sig": pki.sign(signed), "x5c": [der(pki.batch)]}
    else:
        raise ValueError(fmt)
    if tamper_signature:
        stmt["sig"] = _flip_last(stmt["sig"])
    wire_fmt = "packed" if fmt == "packed-self" else fmt
    obj = cbor.encode({"fmt": wire_fmt, "attStmt": stmt, "authData": ad})
    return Registration(cdj, obj, key, ad)


@dataclass
class Assertion:
    credential_id: bytes
    client_data_json: bytes
    authenticator_data: bytes
    signature: bytes
    user_handle: bytes | None = None

    def args(self) -> tuple[bytes, bytes, bytes, bytes, bytes | None]:
        return (
            self.credential_id,
            self.client_data_json,
            self.authenticator_data,
            self.signature,
            self.user_handle,
        )

    def py_webauthn_credential(self) -> dict[str, Any]:
        response = {
            "clientDataJSON": websafe_encode(self.client_data_json),
            "authenticatorData": websafe_encode(self.authenticator_data),
            "signature": websafe_encode(self.signature),
        }
        if self.user_handle:
            response["userHandle"] = websafe_encode(self.user_handle)
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": response,
        }


def assert_(
    key: SoftKey,
    challenge: bytes,
    counter: int = 1,
    flags: int = UP | UV,
    type_: str = "webauthn.get",
    origin: str = ORIGIN,
    rp_id: str = RP_ID,
    rp_id_hash: bytes | None = None,
    tamper_signature: bool = False,
    user_handle: bytes | None = None,
) -> Assertion:
    cdj = client_data(type_, challenge, origin)
    ad = auth_data(flags, counter, b"", rp_id, rp_id_hash)
    sig = key.sign(ad + sha256(cdj).digest())
    if tamper_signature:
        sig = _flip_last(sig)
    return Assertion(key.credential_id, cdj, ad, sig, user_handle)


def _flip_last(sig: bytes) -> bytes:
    """Corrupt a signature so it stays well-formed DER for ECDSA (flip inside the S value)."""
    return sig[:-2] + bytes([sig[-2] ^ 0x01]) + sig[-1:]


def py_webauthn_accepts(verify: Any, **kwargs: Any) -> bool:
    """Does py_webauthn's `verify` (registration or authentication) accept these inputs?"""
    from pyasn1.error import PyAsn1Error
    from webauthn.helpers.exceptions import WebAuthnException

    try:
        verify(**kwargs)
    except (WebAuthnException, PyAsn1Error):  # py_webauthn lets some pyasn1 errors escape
        return False
    return True
