"""u2f suite: CTAP1/U2F raw messages (FIDO U2F Raw Message Formats; CTAP 2.1 §10, §11.2.9.1.1).

Version, register (attestation signature), authenticate in its three modes, wrong key
handle, wrong application parameter, counters, and U2F credentials used through CTAP2.
"""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from fido2.cose import ES256
from fido2.ctap1 import APDU, ApduError, Ctap1, SignatureData

from tokenbench.bench.suites._ctap import RP_ID, client_data_hash, descriptor

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
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
UNKNOWN_INS = 0x55
UNUSED_CLASS = 0x40
NMSG = 0x08


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


def test_version(ctap_device):
    _ctap1(ctap_device)


def test_register_attestation_verifies(ctap_device):
    ctap1 = _ctap1(ctap_device)
    app = _app("register")
    registration = _register(ctap1, app)
    assert registration.public_key[:1] == b"\x04" and len(registration.public_key) == 65
    assert 0 < len(registration.key_handle) <= 255


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


@pytest.mark.parametrize("mode", [CHECK_ONLY, ENFORCE_PRESENCE], ids=["check", "enforce"])
def test_wrong_key_handle(ctap_device, mode):
    ctap1 = _ctap1(ctap_device)
    with pytest.raises(ApduError) as wrong:
        _authenticate(ctap1, _app("wrong"), os.urandom(64), mode)
    assert wrong.value.code == APDU.WRONG_DATA, f"unknown key handle: SW {wrong.value.code:04X}"


def test_wrong_application_parameter(ctap_device):
    ctap1 = _ctap1(ctap_device)
    registration = _register(ctap1, _app("mine"))
    with pytest.raises(ApduError) as wrong:
        _authenticate(ctap1, _app("theirs"), registration.key_handle, ENFORCE_PRESENCE)
    assert wrong.value.code == APDU.WRONG_DATA, (
        f"key handle under another app: SW {wrong.value.code:04X}, expected 6A80"
    )


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


def test_unknown_instruction(ctap_device):
    ctap1 = _ctap1(ctap_device)
    with pytest.raises(ApduError) as wrong:
        ctap1.send_apdu(ins=UNKNOWN_INS)
    assert wrong.value.code == SW_INS_NOT_SUPPORTED, f"unknown INS: SW {wrong.value.code:04X}"


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
