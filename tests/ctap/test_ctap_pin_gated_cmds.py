"""Credential management, large blobs and authenticatorConfig through python-fido2."""

from __future__ import annotations

import pytest
from ctap_testkit import (
    PIN,
    RP_ID,
    DirectDevice,
    client_for,
    creation_options,
    make_key,
    token,
    with_pin,
)
from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2 import Config, CredentialManagement, Ctap2, LargeBlobs
from fido2.ctap2.pin import ClientPin

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.profiles import get_profile

CM = ClientPin.PERMISSION.CREDENTIAL_MGMT
LBW = ClientPin.PERMISSION.LARGE_BLOB_WRITE
ACFG = ClientPin.PERMISSION.AUTHENTICATOR_CFG
CDH = b"\x33" * 32


def populated(profile_changes: dict | None = None, protocol: int = 2):
    key = make_key()
    if profile_changes:
        key = type(key)(key.env, get_profile("default").with_(**profile_changes))
    with_pin(key)
    client = client_for(key, PIN)
    for rp, user in [("example.com", b"a"), ("example.com", b"b"), ("login.example.com", b"c")]:
        client_for(key, PIN, origin=f"https://{rp}").make_credential(
            creation_options(
                rp_id=rp, user_id=user, name=user.decode(), resident="required", uv="required"
            )
        )
    del client
    cp, tok = token(key, CM, protocol)
    return key, CredentialManagement(Ctap2(DirectDevice(key)), cp.protocol, tok)


@pytest.mark.parametrize("protocol", [1, 2])
def test_credential_management_enumerate_update_delete(protocol: int) -> None:
    key, cm = populated(protocol=protocol)
    meta = cm.get_metadata()
    assert meta[1] == 3 and meta[2] == 47
    rps = cm.enumerate_rps()
    assert [r[3]["id"] for r in rps] == ["example.com", "login.example.com"]
    creds = cm.enumerate_creds(rps[0][4])
    assert [c[6]["id"] for c in creds] == [b"b", b"a"]
    target = creds[0][7]
    cm.update_user_info(target, {"id": b"b", "name": "renamed"})
    assert cm.enumerate_creds(rps[0][4])[0][6]["name"] == "renamed"
    with pytest.raises(CtapError) as e:
        cm.update_user_info(target, {"id": b"someone-else", "name": "x"})
    assert e.value.code == CtapStatus.INVALID_PARAMETER
    cm.delete_cred(target)
    assert cm.get_metadata()[1] == 2
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).get_assertion(
            RP_ID, CDH, [{"type": "public-key", "id": target["id"]}]
        )
    assert e.value.code == CtapStatus.NO_CREDENTIALS


def test_credential_management_preview_command() -> None:
    key, cm = populated(
        {
            "versions": ("FIDO_2_1_PRE", "FIDO_2_0", "U2F_V2"),
            "options": {
                **get_profile("default").options,
                "credentialMgmtPreview": True,
                "credMgmt": False,
            },
        }
    )
    assert cm.get_metadata()[1] == 3
    assert [r[3]["id"] for r in cm.enumerate_rps()] == ["example.com", "login.example.com"]
    del key


def test_credential_management_needs_cm_token_and_rp_binding() -> None:
    key, _ = populated()
    ctap2 = Ctap2(DirectDevice(key))
    assert key.process(b"\x0a" + cbor.encode({1: 1})) == bytes([CtapStatus.PUAT_REQUIRED])
    assert key.process(b"\x0a" + cbor.encode({1: 99, 3: 2, 4: b"\0" * 32})) == bytes(
        [CtapStatus.INVALID_SUBCOMMAND]
    )
    assert key.process(b"\x0a" + cbor.encode({1: 3})) == bytes([CtapStatus.NOT_ALLOWED])
    # a token without cm
    cp, tok = token(key, ClientPin.PERMISSION.GET_ASSERTION, rp_id=RP_ID)
    with pytest.raises(CtapError) as e:
        CredentialManagement(ctap2, cp.protocol, tok).get_metadata()
    assert e.value.code == CtapStatus.PIN_AUTH_INVALID
    # a cm token bound to one RP can list that RP's credentials but not all RPs
    cp, tok = token(key, CM, rp_id=RP_ID)
    bound = CredentialManagement(ctap2, cp.protocol, tok)
    from fido2.utils import sha256

    assert len(bound.enumerate_creds(sha256(RP_ID.encode()))) == 2
    with pytest.raises(CtapError) as e:
        bound.enumerate_creds(sha256(b"login.example.com"))
    assert e.value.code == CtapStatus.PIN_AUTH_INVALID
    with pytest.raises(CtapError):
        bound.enumerate_rps()


def test_large_blobs_read_write_fragments_and_checksum() -> None:
    key = make_key()
    key.profile = key.profile.with_(max_msg_size=300)  # maxFragmentLength 236
    ctap2 = Ctap2(DirectDevice(key))
    blobs = LargeBlobs(ctap2)
    assert blobs.read_blob_array() == []
    raw = ctap2.large_blobs(0, get=100)[1]
    assert raw == bytes.fromhex("80") + bytes.fromhex("76be8b528d0075f7aae98d6fa57a6d3c")
    entries = [{1: b"x" * 300, 2: b"n" * 12, 3: 300}, {1: b"y" * 400, 2: b"m" * 12, 3: 400}]
    blobs.write_blob_array(entries)  # > maxFragmentLength: several fragments
    assert blobs.read_blob_array() == entries
    # a wrong checksum is refused on the final fragment and nothing changes
    data = cbor.encode([]) + b"\0" * 16
    with pytest.raises(CtapError) as e:
        ctap2.large_blobs(0, set=data, length=len(data))
    assert e.value.code == CtapStatus.INTEGRITY_FAILURE
    assert blobs.read_blob_array() == entries
    with pytest.raises(CtapError) as e:
        ctap2.large_blobs(5, set=b"abc")
    assert e.value.code == CtapStatus.INVALID_SEQ
    with pytest.raises(CtapError) as e:
        ctap2.large_blobs(0, get=237)
    assert e.value.code == CtapStatus.INVALID_LENGTH


def test_large_blob_writes_need_lbw_when_pin_set() -> None:
    key = with_pin(make_key())
    ctap2 = Ctap2(DirectDevice(key))
    with pytest.raises(CtapError) as e:
        LargeBlobs(ctap2).write_blob_array([])
    assert e.value.code == CtapStatus.PUAT_REQUIRED
    cp, tok = token(key, CM)
    with pytest.raises(CtapError) as e:
        LargeBlobs(ctap2, cp.protocol, tok).write_blob_array([])
    assert e.value.code == CtapStatus.PIN_AUTH_INVALID
    for protocol in (1, 2):
        cp, tok = token(key, LBW, protocol)
        LargeBlobs(ctap2, cp.protocol, tok).write_blob_array([{1: b"z", 2: b"k" * 12, 3: 1}])
    assert LargeBlobs(ctap2).read_blob_array() == [{1: b"z", 2: b"k" * 12, 3: 1}]


def test_large_blob_through_webauthn_extension() -> None:
    key = with_pin(make_key())
    client = client_for(key, PIN)
    client.make_credential(
        creation_options(
            resident="required", uv="required", extensions={"largeBlob": {"support": "required"}}
        )
    )
    from ctap_testkit import request_options

    w = client.get_assertion(
        request_options(uv="required", extensions={"largeBlob": {"write": b"hi"}})
    )
    assert w.get_response(0).client_extension_results["largeBlob"]["written"] is True
    r = client.get_assertion(
        request_options(uv="required", extensions={"largeBlob": {"read": True}})
    )
    assert r.get_response(0).client_extension_results["largeBlob"]["blob"] in (b"hi", "aGk")


def test_config_always_uv_and_min_pin_length() -> None:
    key = with_pin(make_key())
    ctap2 = Ctap2(DirectDevice(key))
    assert key.process(b"\x0d" + cbor.encode({1: 2})) == bytes([CtapStatus.PUAT_REQUIRED])
    cp, tok = token(key, ClientPin.PERMISSION.MAKE_CREDENTIAL, rp_id=RP_ID)
    with pytest.raises(CtapError) as e:
        Config(ctap2, cp.protocol, tok).toggle_always_uv()
    assert e.value.code == CtapStatus.PIN_AUTH_INVALID
    cp, tok = token(key, ACFG)
    config = Config(ctap2, cp.protocol, tok)
    config.toggle_always_uv()
    info = ctap2.get_info()
    assert info.options["alwaysUv"] is True and info.options["makeCredUvNotRqd"] is False
    assert "U2F_V2" not in info.versions
    assert key.process_u2f(b"\x00\x03\x00\x00") == b"\x6d\x00"
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(CDH, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}])
    assert e.value.code == CtapStatus.PUAT_REQUIRED
    config.set_min_pin_length(min_pin_length=6, rp_ids=["a.example", "b.example"])
    info = ctap2.get_info()
    assert info.min_pin_length == 6 and key.state.min_pin_length_rp_ids == [
        "a.example",
        "b.example",
    ]
    with pytest.raises(CtapError) as e:
        config.set_min_pin_length(min_pin_length=5)
    assert e.value.code == CtapStatus.PIN_POLICY_VIOLATION
    config.set_min_pin_length(force_change_pin=True)
    assert ctap2.get_info().force_pin_change is True


def test_enterprise_attestation() -> None:
    key = make_key()
    ctap2 = Ctap2(DirectDevice(key))
    args = (
        CDH,
        {"id": "enterprise.example.com"},
        {"id": b"u"},
        [{"type": "public-key", "alg": -7}],
    )
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*args, enterprise_attestation=1)
    assert e.value.code == CtapStatus.INVALID_PARAMETER
    Config(ctap2).enable_enterprise_attestation()  # no PIN: no token needed
    assert ctap2.get_info().options["ep"] is True
    att = ctap2.make_credential(*args, enterprise_attestation=1)
    assert att.ep_att is True and att.fmt == "packed" and "x5c" in att.att_stmt
    other = (CDH, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}])
    assert not ctap2.make_credential(*other, enterprise_attestation=1).ep_att
    assert ctap2.make_credential(*other, enterprise_attestation=2).ep_att is True
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*other, enterprise_attestation=3)
    assert e.value.code == CtapStatus.INVALID_OPTION
