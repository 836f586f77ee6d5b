"""u2f suite: CTAP1/U2F raw messages (FIDO U2F Raw Message Formats; CTAP 2.1 §10, §11.2.9.1.1).

Version, register (attestation signature), authenticate in its three modes, wrong key
handle, wrong application parameter, counters, malformed requests (lengths, control byte,
instruction, class), and credentials shared between CTAP1 and CTAP2 in both directions.
Status words (U2F Raw Message Formats §3.3): 9000 success, 6985 test of user presence
required, 6A80 bad key handle, 6700 wrong length, 6D00 / 6E00 unknown INS / CLA.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.ctap1 import APDU, ApduError, Ctap1, SignatureData
from fido2.hid import CTAPHID

from tokenbench.bench.suites._ctap import (
    RP_ID,
    client_data_hash,
    credential_id,
    credential_key,
    descriptor,
    make_credential,
)

try:
    from fido2.pcsc import CtapPcscDevice

    _PCSC_DEVICES: tuple[type, ...] = (CtapPcscDevice,)
except ImportError:  # no pyscard installed: no PC/SC device can reach this suite
    _PCSC_DEVICES = ()

U2F_VERSION = "U2F_V2"
CHECK_ONLY = 0x07
ENFORCE_PRESENCE = 0x03
DONT_ENFORCE_PRESENCE = 0x08
USER_PRESENT = 0x01
SW_WRONG_LENGTH = 0x6700
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
UNKNOWN_INSTRUCTIONS = {"0x00": 0x00, "0x04": 0x04, "0x55": 0x55}
UNUSED_CLASS = 0x40
NMSG = 0x08
RESERVED_BYTE = 0x05  # first byte of a registration answer
MAX_COUNTER_STEP = 0x100  # a big-endian counter moves by small steps, not by 2**24
VERSION_LE_ONLY = bytes([0, Ctap1.INS.VERSION, 0, 0, 0, 0, 0])  # extended case 2: 00 Le Le


def claims_u2f(device) -> bool:
    """Whether the key says it speaks CTAP1/U2F.

    On HID that is a clear NMSG capability bit (CTAP 2.1, 11.2.9.1.3). Over NFC it is the
    SELECT answer "U2F_V2" (11.3.3); python-fido2 2.2's `CtapPcscDevice` records exactly that
    answer by *setting* NMSG, so for a PC/SC device the bit means the opposite.
    """
    nmsg = bool(device.capabilities & NMSG)
    real = getattr(device, "unwrapped", device)  # under the bench's latency recorder
    over_pcsc = isinstance(real, _PCSC_DEVICES)
    return nmsg if over_pcsc else not nmsg


def _ctap1(device) -> Ctap1:
    if not claims_u2f(device):
        pytest.skip("unclaimed: CTAP1/U2F (HID: NMSG set; NFC: SELECT did not answer U2F_V2)")
    ctap1 = Ctap1(device)
    try:
        version = ctap1.get_version()
    except ApduError as exc:
        pytest.fail(f"U2F_VERSION answered SW {exc.code:04X} although the key claims U2F")
    assert version == U2F_VERSION, f"U2F version {version!r}"
    return ctap1


def _app(label: str = "") -> bytes:
    return hashlib.sha256(f"https://{label or 'u2f'}.tokenbench.example".encode()).digest()


def _register(ctap1: Ctap1, app: bytes):
    challenge = client_data_hash("u2f-register")
    registration = ctap1.register(challenge, app)
    registration.verify(app, challenge)
    return registration


class _Signed(SignatureData):
    """An authentication answer, with the challenge it signed."""

    challenge: bytes


def _authenticate(ctap1: Ctap1, app: bytes, key_handle: bytes, mode: int) -> _Signed:
    challenge = client_data_hash("u2f-auth")
    data = challenge + app + struct.pack(">B", len(key_handle)) + key_handle
    response = _Signed(ctap1.send_apdu(ins=Ctap1.INS.AUTHENTICATE, p1=mode, data=data))
    response.challenge = challenge
    return response


def _refused(ctap1: Ctap1, what: str, **apdu) -> int:
    """The status word of a request the key must refuse (it must not answer 9000)."""
    try:
        data = ctap1.send_apdu(**apdu)
    except ApduError as exc:
        return exc.code
    raise AssertionError(f"{what}: answered 9000 with {len(data)} bytes")


def _refused_authentication(ctap1: Ctap1, what: str, key_handle: bytes, mode: int, app: bytes):
    return _refused(
        ctap1,
        what,
        ins=Ctap1.INS.AUTHENTICATE,
        p1=mode,
        data=client_data_hash("u2f-auth") + app + bytes([len(key_handle)]) + key_handle,
    )


MODES = {"check": CHECK_ONLY, "enforce": ENFORCE_PRESENCE, "silent": DONT_ENFORCE_PRESENCE}


def test_version(ctap_device):
    _ctap1(ctap_device)


def test_version_in_extended_encoding_without_data(ctap_device):
    """U2F_VERSION as an extended case-2 APDU (no Lc, Le 0000) answers like any other form."""
    _ctap1(ctap_device)
    response = ctap_device.call(CTAPHID.MSG, VERSION_LE_ONLY)
    assert response[-2:] == b"\x90\x00", f"VERSION (00 Le Le) answered SW {response[-2:].hex()}"
    assert response[:-2] == U2F_VERSION.encode()


def test_register_attestation_verifies(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("register")
    registration = _register(ctap1, app)
    assert registration[0] == RESERVED_BYTE
    assert registration.public_key[:1] == b"\x04" and len(registration.public_key) == 65
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), registration.public_key)
    except ValueError as exc:
        raise AssertionError("the registered public key is not a P-256 point") from exc
    assert 0 < len(registration.key_handle) <= 255


def test_registrations_are_distinct(ctap_device):
    """Two registrations for one application: two key pairs, each handle signs for its own."""
    ctap1 = _ctap1(ctap_device)
    app = _app("twice")
    first, second = _register(ctap1, app), _register(ctap1, app)
    assert first.key_handle != second.key_handle, "two registrations share a key handle"
    assert first.public_key != second.public_key, "two registrations share a key pair"
    for registration in (first, second):
        signed = _authenticate(ctap1, app, registration.key_handle, ENFORCE_PRESENCE)
        signed.verify(app, signed.challenge, registration.public_key)


@pytest.mark.parametrize("size", [0, 63, 65])
def test_register_with_wrong_data_length(ctap_device, size):
    """A registration request is exactly challenge + application parameter (64 bytes)."""
    ctap1 = _ctap1(ctap_device)
    data = os.urandom(size)
    code = _refused(ctap1, f"{size}-byte REGISTER", ins=Ctap1.INS.REGISTER, data=data)
    assert code == SW_WRONG_LENGTH, f"{size}-byte REGISTER: SW {code:04X}, expected 6700"


def test_authenticate_enforce_presence(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("enforce")
    registration = _register(ctap1, app)
    signed = _authenticate(ctap1, app, registration.key_handle, ENFORCE_PRESENCE)
    assert signed.user_presence & USER_PRESENT, "enforce-user-presence without the UP bit"
    signed.verify(app, signed.challenge, registration.public_key)


def test_authenticate_check_only(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("check")
    registration = _register(ctap1, app)
    with pytest.raises(ApduError) as known:
        _authenticate(ctap1, app, registration.key_handle, CHECK_ONLY)
    assert known.value.code == APDU.USE_NOT_SATISFIED, (
        f"check-only for a known key handle: SW {known.value.code:04X}, expected 6985"
    )


def test_authenticate_dont_enforce_presence(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("silent")
    registration = _register(ctap1, app)
    signed = _authenticate(ctap1, app, registration.key_handle, DONT_ENFORCE_PRESENCE)
    signed.verify(app, signed.challenge, registration.public_key)


@pytest.mark.parametrize("mode", list(MODES))
def test_wrong_key_handle(ctap_device, mode):
    ctap1 = _ctap1(ctap_device)
    code = _refused_authentication(ctap1, "unknown key handle", os.urandom(64), MODES[mode], _app())
    assert code == APDU.WRONG_DATA, f"unknown key handle: SW {code:04X}"


@pytest.mark.parametrize("size", [0, 1, 255])
def test_unknown_key_handle_of_any_size(ctap_device, size):
    ctap1 = _ctap1(ctap_device)
    code = _refused_authentication(
        ctap1, f"{size}-byte key handle", os.urandom(size), ENFORCE_PRESENCE, _app()
    )
    allowed = (APDU.WRONG_DATA, SW_WRONG_LENGTH) if size == 0 else (APDU.WRONG_DATA,)
    assert code in allowed, f"unknown {size}-byte key handle: SW {code:04X}, expected 6A80"


ALTERATIONS = {
    "flipped": lambda handle: handle[:-1] + bytes([handle[-1] ^ 0x40]),
    "truncated": lambda handle: handle[: len(handle) // 2],
    "extended": lambda handle: handle + b"\x00",
}


@pytest.mark.parametrize("mode", ["check", "enforce"])
@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_altered_key_handle(ctap_device, alteration, mode):
    """A key handle the key issued, changed by one bit or byte, is no key handle of its own."""
    ctap1 = _ctap1(ctap_device)
    app = _app("altered")
    handle = ALTERATIONS[alteration](_register(ctap1, app).key_handle)
    code = _refused_authentication(ctap1, f"{alteration} key handle", handle, MODES[mode], app)
    assert code == APDU.WRONG_DATA, f"{alteration} key handle: SW {code:04X}, expected 6A80"


@pytest.mark.parametrize("mode", ["check", "enforce"])
def test_wrong_application_parameter(ctap_device, mode):
    ctap1 = _ctap1(ctap_device)
    registration = _register(ctap1, _app("mine"))
    code = _refused_authentication(
        ctap1, "key handle under another app", registration.key_handle, MODES[mode], _app("theirs")
    )
    assert code == APDU.WRONG_DATA, f"key handle under another app: SW {code:04X}, expected 6A80"


MALFORMED_AUTHENTICATIONS = {
    # the key handle length byte is missing altogether
    "no-length-byte": lambda head, handle: head,
    # the length byte promises one byte more than follows
    "length-overstated": lambda head, handle: head + bytes([len(handle) + 1]) + handle,
    # the length byte promises one byte less than follows
    "length-understated": lambda head, handle: head + bytes([len(handle) - 1]) + handle,
}


@pytest.mark.parametrize("shape", list(MALFORMED_AUTHENTICATIONS))
def test_authenticate_with_inconsistent_length(ctap_device, shape):
    """challenge(32) | application(32) | L | key handle(L): a request that does not add up is
    refused (wrong length, or a key handle that is not the key's), never signed."""
    ctap1 = _ctap1(ctap_device)
    app = _app("length")
    handle = _register(ctap1, app).key_handle
    data = MALFORMED_AUTHENTICATIONS[shape](client_data_hash("u2f-auth") + app, handle)
    code = _refused(ctap1, shape, ins=Ctap1.INS.AUTHENTICATE, p1=ENFORCE_PRESENCE, data=data)
    assert code in (SW_WRONG_LENGTH, APDU.WRONG_DATA), f"{shape}: SW {code:04X}"


@pytest.mark.parametrize("control", [0x00, 0x05])
def test_authenticate_with_unknown_control_byte(ctap_device, control):
    """Only 07, 03 and 08 are control bytes; anything else must not produce a signature."""
    ctap1 = _ctap1(ctap_device)
    app = _app("control")
    handle = _register(ctap1, app).key_handle
    code = _refused_authentication(ctap1, f"control byte {control:#04x}", handle, control, app)
    assert code >> 12 == 0x6, f"control byte {control:#04x}: SW {code:04X} is no error"


def test_counter_increases(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("counter")
    registration = _register(ctap1, app)
    counters = []
    for _ in range(3):
        signed = _authenticate(ctap1, app, registration.key_handle, ENFORCE_PRESENCE)
        signed.verify(app, signed.challenge, registration.public_key)
        counters.append(signed.counter)
    assert counters == sorted(set(counters)), f"U2F counters not increasing: {counters}"
    steps = [b - a for a, b in itertools.pairwise(counters)]
    assert max(steps) < MAX_COUNTER_STEP, f"counter steps {steps}: not a big-endian counter?"


@pytest.mark.parametrize("ins", list(UNKNOWN_INSTRUCTIONS))
def test_unknown_instruction(ctap_device, ins):
    ctap1 = _ctap1(ctap_device)
    code = _refused(ctap1, f"INS {ins}", ins=UNKNOWN_INSTRUCTIONS[ins])
    assert code == SW_INS_NOT_SUPPORTED, f"unknown INS {ins}: SW {code:04X}"


def test_bad_class_byte(ctap_device):
    """U2F messages carry CLA 0; any other class is refused with 6E00.

    0x40 is a class no FIDO transport uses (over NFC, 0x80 is CTAP's own proprietary class and
    its unknown instructions rightly answer 6D00 instead)."""
    ctap1 = _ctap1(ctap_device)
    with pytest.raises(ApduError) as wrong:
        ctap1.send_apdu(cla=UNUSED_CLASS, ins=Ctap1.INS.VERSION)
    code = wrong.value.code
    assert code == SW_CLA_NOT_SUPPORTED, f"CLA {UNUSED_CLASS:#04x}: SW {code:04X}"


def test_u2f_credential_works_through_ctap2(ctap_device):
    """CTAP 2.1 §10.3: a U2F credential is usable by getAssertion for the same rpIdHash."""
    ctap1 = _ctap1(ctap_device)
    if not ctap_device.capabilities & 0x04:
        pytest.skip("unclaimed: CTAP2 (no CBOR capability)")
    from fido2.ctap2 import Ctap2

    app = hashlib.sha256(RP_ID.encode()).digest()
    registration = _register(ctap1, app)
    cdh = client_data_hash("interplay")
    assertion = Ctap2(ctap_device).get_assertion(RP_ID, cdh, [descriptor(registration.key_handle)])
    assertion.verify(cdh, ES256.from_ctap1(registration.public_key))


def test_ctap2_credential_works_through_u2f(ctap_device):
    """CTAP 2.1 §10.3: a non-discoverable ES256 credential made with makeCredential answers
    U2F_AUTHENTICATE for the application parameter SHA-256(rpId)."""
    ctap1 = _ctap1(ctap_device)
    if not ctap_device.capabilities & 0x04:
        pytest.skip("unclaimed: CTAP2 (no CBOR capability)")
    from fido2.ctap2 import Ctap2

    response, _ = make_credential(Ctap2(ctap_device))
    handle = credential_id(response)
    if len(handle) > 255:
        pytest.skip("unclaimed: credential ID longer than a U2F key handle can be")
    key = credential_key(response)
    public_key = b"\x04" + key[-2] + key[-3]
    app = hashlib.sha256(RP_ID.encode()).digest()
    signed = _authenticate(ctap1, app, handle, ENFORCE_PRESENCE)
    assert signed.user_presence & USER_PRESENT
    signed.verify(app, signed.challenge, public_key)
