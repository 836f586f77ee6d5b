"""CTAP1/U2F through python-fido2's Ctap1, and U2F <-> CTAP2 credential interoperability."""

from __future__ import annotations

import pytest
from ctap_testkit import RP_ID, DirectDevice, client_for, creation_options, make_key, root_verifier
from fido2.attestation import FidoU2FAttestation
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import Ctap2
from fido2.utils import sha256

from tokenbench.emulators.ctap.presence import Deny

APP = sha256(RP_ID.encode())
CHAL = b"\x05" * 32


@pytest.fixture
def ctap1(key) -> Ctap1:
    return Ctap1(DirectDevice(key))


def test_version(ctap1: Ctap1) -> None:
    assert ctap1.get_version() == "U2F_V2"


def test_register_authenticate_and_attestation(key, ctap1: Ctap1) -> None:
    reg = ctap1.register(CHAL, APP)
    reg.verify(APP, CHAL)
    FidoU2FAttestation().verify(
        {"x5c": [reg.certificate], "sig": reg.signature},
        _u2f_auth_data(reg),
        CHAL,
    )
    sigs = [ctap1.authenticate(CHAL, APP, reg.key_handle) for _ in range(2)]
    for s in sigs:
        s.verify(APP, CHAL, reg.public_key)
        assert s.user_presence == 1
    assert sigs[1].counter > sigs[0].counter
    del key


def _u2f_auth_data(reg):
    from fido2.cose import ES256
    from fido2.webauthn import AttestedCredentialData, AuthenticatorData

    cred = AttestedCredentialData.create(
        b"\0" * 16, reg.key_handle, ES256.from_ctap1(reg.public_key)
    )
    return AuthenticatorData.create(APP, 0x41, 0, cred)


def test_check_only_and_wrong_handles(ctap1: Ctap1) -> None:
    reg = ctap1.register(CHAL, APP)
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(CHAL, APP, reg.key_handle, check_only=True)
    assert e.value.code == 0x6985
    for app, handle in [(sha256(b"other"), reg.key_handle), (APP, reg.key_handle[:-1] + b"\0")]:
        with pytest.raises(ApduError) as e:
            ctap1.authenticate(CHAL, app, handle, check_only=True)
        assert e.value.code == 0x6A80


def test_dont_enforce_presence_and_no_touch(key, ctap1: Ctap1) -> None:
    reg = ctap1.register(CHAL, APP)
    apdu = CHAL + APP + bytes([len(reg.key_handle)]) + reg.key_handle
    resp = ctap1.send_apdu(ins=0x02, p1=0x08, data=apdu)
    assert resp[0] == 0  # no UP flag
    key.env.presence = Deny()
    calls = (
        lambda: ctap1.register(CHAL, APP),
        lambda: ctap1.authenticate(CHAL, APP, reg.key_handle),
    )
    for call in calls:
        with pytest.raises(ApduError) as e:
            call()
        assert e.value.code == 0x6985


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        (b"\x00\x03", 0x6700),  # too short
        (b"\x80\x03\x00\x00", 0x6E00),  # CLA
        (b"\x00\x09\x00\x00", 0x6D00),  # INS
        (b"\x00\x01\x00\x00\x00\x00\x05abcde", 0x6700),  # register with 5 bytes
        (b"\x00\x01\x00\x00\x10" + b"\0" * 16, 0x6700),  # short encoding, wrong length
        (b"\x00\x02\x03\x00\x00\x00\x41" + b"\0" * 64 + b"\x05", 0x6700),  # L=5, no handle
        (b"\x00\x02\x03\x00\x00\x00\x41" + b"\0" * 65, 0x6A80),  # empty key handle
        (b"\x00\x03\x00\x00\x00\x00\x05\xab", 0x6700),  # Lc says 5, one byte
        (b"\x00\x03\x00\x00\x01\x00", 0x6700),  # VERSION with data
    ],
)
def test_status_words_for_bad_apdus(key, apdu: bytes, sw: int) -> None:
    out = key.process_u2f(apdu)
    assert int.from_bytes(out[-2:], "big") == sw


def test_short_and_extended_encodings(key) -> None:
    short = key.process_u2f(b"\x00\x03\x00\x00")
    short_le = key.process_u2f(b"\x00\x03\x00\x00\x00")
    ext_le = key.process_u2f(b"\x00\x03\x00\x00\x00\x00\x00")
    assert short == short_le == ext_le == b"U2F_V2\x90\x00"
    data = CHAL + APP
    reg_short = key.process_u2f(b"\x00\x01\x00\x00" + bytes([len(data)]) + data + b"\x00")
    assert reg_short[-2:] == b"\x90\x00" and reg_short[0] == 0x05


def test_u2f_registration_works_through_ctap2(key, ctap1: Ctap1) -> None:
    reg = ctap1.register(CHAL, APP)
    r = Ctap2(DirectDevice(key)).get_assertion(
        RP_ID, b"\0" * 32, [{"type": "public-key", "id": reg.key_handle}]
    )
    from fido2.cose import ES256

    ES256.from_ctap1(reg.public_key).verify(r.auth_data + b"\0" * 32, r.signature)


def test_ctap2_credential_works_through_u2f(key, ctap1: Ctap1) -> None:
    reg = client_for(key).make_credential(creation_options())
    att = reg.response.attestation_object
    root_verifier(key).verify_attestation(att, reg.response.client_data.hash)
    cred = att.auth_data.credential_data
    sig = ctap1.authenticate(CHAL, APP, cred.credential_id)
    sig.verify(APP, CHAL, _raw(cred.public_key))


def _raw(cose) -> bytes:
    return b"\x04" + cose[-2] + cose[-3]


def test_eddsa_and_uv_required_credentials_refused_over_u2f(key, ctap1: Ctap1) -> None:
    ed = client_for(key).make_credential(creation_options(algs=(-8,)))
    cred_id = ed.response.attestation_object.auth_data.credential_data.credential_id
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(CHAL, APP, cred_id)
    assert e.value.code == 0x6A80


def test_ctap2_only_profile_has_no_u2f() -> None:
    key = make_key("u2f-only")
    assert Ctap1(DirectDevice(key)).get_version() == "U2F_V2"
    from tokenbench.emulators.ctap.profiles import get_profile

    no_u2f = get_profile("default").with_(versions=("FIDO_2_1", "FIDO_2_0"))
    key.profile = no_u2f
    assert key.process_u2f(b"\x00\x03\x00\x00") == b"\x6d\x00"


def test_fido2_client_falls_back_to_u2f_on_a_u2f_only_key() -> None:
    from ctap_testkit import request_options

    key = make_key("u2f-only")
    client = client_for(key)
    reg = client.make_credential(creation_options())
    att = reg.response.attestation_object
    assert att.fmt == "fido-u2f"
    root_verifier(key).verify_attestation(att, reg.response.client_data.hash)
    cred = att.auth_data.credential_data
    got = client.get_assertion(request_options([cred.credential_id])).get_response(0)
    r = got.response
    cred.public_key.verify(r.authenticator_data + r.client_data.hash, r.signature)
    assert r.authenticator_data.is_user_present()
