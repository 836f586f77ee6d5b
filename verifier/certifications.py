"""GetMFADevice's `Certifications`: what the FIDO Metadata Service says of a key's model.

AWS: "We currently provide FIPS-140-2, FIPS-140-3, and FIDO certification levels obtained from
FIDO Alliance Metadata Service (MDS)." MDS 3.1 status reports carry both: `FIDO_CERTIFIED_Lx`
(x = 1, 1plus, 2, 2plus, 3, 3plus) and `FIPS140_CERTIFIED_Lx` with the FIPS 140 revision
(`fipsRevision` 2 or 3). The latest report of each kind wins, so a recertification replaces an
older level. A model without an MDS entry (or without a trust store) has none.
"""

from __future__ import annotations

from fido2.mds3 import AuthenticatorStatus, StatusReport

from tokenbench.verifier.trust import TrustStore

FIDO = "FIDO"
FIDO_PREFIX = "FIDO_CERTIFIED_"
FIPS_PREFIX = "FIPS140_CERTIFIED_"
FIPS_KEYS = {2: "FIPS-140-2", 3: "FIPS-140-3"}


def _in_order(reports: list[StatusReport]) -> list[StatusReport]:
    return sorted(reports, key=lambda r: (r.effective_date is None, r.effective_date or 0))


def certifications(trust: TrustStore | None, aaguid: bytes | None) -> dict[str, str]:
    """`{"FIDO": "L1", "FIPS-140-2": "L2"}`-style levels for the model `aaguid` names."""
    if trust is None or aaguid is None:
        return {}
    entry = trust.lookup(aaguid)
    if entry is None:
        return {}
    found: dict[str, str] = {}
    for report in _in_order(list(entry.status_reports)):
        status = AuthenticatorStatus(report.status).name
        if status.startswith(FIDO_PREFIX):
            found[FIDO] = status.removeprefix(FIDO_PREFIX)
        elif status.startswith(FIPS_PREFIX) and report.fips_revision in FIPS_KEYS:
            found[FIPS_KEYS[report.fips_revision]] = status.removeprefix(FIPS_PREFIX)
    return found
