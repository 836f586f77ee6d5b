"""Trust from an offline MDS3 blob: signature on the blob, lookup, trust, revocation, freshness."""

from __future__ import annotations

import pytest
from cryptography import x509
from fido2.mds3 import AuthenticatorStatus
from hypothesis import given
from hypothesis import strategies as st
from webauthn_factory import AAGUID, AT, NOW, ORIGIN, RP_ID, UP, Pki, der, register
from webauthn_mds_factory import MdsSigner, entry

from tokenbench.verifier.trust import TrustError, TrustStore
from tokenbench.verifier.webauthn import RelyingPartyPolicy, WebAuthnError, verify_registration

CHALLENGE = b"\x55" * 32
REVOKED_AAGUID = b"\xee" * 16
UNLISTED_AAGUID = b"\xab" * 16


@pytest.fixture(scope="module")
def mds() -> MdsSigner:
    return MdsSigner.create()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create()


@pytest.fixture(scope="module")
def store(mds: MdsSigner, pki: Pki) -> TrustStore:
    blob = mds.blob([entry(AAGUID, pki.root), entry(REVOKED_AAGUID, pki.root, status="REVOKED")])
    return TrustStore.from_mds_blob(blob, mds.root, NOW)


def policy(store: TrustStore, required: bool = True) -> RelyingPartyPolicy:
    return RelyingPartyPolicy(
        RP_ID, frozenset({ORIGIN}), trust=store, require_trusted_attestation=required
    )


def test_lookup(store: TrustStore) -> None:
    found = store.lookup(AAGUID)
    assert found is not None and found.metadata_statement.description == "Test Key"
    revoked = store.lookup(REVOKED_AAGUID)
    assert revoked is not None and revoked.status_reports[0].status == AuthenticatorStatus.REVOKED
    assert store.refused_status(REVOKED_AAGUID) == AuthenticatorStatus.REVOKED
    assert store.refused_status(AAGUID) is None
    assert store.lookup(UNLISTED_AAGUID) is None


def test_listed_authenticator_trusted(store: TrustStore, pki: Pki) -> None:
    reg = register(CHALLENGE, "packed", pki=pki)
    cred = verify_registration(
        policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object
    )
    assert cred.attestation_trusted is True


def test_revoked_authenticator_refused_even_when_trust_optional(store: TrustStore) -> None:
    revoked_pki = Pki.create(aaguid=REVOKED_AAGUID)
    reg = register(CHALLENGE, "packed", pki=revoked_pki, aaguid=REVOKED_AAGUID)
    for required in (True, False):
        with pytest.raises(WebAuthnError) as info:
            verify_registration(
                policy(store, required), CHALLENGE, reg.client_data_json, reg.attestation_object
            )
        assert info.value.code == "untrusted-attestation"
        assert "REVOKED" in str(info.value)


def test_unlisted_aaguid_untrusted(store: TrustStore) -> None:
    other = Pki.create(aaguid=UNLISTED_AAGUID)
    reg = register(CHALLENGE, "packed", pki=other, aaguid=UNLISTED_AAGUID)
    cred = verify_registration(
        policy(store, False), CHALLENGE, reg.client_data_json, reg.attestation_object
    )
    assert cred.attestation_trusted is False
    with pytest.raises(WebAuthnError, match="untrusted-attestation"):
        verify_registration(policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object)


def test_listed_aaguid_but_foreign_chain_untrusted(store: TrustStore) -> None:
    """The AAGUID is listed, but the batch cert was issued by someone else's root."""
    forger = Pki.create()  # same AAGUID, different root
    reg = register(CHALLENGE, "packed", pki=forger)
    with pytest.raises(WebAuthnError, match="untrusted-attestation"):
        verify_registration(policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object)


def test_u2f_key_found_by_attestation_key_identifier(mds: MdsSigner) -> None:
    """U2F keys have no AAGUID: MDS lists them by the SKI of their attestation certificate."""
    u2f = Pki.create(vendor="U2F Vendor Root")
    ski = x509.SubjectKeyIdentifier.from_public_key(u2f.batch.public_key()).digest
    store = TrustStore.from_mds_blob(
        mds.blob([entry(None, u2f.root, key_identifiers=[ski])]), mds.root, NOW
    )
    reg = register(CHALLENGE, "fido-u2f", pki=u2f, flags=UP | AT)
    cred = verify_registration(
        policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object
    )
    assert (cred.attestation_format, cred.attestation_trusted) == ("fido-u2f", True)
    stranger = Pki.create(vendor="U2F Vendor Root")  # same names, unlisted key
    reg = register(CHALLENGE, "fido-u2f", pki=stranger, flags=UP | AT)
    with pytest.raises(WebAuthnError, match="untrusted-attestation"):
        verify_registration(policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object)


def test_compromised_attestation_key_untrusted(mds: MdsSigner) -> None:
    vendor = Pki.create()
    listing = entry(
        AAGUID,
        vendor.root,
        status="ATTESTATION_KEY_COMPROMISE",
        status_certificate=der(vendor.batch),
    )
    store = TrustStore.from_mds_blob(mds.blob([listing]), mds.root, NOW)
    reg = register(CHALLENGE, "packed", pki=vendor)
    with pytest.raises(WebAuthnError, match="untrusted-attestation"):
        verify_registration(policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object)
    other_batch = vendor.another_batch()  # same model and root, not compromised
    reg = register(CHALLENGE, "packed", pki=other_batch)
    cred = verify_registration(
        policy(store), CHALLENGE, reg.client_data_json, reg.attestation_object
    )
    assert cred.attestation_trusted is True


def test_blob_signed_under_another_root_refused(mds: MdsSigner, pki: Pki) -> None:
    stranger = MdsSigner.create()
    blob = stranger.blob([entry(AAGUID, pki.root)])
    with pytest.raises(TrustError):
        TrustStore.from_mds_blob(blob, mds.root, NOW)


def test_tampered_blob_refused(mds: MdsSigner, pki: Pki) -> None:
    blob = mds.blob([entry(AAGUID, pki.root)])
    header, payload, sig = blob.split(b".")
    other_payload = mds.blob([entry(UNLISTED_AAGUID, pki.root)]).split(b".")[1]
    with pytest.raises(TrustError):
        TrustStore.from_mds_blob(b".".join([header, other_payload, sig]), mds.root, NOW)
    assert payload != other_payload


def test_blob_from_expired_signer_refused(pki: Pki) -> None:
    import datetime as dt

    expired = MdsSigner.create(signer_not_after=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    blob = expired.blob([entry(AAGUID, pki.root)])
    with pytest.raises(TrustError, match="not valid at this time"):
        TrustStore.from_mds_blob(blob, expired.root, NOW)


def test_stale_blob_refused(mds: MdsSigner, pki: Pki) -> None:
    blob = mds.blob([entry(AAGUID, pki.root)], next_update="2026-01-01")
    with pytest.raises(TrustError, match="stale"):
        TrustStore.from_mds_blob(blob, mds.root, NOW)


def test_merged_store_uses_both(store: TrustStore, pki: Pki) -> None:
    extra = Pki.create(aaguid=UNLISTED_AAGUID, vendor="Extra Root")
    merged = store.merged(TrustStore.from_certificates([extra.root]))
    for source in (pki, extra):
        aaguid = AAGUID if source is pki else UNLISTED_AAGUID
        reg = register(CHALLENGE, "packed", pki=source, aaguid=aaguid)
        cred = verify_registration(
            policy(merged), CHALLENGE, reg.client_data_json, reg.attestation_object
        )
        assert cred.attestation_trusted is True


def test_unreadable_pem_is_a_user_error(tmp_path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TrustError, match="not a PEM"):
        TrustStore.from_pem_files([bad])
    with pytest.raises(TrustError, match="cannot read"):
        TrustStore.from_pem_files([tmp_path / "missing.pem"])


@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_garbage_blob_only_raises_trust_error(mds: MdsSigner, data: bytes) -> None:
    with pytest.raises(TrustError):
        TrustStore.from_mds_blob(data, mds.root, NOW)
