"""The NFC card around the real authenticator core (no PC/SC): raw APDUs, byte for byte."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from fido2 import cbor

from tokenbench.emulators.card.apdu import CommandApdu, split_response
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.presence import AutoApprove, Touch
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.transport.nfc import FIDO_AID, NfcCard

SELECT = bytes.fromhex("00A4040008") + FIDO_AID
CTAP2_OK = 0x00
KEEPALIVE_CANCEL = 0x2D


def make_card(profile: str = "default", **env: object) -> NfcCard:
    core = Authenticator(Env.for_tests(seed=11, **env), get_profile(profile))
    card = NfcCard(core, status_wait=0.02)
    card.power_on()
    return card


def ctap(card: NfcCard, request: bytes, p1: int = 0x80) -> tuple[bytes, int]:
    """Send one CTAP2 request like a client that polls with NFCCTAP_GETRESPONSE."""
    data, sw = split_response(card.transmit(CommandApdu(0x80, 0x10, p1, 0, request, 256).encode()))
    while sw == 0x9100:
        data, sw = split_response(card.transmit(bytes.fromhex("8011000000")))
    while sw >> 8 == 0x61:
        more, sw = split_response(card.transmit(bytes((0, 0xC0, 0, 0, sw & 0xFF))))
        data += more
    return data, sw


def make_credential_request() -> bytes:
    params = {
        1: hashlib.sha256(b"client data").digest(),
        2: {"id": "example.com", "name": "Example"},
        3: {"id": b"user-1", "name": "alice"},
        4: [{"type": "public-key", "alg": -7}],
    }
    return b"\x01" + cbor.encode(params)


def test_select_versions_follow_the_profile() -> None:
    assert make_card("default").transmit(SELECT) == b"U2F_V2\x90\x00"
    core = Authenticator(Env.for_tests(), get_profile("default"))
    fido2_only = core.profile.with_(versions=("FIDO_2_0", "FIDO_2_1"))
    card = NfcCard(Authenticator(Env.for_tests(), fido2_only))
    card.power_on()
    assert card.transmit(SELECT) == b"FIDO_2_0\x90\x00"


def test_get_info_chained_over_short_apdus() -> None:
    card = make_card()
    card.transmit(SELECT)
    data, sw = ctap(card, b"\x04")
    assert sw == 0x9000 and data[0] == CTAP2_OK
    info = cbor.decode(data[1:])
    assert "FIDO_2_1" in info[1]
    assert len(data) > 256  # the answer needed response chaining


def test_make_credential_reports_up_needed_then_succeeds() -> None:
    card = make_card(presence=AutoApprove(delay=0.3))
    card.transmit(SELECT)
    first = card.transmit(CommandApdu(0x80, 0x10, 0x80, 0, make_credential_request(), 256).encode())
    statuses = [first]
    rapdu = first
    while rapdu[-2:] == b"\x91\x00":
        rapdu = card.transmit(bytes.fromhex("8011000000"))
        statuses.append(rapdu)
    assert b"\x02\x91\x00" in statuses  # UP needed while the user has not touched yet
    data, sw = split_response(rapdu)
    while sw >> 8 == 0x61:
        more, sw = split_response(card.transmit(bytes((0, 0xC0, 0, 0, sw & 0xFF))))
        data += more
    assert sw == 0x9000 and data[0] == CTAP2_OK
    attestation = cbor.decode(data[1:])
    assert attestation[1] == "packed"


def test_card_removal_cancels_a_command_waiting_for_touch() -> None:
    touch = Touch(timeout=10)
    card = make_card(presence=touch)
    card.transmit(SELECT)
    rapdu = card.transmit(CommandApdu(0x80, 0x10, 0x80, 0, make_credential_request(), 256).encode())
    assert rapdu[-2:] == b"\x91\x00"
    started = time.monotonic()
    card.power_off()  # the key leaves the field
    assert time.monotonic() - started < 2  # the core noticed the cancellation promptly
    card.power_on()
    card.transmit(SELECT)
    data, sw = ctap(card, b"\x04")
    assert sw == 0x9000 and data[0] == CTAP2_OK


def test_getresponse_cancel_gives_keepalive_cancel() -> None:
    card = make_card(presence=Touch(timeout=10))
    card.transmit(SELECT)
    rapdu = card.transmit(CommandApdu(0x80, 0x10, 0x80, 0, make_credential_request(), 256).encode())
    assert rapdu == b"\x02\x91\x00"
    rapdu = card.transmit(bytes.fromhex("8011110000"))
    while rapdu[-2:] == b"\x91\x00":
        rapdu = card.transmit(bytes.fromhex("8011000000"))
    assert rapdu == bytes((KEEPALIVE_CANCEL,)) + b"\x90\x00"


def test_u2f_version_and_register_over_short_chained_apdus() -> None:
    card = make_card()
    card.transmit(SELECT)
    assert card.transmit(bytes.fromhex("0003000000")) == b"U2F_V2\x90\x00"
    challenge, app = hashlib.sha256(b"c").digest(), hashlib.sha256(b"https://example.com").digest()
    rapdu = card.transmit(CommandApdu(0x00, 0x01, 0x03, 0x00, challenge + app, 256).encode())
    data, sw = split_response(rapdu)
    while sw >> 8 == 0x61:
        more, sw = split_response(card.transmit(bytes((0, 0xC0, 0, 0, sw & 0xFF))))
        data += more
    assert sw == 0x9000
    assert data[0] == 0x05 and data[1] == 0x04  # reserved byte, uncompressed P-256 point


def test_u2f_only_profile_and_ctap2_only_profile() -> None:
    u2f_only = make_card("u2f-only")
    assert u2f_only.transmit(SELECT) == b"U2F_V2\x90\x00"
    data, sw = ctap(u2f_only, b"\x04")
    assert sw == 0x9000 and data[0] != CTAP2_OK  # the core refuses CTAP2


def test_slow_fault_answers_with_status_updates_first() -> None:
    card = make_card(faults=FaultSet.parse("slow"))
    card.transmit(SELECT)
    answers = [card.transmit(CommandApdu(0x80, 0x10, 0x80, 0, b"\x04", 256).encode())]
    while answers[-1][-2:] == b"\x91\x00":
        answers.append(card.transmit(bytes.fromhex("8011000000")))
    assert len(answers) >= 4
    assert answers[0] == b"\x01\x91\x00"  # processing


@pytest.mark.parametrize("profile", ["default", "ctap20"])
def test_concurrent_power_off_during_polling_is_safe(profile: str) -> None:
    card = make_card(profile, presence=AutoApprove(delay=0.2))
    card.transmit(SELECT)
    card.transmit(CommandApdu(0x80, 0x10, 0x80, 0, make_credential_request(), 256).encode())
    remover = threading.Thread(target=card.power_off)
    remover.start()
    for _ in range(20):
        rapdu = card.transmit(bytes.fromhex("8011000000"))
        assert len(rapdu) >= 2
    remover.join(5)
    assert not remover.is_alive()
