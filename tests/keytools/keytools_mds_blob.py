"""A small MDS3 blob signed by a test root created here (RS256, like the real MDS service).

The real service signs with a chain under the FIDO root; this test root stands in for it so the
blob's signature path in `key info --mds --mds-root` is exercised offline.
"""

from __future__ import annotations

import datetime
import json
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fido2.utils import websafe_encode

NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2044, 1, 1, tzinfo=datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, signer: Any, ca: bool
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signer, hashes.SHA256())


@dataclass
class MdsTestSigner:
    root: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    signer: x509.Certificate

    @classmethod
    def create(cls) -> MdsTestSigner:
        root_key = rsa.generate_private_key(65537, 2048)
        root_name = "tokenbench test MDS root"
        root = _cert(root_name, root_key, root_name, root_key, True)
        signer_key = rsa.generate_private_key(65537, 2048)
        signer = _cert(
            "tokenbench test MDS signer", signer_key, "tokenbench test MDS root", root_key, False
        )
        return cls(root, signer_key, signer)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(Encoding.PEM)

    def blob(self, entries: list[dict[str, Any]], no: int = 7) -> bytes:
        header = {
            "alg": "RS256",
            "typ": "JWT",
            "x5c": [b64encode(self.signer.public_bytes(Encoding.DER)).decode()],
        }
        payload = {
            "legalHeader": "test only",
            "no": no,
            "nextUpdate": "2044-01-01",
            "entries": entries,
        }
        message = b".".join(
            websafe_encode(json.dumps(p).encode()).encode() for p in (header, payload)
        )
        signature = self.signer_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return message + b"." + websafe_encode(signature).encode()


def entry(aaguid: str, description: str) -> dict[str, Any]:
    """One MDS3 entry with the fields python-fido2 requires."""
    return {
        "aaguid": aaguid,
        "metadataStatement": {
            "legalHeader": "test only",
            "aaguid": aaguid,
            "description": description,
            "authenticatorVersion": 1,
            "protocolFamily": "fido2",
            "schema": 3,
            "upv": [{"major": 1, "minor": 1}],
            "authenticationAlgorithms": ["secp256r1_ecdsa_sha256_raw"],
            "publicKeyAlgAndEncodings": ["cose"],
            "attestationTypes": ["basic_full"],
            "userVerificationDetails": [[{"userVerificationMethod": "presence_internal"}]],
            "keyProtection": ["hardware"],
            "matcherProtection": ["on_chip"],
            "attachmentHint": ["external", "wired"],
            "tcDisplay": [],
            "attestationRootCertificates": [],
        },
        "statusReports": [{"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01"}],
        "timeOfLastStatusChange": "2024-01-01",
    }
