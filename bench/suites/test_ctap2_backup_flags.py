"""ctap2 suite: a security key's credentials are device-bound (WebAuthn Level 3 §6.1.3).

A roaming security key keeps its credentials' private keys inside itself and cannot copy
them elsewhere, so its authenticatorData must say so: backup eligibility (BE) and backup state
(BS) clear. Relying parties read BE as "a synced passkey" and give such a credential another
assurance level and other recovery rules; BS without BE is never valid.
"""

from __future__ import annotations

from fido2.webauthn import AuthenticatorData

from tokenbench.bench.suites._ctap import (
    RP_ID,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    make_credential,
)

FLAG_BE = AuthenticatorData.FLAG.BE
FLAG_BS = AuthenticatorData.FLAG.BS


def test_credentials_are_device_bound(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    cdh = client_data_hash("backup flags")
    assertion = ctap2.get_assertion(RP_ID, cdh, [descriptor(credential_id(response))])
    for what, flags in (
        ("makeCredential", response.auth_data.flags),
        ("getAssertion", assertion.auth_data.flags),
    ):
        assert not flags & FLAG_BS or flags & FLAG_BE, f"{what}: BS set without BE"
        assert not flags & (FLAG_BE | FLAG_BS), (
            f"{what} claims a synced credential (flags {int(flags):#04x}: BE/BS set)"
        )
