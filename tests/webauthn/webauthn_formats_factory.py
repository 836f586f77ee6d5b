"""android-key and apple attestation statements for tests, with a minimal DER encoder for
the Android KeyDescription extension. Each builder can break one rule at a time."""

from __future__ import annotations

import struct
from hashlib import sha256
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID
from fido2 import cbor
from webauthn_factory import (
    AT,
    ORIGIN,
    RP_ID,
    UP,
    Pki,
    Registration,
    SoftKey,
    auth_data,
    client_data,
    der,
)

OID_ANDROID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")
OID_APPLE = x509.ObjectIdentifier("1.2.840.113635.100.8.2")


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: bytes, value: bytes) -> bytes:
    return tag + _length(len(value)) + value


def integer(n: int) -> bytes:
    return tlv(b"\x02", n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(b: bytes) -> bytes:
    return tlv(b"\x04", b)


def seq(*items: bytes) -> bytes:
    return tlv(b"\x30", b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(b"\x31", b"".join(items))


def explicit(number: int, value: bytes) -> bytes:
    if number < 31:
        return tlv(bytes([0xA0 | number]), value)
    digits = []
    while True:
        digits.insert(0, number & 0x7F)
        number >>= 7
        if not number:
            break
    tag = bytes([0xBF]) + bytes([d | 0x80 for d in digits[:-1]] + [digits[-1]])
    return tlv(tag, value)


def authorization_list(
    purpose=(2,), origin: int | None = 0, all_applications: bool = False
) -> bytes:
    fields = []
    if purpose is not None:
        fields.append(explicit(1, set_of(*(integer(p) for p in purpose))))
    if all_applications:
        fields.append(explicit(600, b"\x05\x00"))
    if origin is not None:
        fields.append(explicit(702, integer(origin)))
    return seq(*fields)


def key_description(challenge: bytes, tee: bytes, software: bytes = b"\x30\x00") -> bytes:
    return seq(
        integer(3),
        tlv(b"\x0a", b"\x01"),
        integer(4),
        tlv(b"\x0a", b"\x01"),
        octets(challenge),
        octets(b""),
        software,
        tee,
    )


def _leaf(pki: Pki, public_key: Any, extension_oid, extension_value: bytes) -> x509.Certificate:
    import datetime as dt

    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Credential Key")]))
        .issuer_name(pki.root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2020, 1, 1))
        .not_valid_after(dt.datetime(2045, 1, 1))
        .add_extension(x509.UnrecognizedExtension(extension_oid, extension_value), critical=False)
        .sign(pki.root_key, hashes.SHA256())
    )


def android_key_registration(
    challenge: bytes,
    pki: Pki,
    challenge_in_cert: bytes | None = None,
    tee: bytes | None = None,
    software: bytes = b"\x30\x00",
    cert_key: Any = None,
    tamper_signature: bool = False,
) -> Registration:
    key = SoftKey(aaguid=bytes(16))
    cdj = client_data("webauthn.create", challenge, ORIGIN)
    cdh = sha256(cdj).digest()
    ad = auth_data(UP | AT, 0, key.attested(), RP_ID)
    description = key_description(
        cdh if challenge_in_cert is None else challenge_in_cert,
        tee or authorization_list(),
        software,
    )
    leaf = _leaf(pki, cert_key or key.private.public_key(), OID_ANDROID, description)
    sig = key.sign(ad + cdh)
    if tamper_signature:
        sig = sig[:-2] + bytes([sig[-2] ^ 1]) + sig[-1:]
    stmt = {"alg": -7, "sig": sig, "x5c": [der(leaf), der(pki.root)]}  # Android sends the root too
    return Registration(
        cdj, cbor.encode({"fmt": "android-key", "attStmt": stmt, "authData": ad}), key, ad
    )


def apple_registration(
    challenge: bytes, pki: Pki, wrong_nonce: bool = False, cert_key: Any = None
) -> Registration:
    key = SoftKey()
    cdj = client_data("webauthn.create", challenge, ORIGIN)
    cdh = sha256(cdj).digest()
    ad = auth_data(UP | AT, 0, key.attested(), RP_ID)
    nonce = sha256(ad + cdh).digest()
    if wrong_nonce:
        nonce = sha256(nonce).digest()
    extension = bytes.fromhex("3024a1220420") + nonce
    leaf = _leaf(pki, cert_key or key.private.public_key(), OID_APPLE, extension)
    stmt = {"x5c": [der(leaf)]}
    return Registration(
        cdj, cbor.encode({"fmt": "apple", "attStmt": stmt, "authData": ad}), key, ad
    )


def other_key() -> Any:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


# --- tpm (WebAuthn section 8.3; TPM 2.0 Part 2 structures) ------------------------------------
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_CERTIFY = 0x8017
TPM_ALG_ECC, TPM_ALG_SHA256, TPM_ALG_NULL, TPM_ECC_NIST_P256 = 0x0023, 0x000B, 0x0010, 0x0003
TPM_SIGNING_KEY_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18)
OID_TCG_KP_AIK = x509.ObjectIdentifier("2.23.133.8.3")
OID_TPM_MANUFACTURER = x509.ObjectIdentifier("2.23.133.2.1")
OID_TPM_MODEL = x509.ObjectIdentifier("2.23.133.2.2")
OID_TPM_VERSION = x509.ObjectIdentifier("2.23.133.2.3")


def _b(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def tpm_pub_area(public_key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = public_key.public_numbers()
    return (
        struct.pack("!HHL", TPM_ALG_ECC, TPM_ALG_SHA256, TPM_SIGNING_KEY_ATTRIBUTES)
        + _b(b"")
        + struct.pack("!HHHH", TPM_ALG_NULL, TPM_ALG_NULL, TPM_ECC_NIST_P256, TPM_ALG_NULL)
        + _b(numbers.x.to_bytes(32, "big"))
        + _b(numbers.y.to_bytes(32, "big"))
    )


def tpm_cert_info(extra_data: bytes, pub_area: bytes) -> bytes:
    name = struct.pack("!H", TPM_ALG_SHA256) + sha256(pub_area).digest()
    return (
        struct.pack("!LH", TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY)
        + _b(b"\x00\x0b" + b"\x11" * 32)  # qualifiedSigner
        + _b(extra_data)
        + struct.pack("!QLLB", 1234, 1, 1, 1)  # clockInfo
        + struct.pack("!Q", 0x0001_0002_0003_0004)  # firmwareVersion
        + _b(name)
        + _b(b"\x00\x0b" + b"\x22" * 32)  # qualifiedName
    )


def aik_certificate(pki: Pki, aik: Any, with_subject: bool = False) -> x509.Certificate:
    import datetime as dt

    tpm_name = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(OID_TPM_MANUFACTURER, "id:414D4400")]  # a registered vendor ID
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(OID_TPM_MODEL, "TokenbenchTPM")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(OID_TPM_VERSION, "id:00010002")]),
        ]
    )
    subject = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AIK")])
        if with_subject
        else x509.Name([])
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.root.subject)
        .public_key(aik.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2020, 1, 1))
        .not_valid_after(dt.datetime(2045, 1, 1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DirectoryName(tpm_name)]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([OID_TCG_KP_AIK]), critical=False)
        .sign(pki.root_key, hashes.SHA256())
    )


def tpm_registration(
    challenge: bytes,
    pki: Pki,
    aik: Any,
    sign_other_data: bool = False,
    pub_area_key: Any = None,
    tamper_signature: bool = False,
    with_subject: bool = False,
) -> Registration:
    key = SoftKey()
    cdj = client_data("webauthn.create", challenge, ORIGIN)
    cdh = sha256(cdj).digest()
    ad = auth_data(UP | AT, 0, key.attested(), RP_ID)
    pub_area = tpm_pub_area(pub_area_key or key.private.public_key())
    extra = sha256(ad + cdh + (b"x" if sign_other_data else b"")).digest()
    cert_info = tpm_cert_info(extra, pub_area)
    sig = aik.sign(cert_info, padding.PKCS1v15(), hashes.SHA256())
    if tamper_signature:
        sig = sig[:-1] + bytes([sig[-1] ^ 1])
    stmt = {
        "ver": "2.0",
        "alg": -257,
        "x5c": [der(aik_certificate(pki, aik, with_subject))],
        "sig": sig,
        "certInfo": cert_info,
        "pubArea": pub_area,
    }
    return Registration(cdj, cbor.encode({"fmt": "tpm", "attStmt": stmt, "authData": ad}), key, ad)
