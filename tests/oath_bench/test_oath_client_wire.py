"""The bench's YKOATH client (`bench/suites/_oath.py`) without a card: its TLV codec, code
arithmetic and the names and keys it derives, checked against RFC 4226's own intermediate
values and against yubikit (yubikey-manager's library, installed for the dev extra) as an
independent implementation of the same protocol."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yubikit import oath as yubikit_oath

from tokenbench.bench.suites._oath import (
    Account,
    Algorithm,
    OathError,
    OathSession,
    OathType,
    SelectAnswer,
    Tag,
    account_name,
    applet_key,
    derive_access_key,
    dynamic_truncation,
    format_code,
    hotp,
    parse_tlvs,
    tlv,
    totp_challenge,
)

RFC4226_DIGEST_0 = bytes.fromhex("cc93cf18508d94934c64b65d8ba7667fb7cde4b0")  # counter 0


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=600)), max_size=6))
def test_tlv_round_trip(items: list[tuple[int, bytes]]) -> None:
    encoded = b"".join(tlv(tag, value) for tag, value in items)
    assert parse_tlvs(encoded) == items


@given(st.binary(max_size=300))
def test_parse_tlvs_refuses_garbage_with_value_error_only(data: bytes) -> None:
    try:
        parsed = parse_tlvs(data)
    except ValueError:
        return
    assert sum(len(v) for _, v in parsed) <= len(data)


def test_rfc4226_truncation_and_codes() -> None:
    assert dynamic_truncation(RFC4226_DIGEST_0) == 0x4C93CF18  # RFC 4226 Appendix D
    assert format_code(b"\x06" + (0x4C93CF18).to_bytes(4, "big")) == "755224"
    assert format_code(b"\x08" + (0xCC93CF18).to_bytes(4, "big")) == "84755224"  # top bit off
    assert hotp(b"12345678901234567890", 9) == "520489"
    assert hotp(b"12345678901234567890", 59 // 30, 8) == "94287082"  # RFC 6238, SHA1, t=59
    with pytest.raises(ValueError):
        format_code(b"\x06\x00")


@pytest.mark.parametrize(
    ("name", "issuer", "oath_type", "period"),
    [
        ("alice", "Example", OathType.TOTP, 30),
        ("alice", None, OathType.TOTP, 15),
        ("bob", "Shop", OathType.TOTP, 60),
        ("carol", "Bank", OathType.HOTP, 30),
    ],
)
def test_account_names_match_yubikit(name, issuer, oath_type, period) -> None:
    theirs = yubikit_oath._format_cred_id(issuer, name, yubikit_oath.OATH_TYPE(oath_type), period)
    assert account_name(name, issuer, oath_type, period) == theirs


def test_access_key_and_hmac_key_match_yubikit() -> None:
    salt = bytes(range(8))
    assert derive_access_key(salt, "päss") == yubikit_oath._derive_key(salt, "päss")
    for algorithm in Algorithm:
        for secret in (b"short", bytes(64), bytes(range(200))):
            theirs = yubikit_oath._hmac_shorten_key(
                secret, yubikit_oath.HASH_ALGORITHM(algorithm)
            ).ljust(yubikit_oath.HMAC_MINIMUM_KEY_SIZE, b"\0")
            assert applet_key(secret, algorithm) == theirs


def test_put_data_layout() -> None:
    account = Account(b"n", b"k" * 20, OathType.HOTP, Algorithm.SHA256, 8, touch=True, counter=7)
    fields = parse_tlvs(account.put_data()[:-8])  # name and key TLVs
    assert fields[0] == (Tag.NAME, b"n")
    assert fields[1] == (Tag.KEY, bytes((0x12, 8)) + b"k" * 20)
    assert account.put_data()[-8:] == bytes((Tag.PROPERTY, 0x02)) + tlv(Tag.IMF, b"\0\0\0\x07")
    assert "k" * 20 not in repr(account), "the seed shows in repr"


def test_totp_challenge() -> None:
    assert totp_challenge(59) == (1).to_bytes(8, "big")
    assert totp_challenge(20000000000) == (666666666).to_bytes(8, "big")
    assert totp_challenge(100, 15) == (6).to_bytes(8, "big")


class ScriptedCard:
    """A stand-in for the card's transmit with fixed answers (a unit test of the chaining
    logic only; the real applet is exercised by the suite over pcscd)."""

    def __init__(self, answers: list[tuple[bytes, int]]) -> None:
        self.answers = answers
        self.sent: list[bytes] = []

    def __call__(self, command: bytes) -> tuple[bytes, int]:
        self.sent.append(command)
        return self.answers.pop(0)


def test_send_remaining_follows_61xx() -> None:
    card = ScriptedCard([(b"\x72\x02\x21", 0x6102), (b"a", 0x9000)])
    session = OathSession(card)
    assert session.call(0xA1) == b"\x72\x02\x21a"
    assert card.sent[1][:2] == b"\x00\xa5", "the rest is fetched with SEND REMAINING"


def test_error_status_raises_with_the_sw() -> None:
    session = OathSession(ScriptedCard([(b"", 0x6984)]))
    with pytest.raises(OathError) as info:
        session.delete(b"x")
    assert info.value.sw == 0x6984


def test_select_answer_parse() -> None:
    data = (
        tlv(Tag.VERSION, b"\x05\x07\x00") + tlv(Tag.NAME, bytes(8)) + tlv(Tag.CHALLENGE, b"c" * 8)
    )
    answer = SelectAnswer.parse(data + tlv(Tag.ALGORITHM, b"\x01"))
    assert answer.version == (5, 7, 0) and answer.password_set and answer.algorithm == 1
    with pytest.raises(ValueError):
        SelectAnswer.parse(tlv(Tag.NAME, bytes(8)))
