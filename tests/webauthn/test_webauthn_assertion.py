"""Assertion checks: the valid sign-in, and each check refusing the one thing it guards."""

from __future__ import annotations

import dataclasses

import pytest
from fido2.cose import ES256, RS256, EdDSA
from hypothesis import given
from hypothesis import strategies as st
from webauthn_factory import BE, BS, ORIGIN, RP_ID, UP, UV, SoftKey, assert_

from tokenbench.verifier.webauthn import (
    AssertionResult,
    CounterRegression,
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    authentication_options,
    new_challenge,
    verify_assertion,
)

CHALLENGE = b"\x33" * 32
USER = b"user-handle-1"


def policy(**kw) -> RelyingPartyPolicy:
    return RelyingPartyPolicy(rp_id=RP_ID, origins=frozenset({ORIGIN}), **kw)


def stored_for(
    key: SoftKey, sign_count: int = 0, backup_eligible: bool = False
) -> StoredCredential:
    return StoredCredential(key.credential_id, key.cose_bytes, sign_count, backup_eligible, USER)


@pytest.fixture(scope="module")
def key() -> SoftKey:
    return SoftKey()


def check(pol, stored, a, challenge=CHALLENGE) -> AssertionResult:
    return verify_assertion(pol, challenge, stored, *a.args())


def refuse(code: str, pol, stored, a, challenge=CHALLENGE) -> WebAuthnError:
    with pytest.raises(WebAuthnError) as info:
        check(pol, stored, a, challenge)
    assert info.value.code == code, str(info.value)
    return info.value


@pytest.mark.parametrize("alg", [ES256.ALGORITHM, EdDSA.ALGORITHM, RS256.ALGORITHM])
def test_valid_assertion(alg: int) -> None:
    k = SoftKey(alg=alg)
    result = check(policy(), stored_for(k, 4), assert_(k, CHALLENGE, counter=5, user_handle=USER))
    assert result == AssertionResult(new_sign_count=5, user_verified=True, backup_state=False)


def test_wrong_challenge(key: SoftKey) -> None:
    refuse("challenge-mismatch", policy(), stored_for(key), assert_(key, b"\x44" * 32))


def test_wrong_origin(key: SoftKey) -> None:
    a = assert_(key, CHALLENGE, origin="https://example.com.evil.test")
    refuse("origin-mismatch", policy(), stored_for(key), a)


def test_several_origins_allowed(key: SoftKey) -> None:
    pol = RelyingPartyPolicy(RP_ID, frozenset({ORIGIN, "https://login.example.com"}))
    a = assert_(key, CHALLENGE, origin="https://login.example.com")
    assert check(pol, stored_for(key), a).new_sign_count == 1


def test_wrong_type(key: SoftKey) -> None:
    refuse(
        "type-mismatch", policy(), stored_for(key), assert_(key, CHALLENGE, type_="webauthn.create")
    )


def test_wrong_rp_id_hash(key: SoftKey) -> None:
    refuse(
        "rp-id-mismatch", policy(), stored_for(key), assert_(key, CHALLENGE, rp_id="evil.example")
    )


def test_user_presence_missing(key: SoftKey) -> None:
    refuse("user-presence-missing", policy(), stored_for(key), assert_(key, CHALLENGE, flags=UV))


def test_user_verification_required(key: SoftKey) -> None:
    a = assert_(key, CHALLENGE, flags=UP)
    refuse("user-verification-missing", policy(user_verification="required"), stored_for(key), a)
    assert check(policy(user_verification="preferred"), stored_for(key), a).user_verified is False
    assert check(policy(user_verification="discouraged"), stored_for(key), a).user_verified is False


def test_bad_signature(key: SoftKey) -> None:
    refuse(
        "signature-invalid",
        policy(),
        stored_for(key),
        assert_(key, CHALLENGE, tamper_signature=True),
    )


def test_signature_by_another_key(key: SoftKey) -> None:
    other = SoftKey(credential_id=key.credential_id)
    refuse("signature-invalid", policy(), stored_for(key), assert_(other, CHALLENGE))


def test_garbage_signature(key: SoftKey) -> None:
    a = dataclasses.replace(assert_(key, CHALLENGE), signature=b"\x30\x03junk")
    refuse("signature-invalid", policy(), stored_for(key), a)


def test_counter_regression_refused(key: SoftKey) -> None:
    for received in (7, 6, 0):
        with pytest.raises(CounterRegression) as info:
            check(policy(), stored_for(key, 7), assert_(key, CHALLENGE, counter=received))
        assert info.value.code == "counter-regression"


def test_counter_regression_allowed_is_flagged_and_never_lowers(key: SoftKey) -> None:
    result = check(
        policy(allow_counter_regression=True),
        stored_for(key, 7),
        assert_(key, CHALLENGE, counter=3),
    )
    assert result.counter_regressed is True
    assert result.new_sign_count == 7


def test_zero_counters_are_accepted(key: SoftKey) -> None:
    """Authenticators without a counter always send 0; that is not a regression."""
    result = check(policy(), stored_for(key, 0), assert_(key, CHALLENGE, counter=0))
    assert (result.new_sign_count, result.counter_regressed) == (0, False)


def test_backup_eligibility_change_refused(key: SoftKey) -> None:
    refuse(
        "backup-eligibility-changed",
        policy(),
        stored_for(key, backup_eligible=False),
        assert_(key, CHALLENGE, flags=UP | BE),
    )
    refuse(
        "backup-eligibility-changed",
        policy(),
        stored_for(key, backup_eligible=True),
        assert_(key, CHALLENGE, flags=UP),
    )


def test_backup_state_reported_for_synced(key: SoftKey) -> None:
    result = check(
        policy(), stored_for(key, backup_eligible=True), assert_(key, CHALLENGE, flags=UP | BE | BS)
    )
    assert result.backup_state is True


def test_backup_state_without_eligibility_is_invalid(key: SoftKey) -> None:
    refuse("malformed", policy(), stored_for(key), assert_(key, CHALLENGE, flags=UP | BS))


def test_credential_and_user_handle_must_match(key: SoftKey) -> None:
    a = assert_(key, CHALLENGE, user_handle=b"someone-else")
    refuse("malformed", policy(), stored_for(key), a)
    a = dataclasses.replace(assert_(key, CHALLENGE), credential_id=b"other-credential")
    refuse("malformed", policy(), stored_for(key), a)


def test_one_key_many_identities() -> None:
    """One authenticator, two credentials (two users): each verifies only with its own key."""
    alice = SoftKey(credential_id=b"alice-cred")
    bob = SoftKey(credential_id=b"bob-cred", aaguid=alice.aaguid)
    sa = StoredCredential(alice.credential_id, alice.cose_bytes, 0, False, b"alice")
    sb = StoredCredential(bob.credential_id, bob.cose_bytes, 0, False, b"bob")
    assert (
        check(
            policy(), sa, assert_(alice, CHALLENGE, counter=1, user_handle=b"alice")
        ).new_sign_count
        == 1
    )
    assert (
        check(policy(), sb, assert_(bob, CHALLENGE, counter=2, user_handle=b"bob")).new_sign_count
        == 2
    )
    crossed = dataclasses.replace(
        assert_(bob, CHALLENGE, counter=3), credential_id=alice.credential_id
    )
    refuse("signature-invalid", policy(), sa, crossed)


def test_unsupported_stored_key_algorithm(key: SoftKey) -> None:
    from fido2 import cbor

    cose = dict(key.cose)
    cose[3] = -35
    stored = StoredCredential(key.credential_id, cbor.encode(cose), 0, False, USER)
    refuse("unsupported-algorithm", policy(), stored, assert_(key, CHALLENGE))
    stored = StoredCredential(key.credential_id, b"\xff\x00", 0, False, USER)
    refuse("malformed", policy(), stored, assert_(key, CHALLENGE))


def test_options_and_challenge() -> None:
    c = new_challenge()
    assert len(c) == 32 and c != new_challenge()
    assert new_challenge(lambda n: b"\x01" * n) == b"\x01" * 32
    opts = authentication_options(policy(user_verification="discouraged"), c, [b"a", b"b"])
    assert opts["rpId"] == RP_ID
    assert [d["id"] for d in opts["allowCredentials"]] == ["YQ", "Yg"]
    assert opts["userVerification"] == "discouraged"


COUNTER_KEY = SoftKey(credential_id=b"counter-cred")


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.booleans())
def test_counter_rule(stored_count: int, received: int, allow: bool) -> None:
    """Accepted iff it grows (or both are 0); the counter to store never goes down."""
    pol = policy(allow_counter_regression=allow)
    grows = received > stored_count or received == stored_count == 0
    a = assert_(COUNTER_KEY, CHALLENGE, counter=received)
    try:
        result = check(pol, stored_for(COUNTER_KEY, stored_count), a)
    except CounterRegression:
        assert not grows and not allow
        return
    assert result.new_sign_count >= stored_count
    assert result.counter_regressed is (not grows)
    assert result.new_sign_count == (received if grows else stored_count)
