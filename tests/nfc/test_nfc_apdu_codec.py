"""ISO 7816-4 APDU parsing/encoding and response chaining (emulators.card.apdu)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.emulators.card.apdu import (
    ApduError,
    CommandApdu,
    ResponseChain,
    StatusWord,
    split_response,
)


@pytest.mark.parametrize(
    ("raw", "data", "ne", "extended"),
    [
        ("00A40400", "", None, False),  # case 1
        ("00C0000000", "", 256, False),  # case 2S, Le 00 = 256
        ("00C0000010", "", 16, False),
        ("00A4040008A0000006472F0001", "A0000006472F0001", None, False),  # case 3S
        ("00A4040008A0000006472F000100", "A0000006472F0001", 256, False),  # case 4S
        ("00030000000000", "", 65536, True),  # case 2E, Le 0000 = 65536
        ("0003000000ABCD", "", 0xABCD, True),
        ("8010000000000304AABB", "04AABB", None, True),  # case 3E
        ("8010000000000304AABB0100", "04AABB", 256, True),  # case 4E
        ("80100000000003040506" + "0000", "040506", 65536, True),
    ],
)
def test_parse_the_four_cases(raw: str, data: str, ne: int | None, extended: bool) -> None:
    apdu = CommandApdu.parse(bytes.fromhex(raw))
    assert apdu.data == bytes.fromhex(data)
    assert apdu.ne == ne
    assert apdu.extended is extended
    assert apdu.encode() == bytes.fromhex(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00",
        "00A404",
        "00A4040005AABB",
        "00A4040002AABBCCDD",
        "001000000000",
        "00100000000005AA",
    ],
)
def test_malformed_lengths_are_wrong_length(raw: str) -> None:
    with pytest.raises(ApduError) as err:
        CommandApdu.parse(bytes.fromhex(raw))
    assert err.value.status is StatusWord.WRONG_LENGTH


def test_chaining_bit() -> None:
    apdu = CommandApdu.parse(bytes.fromhex("9010000002AABB"))
    assert apdu.chained and apdu.base_cla == 0x80
    assert not CommandApdu.parse(bytes.fromhex("8010000002AABB")).chained


apdus = st.builds(
    CommandApdu,
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=600),
    ne=st.none() | st.integers(1, 65536),
    extended=st.booleans(),
)


@given(apdus)
def test_encode_parse_round_trip(apdu: CommandApdu) -> None:
    again = CommandApdu.parse(apdu.encode())
    assert (again.cla, again.ins, again.p1, again.p2, again.data) == (
        apdu.cla,
        apdu.ins,
        apdu.p1,
        apdu.p2,
        apdu.data,
    )
    assert again.ne == apdu.ne
    if again.data or again.ne is not None:
        # the long form is kept when asked for or needed
        needed = len(apdu.data) > 255 or (apdu.ne or 0) > 256
        assert again.extended == (apdu.extended or needed)


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_but_apdu_error(raw: bytes) -> None:
    try:
        apdu = CommandApdu.parse(raw)
    except ApduError as exc:
        assert exc.status is StatusWord.WRONG_LENGTH
    else:
        assert apdu.encode() == raw or apdu.ne in (256, 65536)


@given(st.binary(max_size=2000), st.integers(1, 300))
def test_response_chain_reassembles(data: bytes, ne: int) -> None:
    chain = ResponseChain()
    collected, sw = split_response(chain.start(data, ne))
    rounds = 0
    while sw >> 8 == 0x61:
        announced = sw & 0xFF or 256
        assert announced == min(len(data) - len(collected), 256)
        more, sw = split_response(chain.next(ne))
        collected += more
        rounds += 1
    assert sw == StatusWord.SUCCESS
    assert collected == data
    assert not chain.pending
    assert rounds == max(0, -(-len(data) // ne) - 1)


def test_status_word_bytes_keep_ints_signature() -> None:
    assert StatusWord.CTAP_STATUS_UPDATE.to_bytes() == b"\x91\x00"  # SW1 SW2 by default
    assert StatusWord.SUCCESS.to_bytes(2, "big") == b"\x90\x00"  # and as any int answers
    assert StatusWord.WRONG_LENGTH.to_bytes(3, "little") == (0x6700).to_bytes(3, "little")
