"""oath suite: codes. The YKOATH applet of a key in a PC/SC reader computes RFC 6238 / RFC 4226
codes from the challenge the client sends.

RFC test vectors through the applet (all three hashes, 8 digits; HOTP's counter from 0 and from
an initial moving factor), the whole HMAC against the truncated answer for 6, 7 and 8 digits,
CALCULATE ALL (TOTP computed, HOTP and touch accounts only named), accounts whose name carries
a period other than 30 s, and touch-required accounts (a person touches a real key; the
emulated card is touched, or the touch withheld, through its control socket).
Non-destructive: only `tokenbench-…` accounts are added, and deleted afterwards.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from tokenbench.bench.suites._oath import (
    Account,
    Algorithm,
    OathSession,
    OathType,
    Sw,
    Tag,
    account_name,
    dynamic_truncation,
    format_code,
    hotp,
    totp_challenge,
)
from tokenbench.bench.suites._oath_suite import NOW, suite_account, sw_of, unlocked_applet

pytestmark = pytest.mark.target_kind("key")

RFC6238_SEEDS = {
    Algorithm.SHA1: b"12345678901234567890",
    Algorithm.SHA256: b"12345678901234567890123456789012",
    Algorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_CODES = {  # RFC 6238 Appendix B: time -> (SHA1, SHA256, SHA512), 8 digits
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}
RFC4226_SEED = RFC6238_SEEDS[Algorithm.SHA1]
RFC4226_CODES = (  # RFC 4226 Appendix D: counter 0..9, 6 digits
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
)  # fmt: skip


@pytest.fixture
def oath(ctap_device: Any) -> Iterator[OathSession]:
    with unlocked_applet(ctap_device) as session:
        yield session


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.name)
def test_rfc6238_vectors(oath: OathSession, algorithm: Algorithm) -> None:
    name = suite_account(f"rfc6238-{algorithm.name}")
    oath.put(Account(name, RFC6238_SEEDS[algorithm], algorithm=algorithm, digits=8))
    column = list(Algorithm).index(algorithm)
    for moment, codes in RFC6238_CODES.items():
        answer = oath.calculate(name, totp_challenge(moment))
        assert format_code(answer) == codes[column], f"{algorithm.name} code at t={moment}"


def test_rfc4226_hotp_counter_moves(oath: OathSession) -> None:
    name = suite_account("rfc4226")
    oath.put(Account(name, RFC4226_SEED, oath_type=OathType.HOTP))
    codes = [format_code(oath.calculate(name, b"")) for _ in RFC4226_CODES]
    assert codes == list(RFC4226_CODES), "HOTP codes for counters 0..9 (RFC 4226 Appendix D)"


def test_hotp_initial_moving_factor(oath: OathSession) -> None:
    name = suite_account("hotp-imf")
    oath.put(Account(name, RFC4226_SEED, oath_type=OathType.HOTP, counter=5))
    codes = [format_code(oath.calculate(name, b"")) for _ in range(3)]
    assert codes == list(RFC4226_CODES[5:8]), "HOTP from an initial moving factor of 5"


@pytest.mark.parametrize("digits", [6, 7, 8])
def test_full_response_and_truncation(oath: OathSession, digits: int) -> None:
    """P2=0 answers the whole HMAC (tag 75); P2=1 its RFC 4226 dynamic truncation (tag 76)."""
    name = suite_account(f"digits-{digits}")
    seed = bytes(range(1, 21))
    oath.put(Account(name, seed, digits=digits))
    challenge = totp_challenge(NOW)
    full = oath.calculate(name, challenge, truncate=False)
    assert full[0] == digits, f"the answer says {full[0]} digits"
    assert full[1:] == hmac.new(seed, challenge, "sha1").digest(), "HMAC-SHA1 of the challenge"
    truncated = oath.calculate(name, challenge)
    assert truncated[0] == digits
    assert int.from_bytes(truncated[1:], "big") & 0x7FFFFFFF == dynamic_truncation(full[1:])
    code = format_code(truncated)
    assert len(code) == digits
    assert code == hotp(seed, NOW // 30, digits)


def test_calculate_all_computes_totp_only(oath: OathSession) -> None:
    """TOTP accounts get their truncated code; HOTP (tag 77) and touch (tag 7C) accounts are
    only named, and a HOTP counter does not move."""
    seed = bytes(range(40, 60))
    totp_name = suite_account("all-totp")
    hotp_name = suite_account("all-hotp")
    touch_name = suite_account("all-touch")
    oath.put(Account(totp_name, seed))
    oath.put(Account(hotp_name, RFC4226_SEED, oath_type=OathType.HOTP))
    oath.put(Account(touch_name, seed, touch=True))
    entries = {e.name: e for e in oath.calculate_all(totp_challenge(NOW))}
    assert {totp_name, hotp_name, touch_name} <= set(entries), "an account is missing"
    assert entries[totp_name].tag == Tag.TRUNCATED
    assert format_code(entries[totp_name].value) == hotp(seed, NOW // 30)
    assert entries[hotp_name].tag == Tag.HOTP, "a HOTP account was computed by CALCULATE ALL"
    assert entries[touch_name].tag == Tag.TOUCH, "a touch account was computed without touch"
    assert format_code(oath.calculate(hotp_name, b"")) == RFC4226_CODES[0], (
        "CALCULATE ALL moved the HOTP counter"
    )


@pytest.mark.parametrize("period", [15, 60])
def test_period_in_the_name(oath: OathSession, period: int) -> None:
    """A period other than 30 s lives in the name (`15/issuer:name`), where clients read it
    back: the applet keeps the name as given, and the code follows the client's challenge."""
    seed = bytes(range(60, 80))
    name = account_name("period", "tokenbench-oath", OathType.TOTP, period)
    oath.put(Account(name, seed))
    assert name in [entry.name for entry in oath.list_accounts()], f"LIST lost the {period}/ prefix"
    code = format_code(oath.calculate(name, totp_challenge(NOW, period)))
    assert code == hotp(seed, NOW // period)
    entries = {e.name: e for e in oath.calculate_all(totp_challenge(NOW))}
    assert name in entries, "CALCULATE ALL lost the period prefix"


def test_touch_required_account(oath: OathSession, key_target: Any) -> None:
    """CALCULATE of a touch account waits for the touch (person, or the emulator's control
    socket) and then answers the right code."""
    seed = bytes(range(80, 100))
    name = suite_account("touch")
    oath.put(Account(name, seed, touch=True))
    done = key_target.presence_needed()
    try:
        answer = oath.calculate(name, totp_challenge(NOW))
    finally:
        if done is not None:
            done()
    assert format_code(answer) == hotp(seed, NOW // 30)


def test_touch_account_without_touch_is_refused(oath: OathSession, key_target: Any) -> None:
    """With the touch withheld, CALCULATE of a touch account answers 6982 and no code; the
    account still works once touched."""
    seed = bytes(range(100, 120))
    name = suite_account("no-touch")
    oath.put(Account(name, seed, touch=True))
    if not key_target.withhold_presence():
        pytest.skip("unclaimed: this target cannot withhold a touch (a person or NFC tap)")
    sw = sw_of(lambda: oath.calculate(name, totp_challenge(NOW)))
    assert sw == Sw.SECURITY_CONDITION, f"CALCULATE without the touch answered {sw:04X}"
    done = key_target.presence_needed()
    try:
        assert format_code(oath.calculate(name, totp_challenge(NOW))) == hotp(seed, NOW // 30)
    finally:
        if done is not None:
            done()
