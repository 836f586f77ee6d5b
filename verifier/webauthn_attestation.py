"""Attestation statements: check the signature with python-fido2's verifier for the format,
then ask the trust store whether the certificate path reaches a root we trust.

The two questions are kept apart on purpose. A bad signature (or a statement that breaks its
format's rules) means the response is forged or broken and is always refused. A good
signature from an unknown certificate (a browser's virtual authenticator, self attestation,
"none") is merely *untrusted*: reported, and refused only if the policy demands trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from fido2.attestation import (
    AppleAttestation,
    Attestation,
    AttestationResult,
    AttestationType,
    FidoU2FAttestation,
    InvalidData,
    InvalidSignature,
    NoneAttestation,
    PackedAttestation,
    TpmAttestation,
)
from fido2.webauthn import AttestationObject

from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn_android import AndroidKeyAttestation, credential_key_matches
from tokenbench.verifier.webauthn_errors import WebAuthnError

# Attestation statement formats (WebAuthn Level 3, section 8) and the verifier for each:
# python-fido2's, except android-key, which python-fido2 lacks (verifier.webauthn_android).
FORMAT_VERIFIERS: dict[str, Attestation] = {
    NoneAttestation.FORMAT: NoneAttestation(),
    PackedAttestation.FORMAT: PackedAttestation(),
    FidoU2FAttestation.FORMAT: FidoU2FAttestation(),
    TpmAttestation.FORMAT: TpmAttestation(),
    AppleAttestation.FORMAT: AppleAttestation(),
    AndroidKeyAttestation.FORMAT: AndroidKeyAttestation(),
}

# Attestation types whose trust path can be chained to a root (the others carry no path).
_CHAINABLE = frozenset({AttestationType.BASIC, AttestationType.ATT_CA, AttestationType.ANON_CA})


@dataclass(frozen=True)
class AttestationOutcome:
    fmt: str
    trusted: bool
    trust_path_subject: str | None
    reason: str


def verify_statement(attestation: AttestationObject, client_data_hash: bytes) -> AttestationResult:
    """Check the statement's signature and format rules; raise WebAuthnError otherwise."""
    fmt = attestation.fmt
    verifier = FORMAT_VERIFIERS.get(fmt) if isinstance(fmt, str) else None
    if verifier is None:
        raise WebAuthnError("malformed", f"unsupported attestation format {str(fmt)[:40]!r}")
    if not isinstance(attestation.att_stmt, dict):
        raise WebAuthnError("malformed", "attestation statement is not a map")
    try:
        result = verifier.verify(attestation.att_stmt, attestation.auth_data, client_data_hash)
        if fmt == AppleAttestation.FORMAT:
            _check_apple_key(result, attestation)
        return result
    except InvalidSignature:
        raise WebAuthnError(
            "signature-invalid", f"{fmt} attestation signature does not verify"
        ) from None
    except Exception as exc:  # python-fido2's verifiers raise many types on hostile input
        raise WebAuthnError(
            "malformed", f"{fmt} attestation statement invalid: {_short(exc)}"
        ) from None


def _check_apple_key(result: AttestationResult, attestation: AttestationObject) -> None:
    """WebAuthn 8.8 step 5, which python-fido2's AppleAttestation leaves out: the credential
    key must be the key certified by credCert, or the nonce binds nothing to the credential."""
    cert = x509.load_der_x509_certificate(result.trust_path[0])
    if not credential_key_matches(cert, attestation.auth_data):
        raise InvalidData("credential key is not the apple credCert key")


def evaluate_trust(
    attestation: AttestationObject, result: AttestationResult, trust: TrustStore | None
) -> AttestationOutcome:
    """Decide whether a verified statement is trusted; refuse MDS-revoked models outright."""
    fmt = attestation.fmt
    auth_data = attestation.auth_data
    subject = _leaf_subject(result.trust_path)
    if trust is not None and auth_data.credential_data is not None:
        status = trust.refused_status(auth_data.credential_data.aaguid)
        if status is not None:
            raise WebAuthnError(
                "untrusted-attestation", f"authenticator model has MDS status {status.value}"
            )
    if result.attestation_type not in _CHAINABLE:
        kind = "self" if result.attestation_type == AttestationType.SELF else "no"
        return AttestationOutcome(fmt, False, subject, f"{kind} attestation")
    if trust is None:
        return AttestationOutcome(fmt, False, subject, "no trust anchors configured")
    decision = trust.evaluate(result, auth_data)
    return AttestationOutcome(fmt, decision.trusted, subject, decision.reason)


def _leaf_subject(trust_path: list[bytes]) -> str | None:
    if not trust_path:
        return None
    try:
        return x509.load_der_x509_certificate(trust_path[0]).subject.rfc4514_string()
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:80]
