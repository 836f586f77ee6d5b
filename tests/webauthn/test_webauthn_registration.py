"""Registration checks: each accepted case, and each check refusing the one thing it guards."""

from __future__ import annotations

from hashlib import sha256

import pytest
from fido2.cose import ES256, RS256, EdDSA
from webauthn_factory import AAGUID, AT, BE, BS, ORIGIN, RP_ID, UP, UV, Pki, SoftKey, register

from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import (
    RelyingPartyPolicy,
    WebAuthnError,
    classify,
    registration_options,
    verify_registration,
)

CHALLENGE = b"\x11" * 32


def policy(**kw) -> RelyingPartyPolicy:
    return RelyingPartyPolicy(rp_id=RP_ID, origins=frozenset({ORIGIN}), **kw)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create()


def refuse(code: str, pol: RelyingPartyPolicy, reg, challenge: bytes = CHALLENGE) -> WebAuthnError:
    with pytest.raises(WebAuthnError) as info:
        verify_registration(pol, challenge, reg.client_data_json, reg.attestation_object)
    assert info.value.code == code, str(info.value)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("alg", [ES256.ALGORITHM, EdDSA.ALGORITHM, RS256.ALGORITHM])
def test_packed_self_attestation_accepted_untrusted(alg: int) -> None:
    reg = register(CHALLENGE, "packed-self", key=SoftKey(alg=alg))
    cred = verify_registration(policy(), CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert cred.credential_id == reg.key.credential_id
    assert cred.attestation_format == "packed"
    assert cred.attestation_trusted is False
    assert cred.trust_path_subject is None
    assert cred.aaguid == AAGUID
    assert cred.user_verified is True
    assert cred.public_key == reg.key.cose_bytes


def test_none_attestation_accepted_untrusted() -> None:
    reg = register(CHALLENGE, "none")
    cred = verify_registration(policy(), CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert (cred.attestation_format, cred.attestation_trusted) == ("none", False)


def test_packed_batch_trusted_by_configured_root(pki: Pki) -> None:
    reg = register(CHALLENGE, "packed", pki=pki)
    trust = TrustStore.from_certificates([pki.root])
    pol = policy(trust=trust, require_trusted_attestation=True)
    cred = verify_registration(pol, CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert cred.attestation_trusted is True
    assert "Batch 1" in (cred.trust_path_subject or "")


def test_fido_u2f_trusted_by_configured_root(pki: Pki) -> None:
    reg = register(CHALLENGE, "fido-u2f", pki=pki, flags=UP | AT)
    pol = policy(trust=TrustStore.from_certificates([pki.root]))
    cred = verify_registration(pol, CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert (cred.attestation_format, cred.attestation_trusted) == ("fido-u2f", True)
    assert cred.aaguid == bytes(16)


def test_trust_from_pem_files(tmp_path, pki: Pki) -> None:
    from webauthn_factory import pem

    path = tmp_path / "root.pem"
    path.write_bytes(pem(pki.root))
    reg = register(CHALLENGE, "packed", pki=pki)
    pol = policy(trust=TrustStore.from_pem_files([path]))
    cred = verify_registration(pol, CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert cred.attestation_trusted is True


def test_batch_from_other_vendor_untrusted_and_refused_when_required(pki: Pki) -> None:
    other = Pki.create(vendor="Other Root CA")
    reg = register(CHALLENGE, "packed", pki=other)
    lax = policy(trust=TrustStore.from_certificates([pki.root]))
    cred = verify_registration(lax, CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert cred.attestation_trusted is False
    strict = policy(
        trust=TrustStore.from_certificates([pki.root]), require_trusted_attestation=True
    )
    refuse("untrusted-attestation", strict, reg)


def test_same_subject_different_key_is_not_trusted(pki: Pki) -> None:
    """An impostor root with the trusted root's name must not anchor the chain."""
    impostor = Pki.create()  # same vendor name, different keys
    reg = register(CHALLENGE, "packed", pki=impostor)
    strict = policy(
        trust=TrustStore.from_certificates([pki.root]), require_trusted_attestation=True
    )
    refuse("untrusted-attestation", strict, reg)


def test_virtual_authenticator_self_signed_batch_is_untrusted(pki: Pki) -> None:
    virtual = Pki.self_signed_batch()
    reg = register(CHALLENGE, "packed", pki=virtual)
    pol = policy(trust=TrustStore.from_certificates([pki.root]))
    cred = verify_registration(pol, CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert cred.attestation_trusted is False
    assert "Virtual Authenticator" in (cred.trust_path_subject or "")
    refuse("untrusted-attestation", policy(require_trusted_attestation=True), reg)


def test_self_attestation_refused_when_trust_required(pki: Pki) -> None:
    pol = policy(trust=TrustStore.from_certificates([pki.root]), require_trusted_attestation=True)
    refuse("untrusted-attestation", pol, register(CHALLENGE, "packed-self"))
    refuse("untrusted-attestation", pol, register(CHALLENGE, "none"))
    lax = policy(trust=TrustStore.from_certificates([pki.root]))
    for fmt, reason in (("packed-self", "self attestation"), ("none", "no attestation")):
        reg = register(CHALLENGE, fmt)
        cred = verify_registration(lax, CHALLENGE, reg.client_data_json, reg.attestation_object)
        assert cred.attestation_reason == reason


def test_expired_batch_certificate_untrusted(pki: Pki) -> None:
    import datetime as dt

    from webauthn_factory import NOW

    trust = TrustStore.from_certificates([pki.root], now=NOW + dt.timedelta(days=365 * 30))
    reg = register(CHALLENGE, "packed", pki=pki)
    refuse("untrusted-attestation", policy(trust=trust, require_trusted_attestation=True), reg)


def test_wrong_challenge() -> None:
    refuse("challenge-mismatch", policy(), register(b"\x22" * 32))


def test_wrong_origin() -> None:
    refuse("origin-mismatch", policy(), register(CHALLENGE, origin="https://evil.example"))


def test_wrong_type() -> None:
    refuse("type-mismatch", policy(), register(CHALLENGE, type_="webauthn.get"))


def test_wrong_rp_id_hash() -> None:
    refuse("rp-id-mismatch", policy(), register(CHALLENGE, rp_id="evil.example"))


def test_user_presence_missing() -> None:
    refuse("user-presence-missing", policy(), register(CHALLENGE, flags=UV | AT))


def test_user_verification_policy() -> None:
    reg = register(CHALLENGE, flags=UP | AT)
    refuse("user-verification-missing", policy(user_verification="required"), reg)
    for lenient in ("preferred", "discouraged"):
        pol = policy(user_verification=lenient)
        cred = verify_registration(pol, CHALLENGE, reg.client_data_json, reg.attestation_object)
        assert cred.user_verified is False


def test_attested_credential_data_required() -> None:
    refuse("malformed", policy(), register(CHALLENGE, "none", flags=UP | UV))


def test_bad_attestation_signature(pki: Pki) -> None:
    refuse("signature-invalid", policy(), register(CHALLENGE, "packed-self", tamper_signature=True))
    refuse(
        "signature-invalid", policy(), register(CHALLENGE, "packed", pki=pki, tamper_signature=True)
    )
    bad_u2f = register(CHALLENGE, "fido-u2f", pki=pki, flags=UP | AT, tamper_signature=True)
    refuse("signature-invalid", policy(), bad_u2f)


def test_batch_aaguid_must_match_auth_data(pki: Pki) -> None:
    reg = register(CHALLENGE, "packed", pki=pki, aaguid=b"\x99" * 16)
    refuse("malformed", policy(), reg)


def test_unsupported_algorithm_refused() -> None:
    """Ed448 (-53) is a COSE signature algorithm the verifier does not offer or accept."""
    from cryptography.hazmat.primitives.asymmetric import ed448
    from fido2.cose import Ed448

    class Ed448Key(SoftKey):
        @property
        def cose(self):
            return Ed448.from_cryptography_key(self.private.public_key())

    key = Ed448Key(alg=ES256.ALGORITHM, private=ed448.Ed448PrivateKey.generate())
    refuse("unsupported-algorithm", policy(), register(CHALLENGE, "none", key=key))


def test_credential_id_too_long() -> None:
    key = SoftKey(credential_id=b"\x01" * 1024)
    refuse("malformed", policy(), register(CHALLENGE, "none", key=key))
    ok = SoftKey(credential_id=b"\x01" * 1023)
    reg = register(CHALLENGE, "none", key=ok)
    cred = verify_registration(policy(), CHALLENGE, reg.client_data_json, reg.attestation_object)
    assert len(cred.credential_id) == 1023


def test_backup_flags_classify() -> None:
    for flags, kind in (
        (UP | AT, "device-bound"),
        (UP | AT | BE, "synced"),
        (UP | AT | BE | BS, "synced"),
    ):
        reg = register(CHALLENGE, "none", flags=flags)
        cred = verify_registration(
            policy(), CHALLENGE, reg.client_data_json, reg.attestation_object
        )
        assert classify(cred.backup_eligible, cred.backup_state) == kind == cred.kind
    refuse("malformed", policy(), register(CHALLENGE, "none", flags=UP | AT | BS))
    with pytest.raises(WebAuthnError):
        classify(False, True)


def test_unknown_format_refused() -> None:
    from fido2 import cbor

    reg = register(CHALLENGE, "none")
    decoded = cbor.decode(reg.attestation_object)
    decoded["fmt"] = "android-safetynet-ish"
    with pytest.raises(WebAuthnError) as info:
        verify_registration(policy(), CHALLENGE, reg.client_data_json, cbor.encode(decoded))
    assert info.value.code == "malformed"


def test_registration_options_shape() -> None:
    pol = policy(user_verification="required")
    opts = registration_options(pol, b"user-1", "alice", CHALLENGE, [b"old-cred"])
    assert opts["rp"]["id"] == RP_ID
    assert [p["alg"] for p in opts["pubKeyCredParams"]] == [
        -7,
        -8,
        -257,
        -35,
        -36,
        -47,
        -37,
        -48,
        -49,
        -50,
    ]
    assert opts["excludeCredentials"][0]["id"] == "b2xkLWNyZWQ"
    assert opts["authenticatorSelection"]["userVerification"] == "required"
    assert opts["challenge"] == "ERERERERERERERERERERERERERERERERERERERERERE"
    assert sha256(RP_ID.encode()).digest()  # rp id is hashed by the authenticator, not here


def test_policy_rejects_bad_uv_value() -> None:
    with pytest.raises(ValueError):
        policy(user_verification="sometimes")


def test_short_rsa_key_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = SoftKey(alg=RS256.ALGORITHM, private=rsa.generate_private_key(65537, 1024))
    refuse("unsupported-algorithm", policy(), register(CHALLENGE, "none", key=weak))


def test_cose_key_with_wrong_curve_refused() -> None:
    from fido2 import cbor

    reg = register(CHALLENGE, "none")
    decoded = cbor.decode(reg.attestation_object)
    auth_data = decoded["authData"]
    cose_start = 37 + 16 + 2 + len(reg.key.credential_id)
    cose = cbor.decode(auth_data[cose_start:])
    cose[-1] = 2  # P-384 curve id on an ES256 key
    decoded["authData"] = auth_data[:cose_start] + cbor.encode(cose)
    with pytest.raises(WebAuthnError) as info:
        verify_registration(policy(), CHALLENGE, reg.client_data_json, cbor.encode(decoded))
    assert info.value.code == "unsupported-algorithm"
