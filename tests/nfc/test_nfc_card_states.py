"""The NFC card state machine (emulators.transport.nfc.NfcCard) against the FakeCore test double.

The double (tests/nfc/conftest.py) echoes vendor commands so that every byte of chaining and
GET RESPONSE handling can be checked; real CTAP over NFC is in test_nfc_real_core.py.
"""

from __future__ import annotations

import threading

import pytest
from fido2 import cbor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.emulators.card.apdu import CommandApdu, split_response
from tokenbench.emulators.transport.nfc import FIDO_AID, NfcBreakage, NfcCard

SELECT = bytes.fromhex("00A4040008") + FIDO_AID + b"\x00"
ECHO = 0xC0
WAIT_FOR_USER = 0xC1


def sw_of(rapdu: bytes) -> int:
    return split_response(rapdu)[1]


def selected(card: NfcCard) -> NfcCard:
    card.power_on()
    _data, sw = split_response(card.transmit(SELECT))
    assert sw == 0x9000
    return card


def ctap_msg(data: bytes, p1: int = 0x80, ne: int | None = 256, cla: int = 0x80) -> bytes:
    return CommandApdu(cla, 0x10, p1, 0x00, data=data, ne=ne).encode()


def exchange_chained(card: NfcCard, cla: int, ins: int, p1: int, data: bytes) -> tuple[bytes, int]:
    """What python-fido2's CtapPcscDevice does: 250-byte command chains, then GET RESPONSE."""
    while len(data) > 250:
        part, data = data[:250], data[250:]
        rapdu = card.transmit(CommandApdu(cla | 0x10, ins, p1, 0, data=part).encode())
        assert sw_of(rapdu) == 0x9000
    out, sw = split_response(
        card.transmit(CommandApdu(cla, ins, p1, 0, data=data, ne=256).encode())
    )
    while sw >> 8 == 0x61:
        more, sw = split_response(card.transmit(bytes((0, 0xC0, 0, 0, sw & 0xFF))))
        out += more
    return out, sw


def test_select_answers_version(fake_core, fake_core_type) -> None:
    card = NfcCard(fake_core)
    card.power_on()
    assert card.transmit(SELECT) == b"U2F_V2\x90\x00"
    fido2_only = NfcCard(fake_core_type(versions=("FIDO_2_0", "FIDO_2_1")))
    fido2_only.power_on()
    assert fido2_only.transmit(SELECT) == b"FIDO_2_0\x90\x00"
    # a CTAP2-only key refuses U2F instructions
    assert sw_of(fido2_only.transmit(bytes.fromhex("0003000000"))) == 0x6D00


def test_select_follows_the_versions_the_core_reports_now(fake_core) -> None:
    """getInfo versions can change (alwaysUv turns U2F off): SELECT answers what holds now."""
    card = NfcCard(fake_core)
    card.power_on()
    assert card.transmit(SELECT) == b"U2F_V2\x90\x00"
    fake_core.info[1] = ["FIDO_2_0", "FIDO_2_1"]
    assert card.transmit(SELECT) == b"FIDO_2_0\x90\x00"
    assert sw_of(card.transmit(bytes.fromhex("0003000000"))) == 0x6D00


def test_commands_before_select_and_unknown_aid(fake_core) -> None:
    card = NfcCard(fake_core)
    card.power_on()
    assert card.transmit(ctap_msg(b"\x04")) == b"\x6d\x00"
    assert card.transmit(bytes.fromhex("00A4040005A000000001")) == b"\x6a\x82"
    assert card.transmit(bytes.fromhex("00A4000002" + "3F00")) == b"\x6a\x86"
    selected(card)
    # selecting another application deselects the FIDO applet
    assert card.transmit(bytes.fromhex("00A4040005A000000001")) == b"\x6a\x82"
    assert card.transmit(ctap_msg(b"\x04")) == b"\x6d\x00"
    assert fake_core.requests == []


def test_get_info_over_nfcctap_msg(fake_core) -> None:
    card = selected(NfcCard(fake_core))
    data, sw = split_response(card.transmit(ctap_msg(b"\x04", p1=0x00)))
    assert sw == 0x9000
    assert data[0] == 0 and cbor.decode(data[1:])[1] == ["U2F_V2", "FIDO_2_0"]


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0010000001AA", 0x6D00),  # NFCCTAP_MSG needs CLA 80
        ("80FF000000", 0x6D00),  # unknown instruction
        ("A010000001AA", 0x6E00),  # unknown class
        ("0110000001AA", 0x6881),  # logical channel 1
        ("8010000000", 0x6700),  # NFCCTAP_MSG without a command byte
        ("8010010001AA", 0x6A86),  # bad P1
        ("8011000000", 0x6985),  # GETRESPONSE with nothing running
        ("00C0000000", 0x6985),  # GET RESPONSE with nothing pending
        ("00C0010000", 0x6A86),
        ("8010000005AA", 0x6700),  # Lc larger than the data
    ],
)
def test_iso_status_words(fake_core, apdu: str, sw: int) -> None:
    card = selected(NfcCard(fake_core))
    assert sw_of(card.transmit(bytes.fromhex(apdu))) == sw


@pytest.mark.parametrize("size", [0, 1, 249, 250, 251, 500, 1200, 3000])
def test_command_and_response_chaining(fake_core, size: int) -> None:
    card = selected(NfcCard(fake_core))
    payload = bytes(i % 251 for i in range(size))
    out, sw = exchange_chained(card, 0x80, 0x10, 0x80, bytes((ECHO,)) + payload)
    assert sw == 0x9000
    assert out == b"\x00" + payload
    assert fake_core.requests == [bytes((ECHO,)) + payload]


def test_extended_apdu_answers_in_one_piece(fake_core) -> None:
    card = selected(NfcCard(fake_core))
    payload = bytes(range(256)) * 8
    apdu = CommandApdu(0x80, 0x10, 0x00, 0x00, bytes((ECHO,)) + payload, ne=65536, extended=True)
    assert card.transmit(apdu.encode()) == b"\x00" + payload + b"\x90\x00"


def test_interrupted_chain_is_refused(fake_core) -> None:
    card = selected(NfcCard(fake_core))
    assert sw_of(card.transmit(CommandApdu(0x90, 0x10, 0x80, 0, b"\xc0abc").encode())) == 0x9000
    assert sw_of(card.transmit(CommandApdu(0x00, 0x02, 0x03, 0, b"x").encode())) == 0x6883
    # after the refusal the card is usable again
    assert card.transmit(ctap_msg(b"\xc0z")) == b"\x00z\x90\x00"


def test_keepalive_then_result(fake_core) -> None:
    card = selected(NfcCard(fake_core, status_wait=0.01))
    assert card.transmit(ctap_msg(bytes((WAIT_FOR_USER,)))) == b"\x02\x91\x00"  # UP needed
    assert card.transmit(bytes.fromhex("8011000000")) == b"\x02\x91\x00"
    # a second command while one runs is refused
    assert sw_of(card.transmit(ctap_msg(b"\x04"))) == 0x6985
    fake_core.release.set()
    rapdu = b""
    for _ in range(100):
        rapdu = card.transmit(bytes.fromhex("8011000000"))
        if rapdu != b"\x02\x91\x00":
            break
    assert rapdu == b"\x00\x90\x00"


def test_getresponse_cancel(fake_core) -> None:
    card = selected(NfcCard(fake_core, status_wait=0.01))
    assert sw_of(card.transmit(ctap_msg(bytes((WAIT_FOR_USER,))))) == 0x9100
    rapdu = card.transmit(bytes.fromhex("8011110000"))
    for _ in range(100):
        if rapdu != b"\x02\x91\x00":
            break
        rapdu = card.transmit(bytes.fromhex("8011000000"))
    assert rapdu == b"\x2d\x90\x00"  # CTAP2_ERR_KEEPALIVE_CANCEL
    assert fake_core.cancelled_seen.is_set()


def test_power_off_cancels_running_command_and_power_cycles(fake_core) -> None:
    card = selected(NfcCard(fake_core, status_wait=0.01))
    assert sw_of(card.transmit(ctap_msg(bytes((WAIT_FOR_USER,))))) == 0x9100
    assert fake_core.waiting.wait(2)
    card.power_off()
    assert fake_core.cancelled_seen.is_set()
    assert fake_core.power_cycles == 1
    card.power_on()
    assert not card.selected
    assert card.transmit(bytes.fromhex("8011000000")) == b"\x6d\x00"


def test_u2f_apdus_reach_the_core_whole(fake_core) -> None:
    card = selected(NfcCard(fake_core))
    assert card.transmit(bytes.fromhex("0003000000")) == b"U2F_V2\x90\x00"
    data = bytes(range(200)) * 3
    out, sw = exchange_chained(card, 0x00, 0x02, 0x03, data)
    assert (out, sw) == (data, 0x9000)
    # the core got one extended-length APDU with the reassembled data
    assert fake_core.u2f_apdus[-1] == CommandApdu(0, 2, 3, 0, data, 65536, True).encode()


def test_synchronous_nfcctap_msg_runs_to_completion(fake_core) -> None:
    card = selected(NfcCard(fake_core))
    threading.Timer(0.05, fake_core.release.set).start()
    assert card.transmit(ctap_msg(bytes((WAIT_FOR_USER,)), p1=0x00)) == b"\x00\x90\x00"


@pytest.mark.parametrize("breakage", list(NfcBreakage))
def test_each_breakage_changes_behaviour(fake_core, breakage: NfcBreakage) -> None:
    """The deliberately broken cards differ from the good one where they claim to."""
    card = NfcCard(fake_core, breakages=[breakage])
    card.power_on()
    if breakage is NfcBreakage.SELECT_ANY_AID:
        assert sw_of(card.transmit(bytes.fromhex("00A4040005A000000001"))) == 0x9000
        return
    card.transmit(SELECT)
    if breakage is NfcBreakage.SHORT_ANSWERS:
        long_echo = bytes((ECHO,)) + bytes(600)
        extended = CommandApdu(0x80, 0x10, 0x00, 0x00, long_echo, ne=65536, extended=True)
        assert sw_of(card.transmit(extended.encode())) >> 8 == 0x61
        return
    payload = bytes(600)
    out, _sw = exchange_chained(card, 0x80, 0x10, 0x80, bytes((ECHO,)) + payload)
    assert out != b"\x00" + payload


malformed_or_random = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda cla, ins, body: bytes((cla, ins, 0, 0)) + body,
        st.sampled_from([0x00, 0x10, 0x80, 0x90, 0x01, 0xFF]),
        st.sampled_from([0xA4, 0xC0, 0x10, 0x11, 0x01, 0x02, 0x03, 0x77]),
        st.binary(max_size=300),
    ),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.lists(malformed_or_random, max_size=12))
def test_any_bytes_get_a_status_word(fake_core_type, raws: list[bytes]) -> None:
    """Whatever arrives, the card answers with an R-APDU and stays usable afterwards."""
    core = fake_core_type()
    core.release.set()  # a synchronous WAIT_FOR_USER must not block the example
    card = NfcCard(core, status_wait=0.0)
    card.power_on()
    card.transmit(SELECT)
    for raw in raws:
        rapdu = card.transmit(raw)
        assert len(rapdu) >= 2
        assert rapdu[-2] in (0x90, 0x91, 0x61, 0x67, 0x68, 0x69, 0x6A, 0x6D, 0x6E)
    card.power_off()
    card.power_on()
    assert card.transmit(SELECT) == b"U2F_V2\x90\x00"
    assert card.transmit(ctap_msg(b"\xc0ok")) == b"\x00ok\x90\x00"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    payload=st.binary(max_size=1500),
    fragment=st.integers(1, 255),
    le=st.integers(1, 256),
    extended_last=st.booleans(),
)
def test_any_chaining_pattern_reassembles(
    fake_core_type, payload: bytes, fragment: int, le: int, extended_last: bool
) -> None:
    """Whatever fragment size and Le the reader picks, the core sees the request whole and
    the reader gets the answer whole."""
    core = fake_core_type()
    card = NfcCard(core)
    card.power_on()
    card.transmit(SELECT)
    request = bytes((ECHO,)) + payload
    while len(request) > fragment:
        part, request = request[:fragment], request[fragment:]
        assert card.transmit(CommandApdu(0x90, 0x10, 0x80, 0, part).encode()) == b"\x90\x00"
    last = CommandApdu(0x80, 0x10, 0x80, 0, request, ne=le, extended=extended_last)
    out, sw = split_response(card.transmit(last.encode()))
    while sw >> 8 == 0x61:
        assert len(out) % le == 0
        more, sw = split_response(card.transmit(bytes((0, 0xC0, 0, 0, le % 256))))
        out += more
    assert sw == 0x9000
    assert out == b"\x00" + payload
    assert core.requests == [bytes((ECHO,)) + payload]
