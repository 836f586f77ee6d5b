"""Attestation trust anchors: configured root certificates and an offline FIDO MDS3 blob.

A registration's attestation statement proves only that *some* key signed it; whether that
key belongs to a genuine authenticator model is decided here, by chaining the statement's
trust path to a root the relying party chose to trust. Two sources of roots are supported
and may be combined: PEM files the operator configures (e.g. a vendor's attestation CA, or
the emulated vendor's root in tests), and the FIDO Metadata Service blob, whose signature is
checked against the MDS root before any of its entries is believed.

python-fido2 does the work: `fido2.mds3.parse_blob` verifies the blob, its
`MdsAttestationVerifier.ca_lookup` picks the root for an AAGUID (skipping revoked entries)
and `fido2.attestation.verify_x509_chain` checks the chain. This module adds the policy
around it: certificate validity at an injected `now`, blob freshness, and the list of MDS
statuses that make a model unacceptable however its attestation chains.
"""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fido2.attestation import (
    AttestationResult,
    AttestationVerifier,
    verify_x509_chain,
)
from fido2.attestation.base import InvalidAttestation
from fido2.mds3 import (
    AuthenticatorStatus,
    MdsAttestationVerifier,
    MetadataBlobPayload,
    MetadataBlobPayloadEntry,
    parse_blob,
)
from fido2.utils import websafe_decode
from fido2.webauthn import Aaguid, AuthenticatorData

from tokenbench.verifier.errors import VerifierError

# An authenticator model with any of these statuses in MDS is refused outright: its keys
# (or its user verification) can no longer be relied on, whatever the attestation says.
REFUSED_STATUSES = frozenset(
    {
        AuthenticatorStatus.REVOKED,
        AuthenticatorStatus.USER_KEY_REMOTE_COMPROMISE,
        AuthenticatorStatus.USER_KEY_PHYSICAL_COMPROMISE,
        AuthenticatorStatus.USER_VERIFICATION_BYPASS,
    }
)


class TrustError(VerifierError):
    """A trust anchor (PEM file or MDS blob) could not be loaded or is not acceptable."""


@dataclass(frozen=True)
class TrustDecision:
    """How one attestation trust path fared against the store."""

    trusted: bool
    reason: str  # one line: which root anchored it, or why none did
    entry: MetadataBlobPayloadEntry | None = None


class _RootsVerifier(AttestationVerifier):
    """Picks, among configured roots, the one that issued the top of the trust path."""

    def __init__(self, roots: Sequence[x509.Certificate]) -> None:
        super().__init__()
        self._by_subject: dict[x509.Name, list[bytes]] = {}
        for root in roots:
            der = root.public_bytes(serialization.Encoding.DER)
            self._by_subject.setdefault(root.subject, []).append(der)

    def ca_lookup(
        self, attestation_result: AttestationResult, auth_data: AuthenticatorData
    ) -> bytes | None:
        top = x509.load_der_x509_certificate(attestation_result.trust_path[-1])
        for der in self._by_subject.get(top.issuer, []):
            try:
                verify_x509_chain([*attestation_result.trust_path, der])
            except InvalidAttestation:
                continue
            return der
        return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _within_validity(der_chain: Iterable[bytes], now: datetime) -> bool:
    for der in der_chain:
        cert = x509.load_der_x509_certificate(der)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return False
    return True


class TrustStore:
    """Roots and metadata a relying party trusts for attestation.

    `now` (if given) is the moment certificates must be valid at; the caller takes it from
    its `Clock`, so the store never reads the wall clock itself. Without `now`, validity
    periods are not checked (useful only for fixed test vectors).
    """

    def __init__(
        self,
        roots: Sequence[x509.Certificate] = (),
        mds: MetadataBlobPayload | None = None,
        now: datetime | None = None,
    ) -> None:
        self.roots = tuple(roots)
        self.mds = mds
        self.now = _utc(now) if now is not None else None
        self._roots_verifier = _RootsVerifier(self.roots) if self.roots else None
        self._mds_verifier = MdsAttestationVerifier(mds) if mds is not None else None
        self._all_entries: dict[bytes, MetadataBlobPayloadEntry] = {
            bytes(e.aaguid): e for e in (mds.entries if mds else ()) if e.aaguid
        }

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_certificates(
        cls, roots: Sequence[x509.Certificate], now: datetime | None = None
    ) -> TrustStore:
        return cls(roots=roots, now=now)

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | Path], now: datetime | None = None) -> TrustStore:
        """Load every certificate of every PEM file (a file may hold a bundle)."""
        roots: list[x509.Certificate] = []
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise TrustError(f"cannot read trust anchor {path}: {exc.strerror}") from None
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError:
                raise TrustError(f"{path}: not a PEM certificate file") from None
            roots.extend(certs)
        return cls(roots=roots, now=now)

    @classmethod
    def from_mds_blob(cls, blob: bytes, mds_root: x509.Certificate, now: datetime) -> TrustStore:
        """Verify an MDS3 blob (a signed JWT) against the MDS root and keep its entries.

        A blob past its `nextUpdate` is refused: a stale blob would hide revocations.
        """
        now = _utc(now)
        root_der = mds_root.public_bytes(serialization.Encoding.DER)
        try:
            payload = parse_blob(blob, root_der)
        except Exception as exc:  # any parse or signature failure: not this blob
            raise TrustError(
                f"MDS blob refused: {type(exc).__name__}: {str(exc)[:80] or 'invalid'}"
            ) from None
        try:
            signer_chain = [*_blob_chain(blob), root_der]
        except ValueError:
            raise TrustError("MDS blob refused: bad x5c header") from None
        if not _within_validity(signer_chain, now):
            raise TrustError("MDS blob refused: signing certificate not valid at this time")
        if payload.next_update < now.date():
            raise TrustError(f"MDS blob is stale (nextUpdate {payload.next_update.isoformat()})")
        return cls(mds=payload, now=now)

    def merged(self, other: TrustStore) -> TrustStore:
        """One store with the roots of both and the MDS blob of whichever has one."""
        return TrustStore(
            roots=self.roots + other.roots,
            mds=self.mds if self.mds is not None else other.mds,
            now=self.now if self.now is not None else other.now,
        )

    # --- queries ------------------------------------------------------------------------

    def lookup(self, aaguid: bytes) -> MetadataBlobPayloadEntry | None:
        """The MDS entry for an AAGUID, revoked or not (callers inspect `status_reports`)."""
        return self._all_entries.get(bytes(aaguid))

    def refused_status(self, aaguid: bytes) -> AuthenticatorStatus | None:
        """The first MDS status that makes this model unacceptable, if any."""
        entry = self.lookup(aaguid)
        if entry is None:
            return None
        for report in entry.status_reports:
            if report.status in REFUSED_STATUSES:
                return report.status
        return None

    def evaluate(self, result: AttestationResult, auth_data: AuthenticatorData) -> TrustDecision:
        """Does this verified attestation's trust path chain to a root we trust?"""
        try:
            return self._evaluate(result, auth_data)
        except Exception:  # a garbage certificate further up the path: trust nothing
            return TrustDecision(False, "attestation certificate path unreadable")

    def _evaluate(self, result: AttestationResult, auth_data: AuthenticatorData) -> TrustDecision:
        path = list(result.trust_path)
        if not path:
            return TrustDecision(False, "no attestation trust path (self or none attestation)")
        if self.now is not None and not _within_validity(path, self.now):
            return TrustDecision(False, "attestation certificate not valid at this time")
        if self._roots_verifier is not None:
            try:
                if self._roots_verifier.ca_lookup(result, auth_data):
                    return TrustDecision(True, "chains to a configured root")
            except (ValueError, InvalidAttestation):
                return TrustDecision(False, "attestation certificate unreadable")
        if self._mds_verifier is not None:
            return self._evaluate_mds(result, auth_data, path)
        return TrustDecision(False, "no trusted root issued the attestation certificate")

    def _evaluate_mds(
        self, result: AttestationResult, auth_data: AuthenticatorData, path: list[bytes]
    ) -> TrustDecision:
        assert self._mds_verifier is not None
        try:
            root = self._mds_verifier.ca_lookup(result, auth_data)
            if root is None:
                return TrustDecision(False, "no usable MDS entry/root for this authenticator")
            verify_x509_chain([*path, root])
        except (ValueError, KeyError, IndexError, InvalidAttestation):
            return TrustDecision(False, "attestation does not chain to its MDS root")
        if self.now is not None and not _within_validity([root], self.now):
            return TrustDecision(False, "MDS attestation root not valid at this time")
        aaguid = auth_data.credential_data.aaguid if auth_data.credential_data else Aaguid.NONE
        entry = self._mds_verifier.find_entry_by_aaguid(aaguid) if aaguid else None
        return TrustDecision(True, "chains to an MDS attestation root", entry)

    def is_trusted(self, result: AttestationResult, auth_data: AuthenticatorData) -> bool:
        return self.evaluate(result, auth_data).trusted


def _blob_chain(blob: bytes) -> list[bytes]:
    """The x5c certificates from an MDS blob's JWT header (already verified by parse_blob)."""
    header = json.loads(websafe_decode(blob.split(b".", 1)[0]))
    return [b64decode(c) for c in header.get("x5c", [])]
