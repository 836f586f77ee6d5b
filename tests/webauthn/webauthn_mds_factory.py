"""Offline FIDO MDS3 blobs for tests: a test MDS root, a signing certificate under it, and a
JWT (RS256, like the real service) carrying the entries a test needs."""

from __future__ import annotations

import datetime as dt
import json
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fido2.utils import websafe_encode
from fido2.webauthn import Aaguid
from webauthn_factory import NOT_AFTER, der, make_cert


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class MdsSigner:
    root_key: rsa.RSAPrivateKey
    root: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    signer: x509.Certificate

    @classmethod
    def create(cls, signer_not_after: dt.datetime = NOT_AFTER) -> MdsSigner:
        root_key = rsa.generate_private_key(65537, 2048)
        root = make_cert(
            _name("Test MDS Root"), root_key.public_key(), _name("Test MDS Root"), root_key, ca=True
        )
        signer_key = rsa.generate_private_key(65537, 2048)
        signer = make_cert(
            _name("Test MDS Signer"),
            signer_key.public_key(),
            root.subject,
            root_key,
            ca=False,
            not_after=signer_not_after,
        )
        return cls(root_key, root, signer_key, signer)

    def blob(
        self, entries: list[dict[str, Any]], next_update: str = "2027-01-01", no: int = 1
    ) -> bytes:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [b64encode(der(self.signer)).decode()]}
        payload = {
            "legalHeader": "test only",
            "no": no,
            "nextUpdate": next_update,
            "entries": entries,
        }
        message = b".".join(
            websafe_encode(json.dumps(p).encode()).encode() for p in (header, payload)
        )
        signature = self.signer_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return message + b"." + websafe_encode(signature).encode()


def entry(
    aaguid: bytes | None,
    attestation_root: x509.Certificate,
    status: str = "FIDO_CERTIFIED",
    description: str = "Test Key",
    key_identifiers: list[bytes] | None = None,
    status_certificate: bytes | None = None,
) -> dict[str, Any]:
    """One MDS3 entry: by AAGUID (FIDO2) or by attestation key identifiers (U2F)."""
    statement: dict[str, Any] = {
        "description": description,
        "authenticatorVersion": 1,
        "schema": 3,
        "upv": [{"major": 1, "minor": 0}],
        "attestationTypes": ["basic_full"],
        "userVerificationDetails": [[{"userVerificationMethod": "presence_internal"}]],
        "keyProtection": ["hardware", "secure_element"],
        "matcherProtection": ["on_chip"],
        "attachmentHint": ["external", "wired"],
        "tcDisplay": [],
        "attestationRootCertificates": [b64encode(der(attestation_root)).decode()],
    }
    report: dict[str, Any] = {"status": status, "effectiveDate": "2024-01-01"}
    if status_certificate is not None:
        report["certificate"] = b64encode(status_certificate).decode()
    result: dict[str, Any] = {
        "metadataStatement": statement,
        "statusReports": [report],
        "timeOfLastStatusChange": "2024-01-01",
    }
    if aaguid is not None:
        result["aaguid"] = statement["aaguid"] = str(Aaguid(aaguid))
    if key_identifiers is not None:
        ids = [k.hex() for k in key_identifiers]
        result["attestationCertificateKeyIdentifiers"] = ids
        statement["attestationCertificateKeyIdentifiers"] = ids
    return result
