"""The emulated vendor's attestation CA (stub: signatures first, behaviour follows)."""

from __future__ import annotations

from typing import Any

from cryptography import x509

DEFAULT_AAGUID = bytes.fromhex("7b6e6b65-6e62-656e-6368-2d656d756c00".replace("-", ""))


class BatchAttestation:
    certificate: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        raise NotImplementedError

    def chain_der(self) -> list[bytes]:
        raise NotImplementedError


class VendorAuthority:
    root_certificate: x509.Certificate

    @classmethod
    def default(cls) -> VendorAuthority:
        raise NotImplementedError

    def batch(self, aaguid: bytes, model: str) -> BatchAttestation:
        raise NotImplementedError

    def enterprise_batch(self, aaguid: bytes, model: str) -> BatchAttestation:
        raise NotImplementedError


def metadata_statement(
    aaguid: bytes, description: str, info: dict[str, Any], root: x509.Certificate
) -> dict[str, Any]:
    raise NotImplementedError
