"""The "android-key" attestation format (WebAuthn Level 3, section 8.4).

python-fido2 2.2 verifies packed, fido-u2f, tpm, apple and android-safetynet statements but
not android-key, so this module supplies that one verifier in python-fido2's own shape (an
`Attestation` subclass returning an `AttestationResult`), and the rest of the verifier
treats it like the others. The Android Keystore puts the credential key itself in the leaf
certificate and describes it in a KeyDescription extension; reading that extension needs a
DER reader, and a few dozen lines suffice for the fields the check uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.constant_time import bytes_eq
from fido2.attestation import (
    Attestation,
    AttestationResult,
    AttestationType,
    InvalidData,
    InvalidSignature,
)
from fido2.attestation.base import catch_builtins
from fido2.cose import CoseKey
from fido2.webauthn import AuthenticatorData

OID_ANDROID_KEY_DESCRIPTION = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")

# KeyDescription ::= SEQUENCE { attestationVersion, attestationSecurityLevel,
#   keymasterVersion, keymasterSecurityLevel, attestationChallenge OCTET STRING,
#   uniqueId, softwareEnforced AuthorizationList, teeEnforced AuthorizationList, ... }
_CHALLENGE_INDEX, _SOFTWARE_INDEX, _TEE_INDEX = 4, 6, 7
# AuthorizationList fields (Android Keymaster tags, as context-specific explicit tags).
TAG_PURPOSE, TAG_ALL_APPLICATIONS, TAG_ORIGIN = 1, 600, 702
KM_PURPOSE_SIGN, KM_ORIGIN_GENERATED = 2, 0

# DER universal tags and classes used here.
_INTEGER, _OCTET_STRING, _SEQUENCE, _SET = 0x02, 0x04, 0x10, 0x11
_UNIVERSAL, _CONTEXT = 0, 2


@dataclass(frozen=True)
class Tlv:
    tag_class: int
    constructed: bool
    number: int
    value: bytes

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise ValueError("DER value is not constructed")
        return list(iter_der(self.value))

    def integer(self) -> int:
        if (self.tag_class, self.number) != (_UNIVERSAL, _INTEGER) or not self.value:
            raise ValueError("DER value is not an INTEGER")
        return int.from_bytes(self.value, "big", signed=True)


def _read_tlv(data: bytes, pos: int) -> tuple[Tlv, int]:
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:  # high tag number form, base-128
        number = 0
        while True:
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
            if number > 1 << 28:
                raise ValueError("DER tag number too large")
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("DER length form not allowed")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("DER value runs past its container")
    return Tlv(first >> 6, bool(first & 0x20), number, data[pos:end]), end


def iter_der(data: bytes) -> Iterator[Tlv]:
    pos = 0
    while pos < len(data):
        tlv, pos = _read_tlv(data, pos)
        yield tlv


def authorization_list(tlv: Tlv) -> dict[int, Tlv]:
    """The explicitly tagged fields of an AuthorizationList, by Keymaster tag."""
    if (tlv.tag_class, tlv.number) != (_UNIVERSAL, _SEQUENCE):
        raise ValueError("AuthorizationList is not a SEQUENCE")
    fields: dict[int, Tlv] = {}
    for item in tlv.children():
        if item.tag_class == _CONTEXT:
            inner = item.children()
            if len(inner) != 1:
                raise ValueError("explicit tag must wrap one value")
            fields[item.number] = inner[0]
    return fields


@dataclass(frozen=True)
class KeyDescription:
    challenge: bytes
    software: dict[int, Tlv]
    tee: dict[int, Tlv]

    @classmethod
    def parse(cls, der: bytes) -> KeyDescription:
        outer = list(iter_der(der))
        if len(outer) != 1 or (outer[0].tag_class, outer[0].number) != (_UNIVERSAL, _SEQUENCE):
            raise ValueError("KeyDescription is not one SEQUENCE")
        items = outer[0].children()
        if len(items) <= _TEE_INDEX:
            raise ValueError("KeyDescription is too short")
        challenge = items[_CHALLENGE_INDEX]
        if (challenge.tag_class, challenge.number) != (_UNIVERSAL, _OCTET_STRING):
            raise ValueError("attestationChallenge is not an OCTET STRING")
        return cls(
            challenge.value,
            authorization_list(items[_SOFTWARE_INDEX]),
            authorization_list(items[_TEE_INDEX]),
        )


def credential_key_matches(cert: x509.Certificate, auth_data: AuthenticatorData) -> bool:
    """Is the certificate's subject key the credential public key of this registration?"""
    credential = auth_data.credential_data
    if credential is None:
        return False
    return credential.public_key.from_cryptography_key(cert.public_key()) == credential.public_key


class AndroidKeyAttestation(Attestation):
    FORMAT = "android-key"

    @catch_builtins  # type: ignore[untyped-decorator]  # fido2 leaves it unannotated
    def verify(
        self, statement: Mapping[str, Any], auth_data: AuthenticatorData, client_data_hash: bytes
    ) -> AttestationResult:
        alg, sig, x5c = statement["alg"], statement["sig"], statement["x5c"]
        cert = x509.load_der_x509_certificate(x5c[0])
        try:
            CoseKey.for_alg(alg).from_cryptography_key(cert.public_key()).verify(
                bytes(auth_data) + client_data_hash, sig
            )
        except _CryptoInvalidSignature:
            raise InvalidSignature() from None
        if not credential_key_matches(cert, auth_data):
            raise InvalidData("credential key is not the attestation certificate's key")
        try:
            extension = cert.extensions.get_extension_for_oid(OID_ANDROID_KEY_DESCRIPTION)
        except x509.ExtensionNotFound:
            raise InvalidData("no Android key description extension") from None
        if not isinstance(extension.value, x509.UnrecognizedExtension):  # always, for this OID
            raise InvalidData("the Android key description extension is not raw DER")
        description = KeyDescription.parse(extension.value.value)
        if not bytes_eq(description.challenge, client_data_hash):
            raise InvalidData("attestationChallenge is not the client data hash")
        if TAG_ALL_APPLICATIONS in description.tee or TAG_ALL_APPLICATIONS in description.software:
            raise InvalidData("key is usable by all applications")
        # Only the TEE's word counts: a security key bench wants keys that live in hardware,
        # not keys whose properties the Android OS merely asserts (softwareEnforced).
        origin = description.tee.get(TAG_ORIGIN)
        if origin is None or origin.integer() != KM_ORIGIN_GENERATED:
            raise InvalidData("key was not generated inside the TEE keystore")
        purpose = description.tee.get(TAG_PURPOSE)
        purposes = [item.integer() for item in purpose.children()] if purpose else []
        if purposes != [KM_PURPOSE_SIGN]:
            raise InvalidData("TEE key purpose is not signing only")
        return AttestationResult(AttestationType.BASIC, list(x5c))
