"""The emulated vendor's attestation CA: a root, per-model batch certificates, MDS3 metadata.

A real vendor keeps its attestation keys in an HSM; tokenbench's emulated vendor derives them
with HKDF from `VENDOR_SEED`, a constant published in this file. That is deliberate: the keys
are an emulator's, public by design, and being deterministic means a root certificate exported
once (`tokenbench key attestation-ca`) keeps validating batch certificates made by any later
run on any machine. Nothing signed by these keys proves anything about real hardware, and
the metadata statement says so honestly (keyProtection "software").

Certificates follow the FIDO `packed` attestation certificate requirements (WebAuthn §8.2.1):
X.509 v3; subject C, O, OU = "Authenticator Attestation", CN; basicConstraints CA:false; the
AAGUID in the non-critical extension 1.3.6.1.4.1.45724.1.1.4. The same batch certificate
serves `fido-u2f` attestation. Signatures on certificates are RFC 6979 deterministic, so the
exported PEM is byte-identical across runs.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from tokenbench.emulators.ctap.cose_algorithms import P256_ORDER
from tokenbench.emulators.ctap.fingerprint import MAX_TEMPLATES, UV_RETRIES_MAX
from tokenbench.emulators.ctap.getinfo_members import json_name

VENDOR_NAME = "tokenbench Emulated Vendor"
VENDOR_COUNTRY = "US"
VENDOR_SEED = b"tokenbench emulated vendor attestation seed, v1 (public by design)"
"""Not a secret: see the module docstring. Changing it invalidates every exported root."""
HKDF_SALT = b"tokenbench/attestation"
DEFAULT_AAGUID = bytes.fromhex("7b6e6b656e62656e63682d656d756c00")
"""The AAGUID of the default emulated model (used when a profile does not give one)."""

ATTESTATION_OU = "Authenticator Attestation"
OID_FIDO_GEN_CE_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
DER_OCTET_STRING_16 = b"\x04\x10"
"""DER header of the 16-byte OCTET STRING the AAGUID extension wraps (extnValue content)."""
NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
"""RFC 5280 §4.1.2.5: 99991231235959Z means "no well-defined expiration date"."""
AAGUID_LENGTH = 16
UB_COMMON_NAME = 64


def _derive(label: bytes, length: int = 48) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT, info=label)
    return hkdf.derive(VENDOR_SEED)


def derive_key(label: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 key determined by `label` and the vendor seed (48 bytes mod n: no usable bias)."""
    scalar = int.from_bytes(_derive(b"key|" + label), "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _serial(label: bytes) -> int:
    # 19 bytes with the top bit clear: positive, at most 20 octets (RFC 5280 §4.1.2.2)
    return int.from_bytes(_derive(b"serial|" + label, 19), "big") >> 1 | 1


def _name(common_name: str, unit: str | None = None, serial: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, VENDOR_COUNTRY),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, VENDOR_NAME),
    ]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    # RFC 5280 ub-common-name: 64 characters; a long model name (a captured profile's) is cut.
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:UB_COMMON_NAME]))
    if serial is not None:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


@dataclass(frozen=True)
class BatchAttestation:
    """One attestation key and its certificate chain (leaf first, root excluded)."""

    certificate: x509.Certificate
    _key: ec.EllipticCurvePrivateKey = field(repr=False)
    intermediates: tuple[x509.Certificate, ...] = ()

    def sign(self, data: bytes) -> bytes:
        """ES256 over `data`, DER-encoded (what `packed` and `fido-u2f` attStmt sig carry)."""
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def chain_der(self) -> list[bytes]:
        """The x5c array: the attestation certificate, then any intermediates."""
        certs = (self.certificate, *self.intermediates)
        return [c.public_bytes(serialization.Encoding.DER) for c in certs]

    @property
    def aaguid(self) -> bytes | None:
        return certificate_aaguid(self.certificate)


def certificate_aaguid(certificate: x509.Certificate) -> bytes | None:
    """The AAGUID carried in the id-fido-gen-ce-aaguid extension, or None if there is none."""
    try:
        ext = certificate.extensions.get_extension_for_oid(OID_FIDO_GEN_CE_AAGUID)
    except x509.ExtensionNotFound:
        return None
    if not isinstance(ext.value, x509.UnrecognizedExtension):  # cryptography has no class for it
        raise ValueError("malformed AAGUID extension")
    value = ext.value.value
    if len(value) != len(DER_OCTET_STRING_16) + AAGUID_LENGTH or not value.startswith(
        DER_OCTET_STRING_16
    ):
        raise ValueError("malformed AAGUID extension")
    return value[len(DER_OCTET_STRING_16) :]


class VendorAuthority:
    """The emulated vendor: a root CA and a batch attestation key + certificate per model."""

    def __init__(self, seed_label: bytes = b"root") -> None:
        self._label = seed_label
        self._root_key = derive_key(seed_label)
        self.root_certificate = self._make_root()
        self._batches: dict[tuple[bytes, str, str | None, bool], BatchAttestation] = {}

    @classmethod
    def default(cls) -> VendorAuthority:
        """The one vendor every emulated key uses (cached: building certificates costs ms)."""
        global _DEFAULT
        if _DEFAULT is None:
            _DEFAULT = cls()
        return _DEFAULT

    def __repr__(self) -> str:
        return f"VendorAuthority({self.root_certificate.subject.rfc4514_string()!r})"

    @property
    def root_pem(self) -> bytes:
        return self.root_certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def root_der(self) -> bytes:
        return self.root_certificate.public_bytes(serialization.Encoding.DER)

    def batch(self, aaguid: bytes, model: str) -> BatchAttestation:
        """The batch attestation of `model` (same key for every emulated key of the model)."""
        return self._leaf(aaguid, model, serial=None, enterprise=False)

    def enterprise_batch(
        self, aaguid: bytes, model: str, serial: str | None = None
    ) -> BatchAttestation:
        """Enterprise attestation (CTAP 2.1 §7.1): a distinct key whose certificate may carry a
        device serial number, so an enterprise RP can tell individual keys apart. Only returned
        to RPs the key is configured to give enterprise attestation to."""
        return self._leaf(aaguid, model, serial=serial, enterprise=True)

    def _leaf(
        self, aaguid: bytes, model: str, *, serial: str | None, enterprise: bool
    ) -> BatchAttestation:
        if len(aaguid) != AAGUID_LENGTH:
            raise ValueError("an AAGUID is 16 bytes")
        cache_key = (bytes(aaguid), model, serial, enterprise)
        if cache_key not in self._batches:
            kind = b"enterprise" if enterprise else b"batch"
            label = b"|".join([self._label, kind, aaguid, model.encode(), (serial or "").encode()])
            key = derive_key(label)
            suffix = "Enterprise Attestation" if enterprise else "Batch Attestation"
            subject = _name(f"{model} {suffix}", ATTESTATION_OU, serial)
            cert = self._issue(subject, key, _serial(label), aaguid)
            self._batches[cache_key] = BatchAttestation(cert, key)
        return self._batches[cache_key]

    def _make_root(self) -> x509.Certificate:
        subject = _name(f"{VENDOR_NAME} Root CA")
        public = self._root_key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(_serial(self._label))
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        return builder.sign(self._root_key, hashes.SHA256(), ecdsa_deterministic=True)

    def _issue(
        self, subject: x509.Name, key: ec.EllipticCurvePrivateKey, serial: int, aaguid: bytes
    ) -> x509.Certificate:
        public = key.public_key()
        root_public = self._root_key.public_key()
        aaguid_ext = x509.UnrecognizedExtension(
            OID_FIDO_GEN_CE_AAGUID, DER_OCTET_STRING_16 + aaguid
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.root_certificate.subject)
            .public_key(public)
            .serial_number(serial)
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_public), critical=False
            )
            .add_extension(aaguid_ext, critical=False)
        )
        return builder.sign(self._root_key, hashes.SHA256(), ecdsa_deterministic=True)


_DEFAULT: VendorAuthority | None = None


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# -- FIDO Metadata Service (MDS3) statement -------------------------------------------------

MDS_SCHEMA = 3
AUTHENTICATION_ALGORITHMS = ["secp256r1_ecdsa_sha256_raw", "ed25519_eddsa_sha512_raw"]
UPV_BY_VERSION = {"FIDO_2_0": (1, 0), "FIDO_2_1_PRE": (1, 0), "FIDO_2_1": (1, 1)}
"""MDS3 upv for FIDO2 authenticators is the CTAP version: 1.0 = CTAP 2.0, 1.1 = CTAP 2.1."""


def getinfo_json(info: Mapping[Any, object]) -> dict[str, object]:
    """A getInfo map (CBOR integer keys or already JSON names) in MDS3's JSON form."""
    out: dict[str, object] = {}
    for key, value in info.items():
        name = json_name(key) if isinstance(key, int) else key
        if name is None:
            continue  # an unknown integer key has no MDS3 name
        if isinstance(value, bytes):
            value = value.hex()
        elif name == "algorithms" and isinstance(value, list):
            value = [_algorithm_json(a) for a in value]
        out[name] = value
    return out


def _algorithm_json(entry: object) -> object:
    return {"type": "public-key", "alg": entry} if isinstance(entry, int) else entry


def _aaguid_string(aaguid: bytes) -> str:
    h = aaguid.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def metadata_statement(
    aaguid: bytes, description: str, info: Mapping[Any, object], root: x509.Certificate
) -> dict[str, object]:
    """A FIDO MDS3 metadata statement for an emulated model, as a JSON-ready dict.

    `info` is the model's getInfo (integer keys or MDS3 names). The statement is honest about
    what the emulator is: software key and matcher protection, the PIN (and on a key with the
    emulated sensor, the finger) as the user verification methods besides presence.
    """
    if len(aaguid) != AAGUID_LENGTH:
        raise ValueError("an AAGUID is 16 bytes")
    get_info = getinfo_json(info)
    get_info.setdefault("aaguid", aaguid.hex())
    firmware = get_info.get("firmwareVersion", 1)
    return {
        "legalHeader": "Emulated authenticator: not a certified product.",
        "aaguid": _aaguid_string(aaguid),
        "description": description,
        "authenticatorVersion": int(firmware) if isinstance(firmware, int) else 1,
        "protocolFamily": "fido2",
        "schema": MDS_SCHEMA,
        "upv": _upv(get_info.get("versions", ["FIDO_2_0"])),
        "authenticationAlgorithms": list(AUTHENTICATION_ALGORITHMS),
        "publicKeyAlgAndEncodings": ["cose"],
        "attestationTypes": ["basic_full"],
        "userVerificationDetails": _user_verification_details(get_info.get("options", {})),
        "keyProtection": ["software"],
        "matcherProtection": ["software"],
        "cryptoStrength": 128,
        "attachmentHint": _attachment_hint(get_info.get("transports", ["usb"])),
        "tcDisplay": [],
        "attestationRootCertificates": [
            base64.b64encode(root.public_bytes(serialization.Encoding.DER)).decode()
        ],
        "authenticatorGetInfo": get_info,
    }


def _upv(versions: object) -> list[dict[str, int]]:
    """MDS3 upv: the CTAP versions listed, newest first; 1.0 when none is known."""
    listed = versions if isinstance(versions, list) else []
    upv = sorted({UPV_BY_VERSION[v] for v in listed if v in UPV_BY_VERSION}, reverse=True)
    return [{"major": major, "minor": minor} for major, minor in upv or [(1, 0)]]


def _user_verification_details(options: object) -> list[list[dict[str, object]]]:
    """Presence alone; with PIN support also the PIN alone, and presence plus PIN; with a
    fingerprint sensor also the finger alone (it is a touch too)."""
    presence: dict[str, object] = {"userVerificationMethod": "presence_internal"}
    details = [[presence]]
    if isinstance(options, Mapping) and "clientPin" in options:
        pin_entry: dict[str, object] = {
            "userVerificationMethod": "passcode_external",
            "caDesc": {"base": 10, "minLength": 4, "maxRetries": 8, "blockSlowdown": 0},
        }
        details.append([pin_entry])
        details.append([dict(presence), {"userVerificationMethod": "passcode_external"}])
    if isinstance(options, Mapping) and "bioEnroll" in options:  # the emulated sensor
        finger = {"maxRetries": UV_RETRIES_MAX, "blockSlowdown": 0, "maxTemplates": MAX_TEMPLATES}
        details.append([{"userVerificationMethod": "fingerprint_internal", "baDesc": finger}])
    return details


def _attachment_hint(transports: object) -> list[str]:
    listed = transports if isinstance(transports, list) else []
    hint = ["external", "wired"] if "usb" in listed else ["external"]
    if "nfc" in listed:
        hint += ["wireless", "nfc"]
    return hint


def root_fingerprint(root: x509.Certificate) -> str:
    """SHA-256 of the root's DER, hex: what a person compares after exporting the root."""
    return hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
