"""TOTP decisions: RFC 6238 vectors, windows, drift, replay, lockout, parsing properties."""

from __future__ import annotations

import base64
import hashlib

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.verifier.totp import (
    InMemoryVerifier,
    Outcome,
    TotpKey,
    TotpParams,
    TotpState,
    VerifyPolicy,
    after_failure,
    after_success,
    is_code_shaped,
    verify,
    verify_consecutive,
)

SHA1_KEY = b"12345678901234567890"
SHA256_KEY = b"12345678901234567890123456789012"
SHA512_KEY = (b"1234567890" * 7)[:64]
# RFC 6238 appendix B: (time, SHA1, SHA256, SHA512), 8 digits, 30 s steps.
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("when", "sha1", "sha256", "sha512"), RFC6238)
def test_rfc6238_vectors(when: int, sha1: str, sha256: str, sha512: str) -> None:
    for secret, algorithm, expected in (
        (SHA1_KEY, "SHA1", sha1),
        (SHA256_KEY, "SHA256", sha256),
        (SHA512_KEY, "SHA512", sha512),
    ):
        key = TotpKey(secret, TotpParams(algorithm, 8, 30))
        assert key.code_at_step(key.step_at(when)) == expected


def test_long_key_is_hashed_like_hmac() -> None:
    secret = bytes(range(100))  # longer than SHA1's 64-byte block
    key = TotpKey(secret)
    otp = pyotp.TOTP(base64.b32encode(secret).decode())
    assert key.code_at_step(key.step_at(NOW)) == otp.at(NOW)


@pytest.mark.parametrize("period", [15, 30, 60, 90])
def test_any_period(period: int) -> None:
    key = TotpKey(SHA1_KEY, TotpParams(period=period))
    otp = pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", interval=period)
    assert verify(key, TotpState(), otp.at(NOW), NOW).accepted


def _key() -> TotpKey:
    return TotpKey(SHA1_KEY)


def test_window_default_one_step_each_side() -> None:
    key = _key()
    step = key.step_at(NOW)
    for offset in (-1, 0, 1):
        verdict = verify(key, TotpState(), key.code_at_step(step + offset), NOW)
        assert verdict.accepted and verdict.drift_steps == offset
    for offset in (-2, 2):
        assert verify(key, TotpState(), key.code_at_step(step + offset), NOW).outcome is (
            Outcome.INVALID
        )


def test_window_configurable() -> None:
    key = _key()
    code = key.code_at_step(key.step_at(NOW) + 3)
    assert not verify(key, TotpState(), code, NOW, VerifyPolicy(window=2)).accepted
    assert verify(key, TotpState(), code, NOW, VerifyPolicy(window=3)).accepted


def test_window_follows_learned_drift() -> None:
    key = _key()
    step = key.step_at(NOW)
    drifted = TotpState(drift_steps=10)
    assert verify(key, drifted, key.code_at_step(step + 11), NOW).drift_steps == 11
    assert not verify(key, drifted, key.code_at_step(step), NOW).accepted


def test_replay_refused_at_and_before_last_step() -> None:
    key = _key()
    step = key.step_at(NOW)
    state = TotpState(last_step=step)
    assert verify(key, state, key.code_at_step(step), NOW).outcome is Outcome.REPLAYED
    assert verify(key, state, key.code_at_step(step - 1), NOW).outcome is Outcome.REPLAYED
    assert verify(key, state, key.code_at_step(step + 1), NOW).accepted


def test_in_memory_verifier_accepts_a_code_once() -> None:
    verifier = InMemoryVerifier(_key())
    code = verifier.key.code_at_step(verifier.key.step_at(NOW))
    assert verifier.check(code, NOW)
    assert not verifier.check(code, NOW)
    assert not verifier.check(code, NOW + 29)


def test_lockout_and_cooldown() -> None:
    key = _key()
    policy = VerifyPolicy(lockout_limit=3, lockout_cooldown=120)
    good = key.code_at_step(key.step_at(NOW))
    state = TotpState()
    for _ in range(3):
        assert not verify(key, state, "000000" if good != "000000" else "111111", NOW).accepted
        state = after_failure(state, NOW, policy)
    assert state.locked_until == NOW + 120
    assert verify(key, state, good, NOW, policy).outcome is Outcome.LOCKED
    later = NOW + 121
    fresh = key.code_at_step(key.step_at(later))
    verdict = verify(key, state, fresh, later, policy)
    assert verdict.accepted
    assert after_success(state, verdict).failed_attempts == 0
    # after the cool-down the count starts again: one failure does not re-lock
    assert after_failure(state, later, policy).locked_until is None


def test_consecutive_codes_find_a_far_drift() -> None:
    key = _key()
    step = key.step_at(NOW) + 105  # +50 ppm for two years
    verdict = verify_consecutive(
        key, TotpState(), key.code_at_step(step), key.code_at_step(step + 1), NOW
    )
    assert verdict.accepted and verdict.step == step + 1 and verdict.drift_steps == 106
    # codes in the wrong order, or not consecutive, fail
    assert not verify_consecutive(
        key, TotpState(), key.code_at_step(step + 1), key.code_at_step(step), NOW
    ).accepted
    assert not verify_consecutive(
        key, TotpState(), key.code_at_step(step), key.code_at_step(step + 2), NOW
    ).accepted


def test_consecutive_window_is_configurable() -> None:
    key = _key()
    step = key.step_at(NOW) + 20
    codes = key.code_at_step(step), key.code_at_step(step + 1)
    narrow, wide = VerifyPolicy(resync_window=10), VerifyPolicy(resync_window=20)
    assert not verify_consecutive(key, TotpState(), *codes, NOW, narrow).accepted
    assert verify_consecutive(key, TotpState(), *codes, NOW, wide).accepted


def test_params_validation() -> None:
    with pytest.raises(ValueError):
        TotpParams(digits=7)
    with pytest.raises(ValueError):
        TotpParams(algorithm="MD5")
    with pytest.raises(ValueError):
        TotpParams(period=0)
    assert TotpParams(algorithm="sha-256").algorithm == "SHA256"


@given(st.text(max_size=12))
def test_malformed_codes_never_match(code: str) -> None:
    key = _key()
    if not is_code_shaped(code, 6):
        assert verify(key, TotpState(), code, NOW).outcome is Outcome.INVALID


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(["SHA1", "SHA256", "SHA512"]))
def test_codes_match_pyotp(step: int, algorithm: str) -> None:
    key = TotpKey(SHA512_KEY, TotpParams(algorithm, 6, 30))
    otp = pyotp.TOTP(
        base64.b32encode(SHA512_KEY).decode(), digest=getattr(hashlib, algorithm.lower())
    )
    assert key.code_at_step(step) == otp.generate_otp(step)


@given(
    st.integers(min_value=-300, max_value=300),
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=0, max_value=3),
)
def test_window_property(drift: int, offset: int, window: int) -> None:
    """A code `offset` steps from the learned drift is accepted iff |offset| <= window."""
    key = _key()
    step = key.step_at(NOW) + drift + offset
    verdict = verify(
        key, TotpState(drift_steps=drift), key.code_at_step(step), NOW, VerifyPolicy(window=window)
    )
    # (a different step's code can collide with probability ~1e-6 per step; these are fixed keys)
    assert verdict.accepted == (abs(offset) <= window)
    if verdict.accepted:
        assert verdict.step == step and verdict.drift_steps == drift + offset
