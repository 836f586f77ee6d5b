"""GetMFADevice's Certifications come from MDS status reports, under AWS's keys."""

from __future__ import annotations

from datetime import date
from typing import cast

from fido2.mds3 import AuthenticatorStatus, MetadataBlobPayloadEntry, StatusReport

from tokenbench.verifier.certifications import certifications
from tokenbench.verifier.trust import TrustStore

AAGUID = bytes(range(16))


class _Metadata:
    """Stands in for a TrustStore's MDS lookup (the blob's signature is tested in trust's tests)."""

    def __init__(self, *reports: StatusReport) -> None:
        self.entry = MetadataBlobPayloadEntry(
            status_reports=list(reports), time_of_last_status_change=date(2026, 1, 1)
        )

    def lookup(self, aaguid: bytes) -> MetadataBlobPayloadEntry | None:
        return self.entry if aaguid == AAGUID else None


def _levels(*reports: StatusReport, aaguid: bytes = AAGUID) -> dict[str, str]:
    return certifications(cast(TrustStore, _Metadata(*reports)), aaguid)


def test_fido_and_fips_levels_under_aws_keys() -> None:
    levels = _levels(
        StatusReport(AuthenticatorStatus.FIDO_CERTIFIED_L1, effective_date=date(2024, 1, 1)),
        StatusReport(
            AuthenticatorStatus.FIPS140_CERTIFIED_L2,
            effective_date=date(2024, 2, 1),
            fips_revision=2,
        ),
        StatusReport(
            AuthenticatorStatus.FIPS140_CERTIFIED_L3,
            effective_date=date(2025, 2, 1),
            fips_revision=3,
        ),
    )
    assert levels == {"FIDO": "L1", "FIPS-140-2": "L2", "FIPS-140-3": "L3"}


def test_the_latest_report_wins() -> None:
    levels = _levels(
        StatusReport(AuthenticatorStatus.FIDO_CERTIFIED_L2, effective_date=date(2025, 6, 1)),
        StatusReport(AuthenticatorStatus.FIDO_CERTIFIED_L1plus, effective_date=date(2023, 6, 1)),
    )
    assert levels == {"FIDO": "L2"}


def test_nothing_without_metadata() -> None:
    assert certifications(None, AAGUID) == {}
    assert _levels(StatusReport(AuthenticatorStatus.FIDO_CERTIFIED_L1), aaguid=bytes(16)) == {}
    assert _levels(StatusReport(AuthenticatorStatus.FIPS140_CERTIFIED_L1)) == {}  # no revision
