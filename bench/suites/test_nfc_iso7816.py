"""nfc suite: CTAP over ISO 7816-4 APDUs, as an NFC key in a PC/SC reader sees them.

CTAP 2.1 §11.3 (NFC): applet selection by AID, NFCCTAP_MSG (80 10) with and without the
NFCCTAP_GETRESPONSE flag, ISO 7816-4 command chaining (CLA bit 0x10) for requests and response
chaining (61XX + GET RESPONSE) for answers, extended-length APDUs where the key offers them,
CTAP1/U2F instructions next to CTAP2 (FIDO U2F NFC Protocol: a short request is answered
through 61XX chaining, an extended one in one extended answer), and ISO status words for what
the key does not know.

Every test drives raw APDUs on the target's python-fido2 `CtapPcscDevice`
(`apdu_exchange`), so the key's framing is checked byte for byte; the suite never imports the
emulator. Each test starts and ends with the FIDO applet selected, so the other suites can
keep using the same card afterwards.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from fido2 import cbor
from fido2.ctap1 import RegistrationData

pytestmark = pytest.mark.target_kind("key")

FIDO_AID = bytes.fromhex("A0000006472F0001")
OTHER_AID = bytes.fromhex("A0000006472F00FF")  # same RID, an application no FIDO key has
VERSIONS = (b"U2F_V2", b"FIDO_2_0")
SW_OK = 0x9000
SW_STATUS_UPDATE = 0x9100
SW1_MORE_DATA = 0x61
SW_WRONG_LENGTH = 0x6700
SW_FILE_NOT_FOUND = 0x6A82
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
CLA_ISO = 0x00
CLA_CTAP = 0x80
CLA_CHAIN = 0x10
INS_SELECT = 0xA4
INS_GET_RESPONSE = 0xC0
INS_NFCCTAP_MSG = 0x10
INS_NFCCTAP_GETRESPONSE = 0x11
INS_U2F_REGISTER = 0x01
INS_U2F_VERSION = 0x03
P1_GETRESPONSE_SUPPORTED = 0x80
GET_INFO = 0x04
GET_ASSERTION = 0x02
CTAP2_OK = 0x00
CTAP2_ERR_NO_CREDENTIALS = 0x2E
SMALL_LE = 0x20  # a reader that takes only 32 bytes per answer
TINY_LE = 0x08  # a reader that fetches the rest 8 bytes at a time
STATUS_POLLS = 200


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """A short APDU (Le 256 is written as 00)."""
    out = bytes((cla, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le % 256,))
    return out


def extended_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """An extended-length case 4 APDU with Le = 0000 (up to 65536 bytes back)."""
    return struct.pack(">BBBBBH", cla, ins, p1, p2, 0, len(data)) + data + b"\x00\x00"


def exchange(card: Any, command: bytes) -> tuple[bytes, int]:
    data, sw1, sw2 = card.apdu_exchange(command)
    return data, (sw1 << 8) | sw2


def collect(card: Any, data: bytes, sw: int) -> tuple[bytes, int, int]:
    """Follow 61XX with GET RESPONSE; (all data, final SW, number of GET RESPONSEs)."""
    rounds = 0
    while sw >> 8 == SW1_MORE_DATA:
        more, sw = exchange(card, apdu(CLA_ISO, INS_GET_RESPONSE, 0, 0, le=sw & 0xFF))
        data += more
        rounds += 1
        assert rounds < 1000, "the key keeps announcing more data"
    return data, sw, rounds


def wait_for_result(card: Any, data: bytes, sw: int) -> tuple[bytes, int]:
    """Poll NFCCTAP_GETRESPONSE while the key answers 9100 (command still running)."""
    for _ in range(STATUS_POLLS):
        if sw != SW_STATUS_UPDATE:
            return data, sw
        assert len(data) == 1, f"9100 must carry one status byte, got {data.hex()}"
        data, sw = exchange(card, apdu(CLA_CTAP, INS_NFCCTAP_GETRESPONSE, 0, 0, le=0))
    pytest.fail("the key never finished the command")


def select(card: Any, aid: bytes = FIDO_AID) -> tuple[bytes, int]:
    data, sw = exchange(card, apdu(CLA_ISO, INS_SELECT, 0x04, 0x00, aid, le=0))
    return collect(card, data, sw)[:2]


def ctap_request(card: Any, request: bytes, p1: int = P1_GETRESPONSE_SUPPORTED) -> bytes:
    """One CTAP2 request in one short or chained NFCCTAP_MSG; the CTAP response (status+CBOR)."""
    data, sw = send_chained(card, CLA_CTAP, INS_NFCCTAP_MSG, p1, request, fragment=255)
    data, sw = wait_for_result(card, data, sw)
    data, sw, _ = collect(card, data, sw)
    assert sw == SW_OK, f"NFCCTAP_MSG ended with SW {sw:04X}"
    return data


def send_chained(
    card: Any, cla: int, ins: int, p1: int, data: bytes, fragment: int
) -> tuple[bytes, int]:
    """ISO 7816-4 command chaining: every link but the last has CLA bit 0x10 and gets 9000."""
    while len(data) > fragment:
        part, data = data[:fragment], data[fragment:]
        answer, sw = exchange(card, apdu(cla | CLA_CHAIN, ins, p1, 0, part))
        assert sw == SW_OK, f"chained command link answered {sw:04X}"
        assert answer == b"", "a link of a command chain must not produce response data"
    return exchange(card, apdu(cla, ins, p1, 0, data, le=0))


@pytest.fixture
def card(ctap_device: Any) -> Iterator[Any]:
    """The target's `CtapPcscDevice`, with the FIDO applet selected before and after."""
    device = getattr(ctap_device, "unwrapped", ctap_device)
    if not hasattr(device, "apdu_exchange"):
        pytest.fail("the nfc suite needs a PC/SC target (pcsc:READER)")
    select(device)
    yield device
    select(device)


@pytest.fixture
def version(card: Any) -> bytes:
    data, sw = select(card)
    assert sw == SW_OK
    return data


def get_info(card: Any) -> dict[int, Any]:
    response = ctap_request(card, bytes((GET_INFO,)))
    assert response[0] == CTAP2_OK, f"getInfo status 0x{response[0]:02x}"
    info = cbor.decode(response[1:])
    assert isinstance(info, dict), "getInfo's answer is not a CBOR map"
    return info


def test_select_answers_a_fido_version(card: Any) -> None:
    data, sw = select(card)
    assert sw == SW_OK, f"SELECT of the FIDO AID answered {sw:04X}"
    assert data in VERSIONS, f"SELECT answered {data!r}, expected U2F_V2 or FIDO_2_0"
    assert select(card) == (data, SW_OK), "a second SELECT answers differently"


def test_select_of_an_unknown_aid_is_refused(card: Any) -> None:
    data, sw = select(card, OTHER_AID)
    assert sw == SW_FILE_NOT_FOUND, f"SELECT of an unknown AID answered {sw:04X}, not 6A82"
    assert data == b""
    assert select(card)[1] == SW_OK, "the FIDO applet cannot be selected again"
    assert "FIDO_2_0" in get_info(card)[1]


def test_unknown_instruction_and_class(card: Any) -> None:
    assert exchange(card, apdu(CLA_CTAP, 0x7E, 0, 0, le=0))[1] == SW_INS_NOT_SUPPORTED
    assert exchange(card, apdu(CLA_ISO, 0x7E, 0, 0, le=0))[1] == SW_INS_NOT_SUPPORTED
    assert exchange(card, apdu(0xA0, INS_NFCCTAP_MSG, 0, 0, b"\x04", le=0))[1] == (
        SW_CLA_NOT_SUPPORTED
    )
    assert "FIDO_2_0" in get_info(card)[1], "the key is unusable after unknown commands"


def test_get_info_without_getresponse_flag_answers_at_once(card: Any) -> None:
    data, sw = exchange(card, apdu(CLA_CTAP, INS_NFCCTAP_MSG, 0x00, 0x00, b"\x04", le=0))
    assert sw != SW_STATUS_UPDATE, "9100 sent to a client that did not set P1 0x80"
    data, sw, _ = collect(card, data, sw)
    assert sw == SW_OK and data[0] == CTAP2_OK
    info = cbor.decode(data[1:])
    assert isinstance(info, dict), "getInfo's answer is not a CBOR map"
    assert "FIDO_2_0" in info[1]


@pytest.mark.parametrize("le", [0x10, SMALL_LE, 0xFF])
def test_response_chaining_with_a_small_le(card: Any, le: int) -> None:
    full = ctap_request(card, bytes((GET_INFO,)))
    if len(full) <= le:
        pytest.skip(f"unclaimed: getInfo ({len(full)} bytes) fits Le={le} without chaining")
    command = apdu(CLA_CTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, 0, b"\x04", le=le)
    data, sw = wait_for_result(card, *exchange(card, command))
    assert len(data) <= le, f"{len(data)} bytes answered to Le={le}"
    assert sw >> 8 == SW1_MORE_DATA, f"no 61XX after a partial answer (SW {sw:04X})"
    assert (sw & 0xFF) in (0, min(len(full) - len(data), 256)), "61XX announces a wrong count"
    data, sw, rounds = collect(card, data, sw)
    assert sw == SW_OK
    assert data == full, "the chained answer differs from the whole getInfo"
    assert rounds >= 1


def test_get_response_takes_the_readers_le(card: Any) -> None:
    """A reader may fetch the rest in smaller pieces than 61XX announces."""
    full = ctap_request(card, bytes((GET_INFO,)))
    command = apdu(CLA_CTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, 0, b"\x04", le=SMALL_LE)
    data, sw = wait_for_result(card, *exchange(card, command))
    assert sw >> 8 == SW1_MORE_DATA, f"no 61XX after a partial answer (SW {sw:04X})"
    for _ in range(len(full)):
        if sw >> 8 != SW1_MORE_DATA:
            break
        more, sw = exchange(card, apdu(CLA_ISO, INS_GET_RESPONSE, 0, 0, le=TINY_LE))
        assert len(more) <= TINY_LE, f"GET RESPONSE answered {len(more)} bytes to Le={TINY_LE}"
        data += more
    assert (data, sw) == (full, SW_OK), "fetched piecewise, the answer differs from getInfo"


@pytest.mark.parametrize("interruption", ["select", "ctap-msg"])
def test_interrupted_response_chain_is_dropped(card: Any, interruption: str) -> None:
    """The rest of an answer is only for the GET RESPONSE that directly follows; after another
    command, GET RESPONSE must not hand out stale data."""
    command = apdu(CLA_CTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, 0, b"\x04", le=SMALL_LE)
    _, sw = wait_for_result(card, *exchange(card, command))
    assert sw >> 8 == SW1_MORE_DATA, f"no 61XX after a partial answer (SW {sw:04X})"
    if interruption == "select":
        assert select(card)[1] == SW_OK
    else:
        get_info(card)
    stale, sw = exchange(card, apdu(CLA_ISO, INS_GET_RESPONSE, 0, 0, le=0))
    assert sw >> 12 == 0x6, f"GET RESPONSE after a {interruption} answered {sw:04X}"
    assert stale == b"", "GET RESPONSE handed out the rest of an abandoned answer"


@pytest.mark.parametrize("fragment", [16, 64, 200])
def test_command_chaining_carries_a_long_request(card: Any, fragment: int) -> None:
    info = get_info(card)
    count = min(info.get(7) or 8, 8)  # maxCredentialCountInList
    size = min(info.get(8) or 64, 64)  # maxCredentialIdLength
    if count * size + 64 > (info.get(5) or 1024):  # maxMsgSize
        pytest.skip("unclaimed: the key's message size is too small for a chained request")
    allow = [{"type": "public-key", "id": bytes([i + 1]) * size} for i in range(count)]
    params: dict[int, Any] = {1: "nfc.tokenbench.example", 2: hashlib.sha256(b"nfc").digest()}
    params[3] = allow
    params[5] = {"up": False}
    request = bytes((GET_ASSERTION,)) + cbor.encode(params)
    assert len(request) > 255
    data, sw = send_chained(
        card, CLA_CTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, request, fragment
    )
    data, sw = wait_for_result(card, data, sw)
    data, sw, _ = collect(card, data, sw)
    assert sw == SW_OK
    assert data == bytes((CTAP2_ERR_NO_CREDENTIALS,)), (
        f"getAssertion with unknown credentials answered {data.hex()} "
        f"(the chained request was not reassembled: {fragment}-byte links)"
    )


def test_extended_length_apdus_if_offered(card: Any) -> None:
    full = ctap_request(card, bytes((GET_INFO,)))
    data, sw = exchange(
        card, extended_apdu(CLA_CTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, 0, b"\x04")
    )
    if sw in (SW_WRONG_LENGTH, SW_INS_NOT_SUPPORTED) or sw >> 8 == 0x6A:
        pytest.skip("unclaimed: the key does not take extended-length APDUs")
    data, sw = wait_for_result(card, data, sw)
    data, sw, _ = collect(card, data, sw)
    assert (data, sw) == (full, SW_OK)


def test_getresponse_without_a_running_command_is_an_error(card: Any) -> None:
    _, sw = exchange(card, apdu(CLA_CTAP, INS_NFCCTAP_GETRESPONSE, 0, 0, le=0))
    assert sw not in (SW_OK, SW_STATUS_UPDATE), "NFCCTAP_GETRESPONSE with nothing to answer"
    assert sw >> 12 == 0x6, f"expected an ISO error status word, got {sw:04X}"


def test_u2f_version_matches_the_select_answer(card: Any, version: bytes) -> None:
    data, sw = exchange(card, apdu(CLA_ISO, INS_U2F_VERSION, 0, 0, le=0))
    if version == b"U2F_V2":
        assert (data, sw) == (b"U2F_V2", SW_OK), "SELECT said U2F_V2 but U2F VERSION fails"
    else:
        assert sw == SW_INS_NOT_SUPPORTED, f"a CTAP2-only key answered U2F VERSION with {sw:04X}"


def _u2f_registration_request(version: bytes) -> tuple[bytes, bytes]:
    """(challenge, application) for a U2F_REGISTER, or an `unclaimed` skip on a CTAP2-only key."""
    if version != b"U2F_V2":
        pytest.skip("unclaimed: CTAP1/U2F (SELECT answered FIDO_2_0)")
    return hashlib.sha256(b"nfc u2f challenge").digest(), hashlib.sha256(b"nfc.u2f").digest()


def test_u2f_register_in_a_short_apdu_answers_through_get_response(
    card: Any, version: bytes
) -> None:
    """U2F NFC: a short request whose answer does not fit is answered with 61XX chaining."""
    challenge, application = _u2f_registration_request(version)
    command = apdu(CLA_ISO, INS_U2F_REGISTER, 0, 0, challenge + application, le=0)
    data, sw = exchange(card, command)
    assert sw >> 8 == SW1_MORE_DATA, f"a >256-byte registration answered SW {sw:04X} to Le=00"
    assert len(data) <= 256
    data, sw, _ = collect(card, data, sw)
    assert sw == SW_OK, f"U2F_REGISTER ended with SW {sw:04X}"
    RegistrationData(data).verify(application, challenge)


def test_u2f_register_in_an_extended_apdu_answers_in_one_piece(card: Any, version: bytes) -> None:
    """U2F NFC: a request sent in extended length is answered in one extended-length answer."""
    challenge, application = _u2f_registration_request(version)
    command = extended_apdu(CLA_ISO, INS_U2F_REGISTER, 0, 0, challenge + application)
    data, sw = exchange(card, command)
    if sw in (SW_WRONG_LENGTH, SW_INS_NOT_SUPPORTED) or sw >> 8 == 0x6A:
        pytest.skip("unclaimed: the key does not take extended-length APDUs")
    assert sw == SW_OK, f"extended U2F_REGISTER answered SW {sw:04X}, not the whole answer"
    RegistrationData(data).verify(application, challenge)
