"""Device profiles, including ones loaded from getInfo responses captured from real keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ctap_testkit import DirectDevice, client_for, creation_options, root_verifier
from fido2 import cbor
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import DeviceProfile, get_profile

DATA = Path(__file__).parent.parent / "data" / "getinfo"


def without(mapping: dict, key: object) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def load(name: str) -> DeviceProfile:
    return DeviceProfile.from_getinfo((DATA / name).read_bytes(), name=name)


def test_libfido2_capture_stands_in_for_that_model() -> None:
    profile = load("libfido2-wiredata-fido21.cbor")
    key = Authenticator(Env.for_tests(), profile)
    info = Ctap2(DirectDevice(key)).get_info()
    original = cbor.decode((DATA / "libfido2-wiredata-fido21.cbor").read_bytes())
    assert bytes(info.aaguid) == original[3] == profile.aaguid
    assert info.versions == original[1]
    assert info.max_msg_size == 1536 and info.pin_uv_protocols == [2, 1]
    assert info.transports == ["nfc", "usb", "smart-card"]
    assert set(info.extensions) <= set(original[2])
    assert "previewSign" not in info.extensions
    assert "extension previewSign" in profile.dropped
    assert [a["alg"] for a in info.algorithms] == [-7, -8, -35]  # ES384 kept: emulated now
    assert info.options["credMgmt"] is True and info.options["clientPin"] is False
    reg = client_for(key).make_credential(creation_options())
    att = reg.response.attestation_object
    assert bytes(att.auth_data.credential_data.aaguid) == original[3]
    root_verifier(key).verify_attestation(att, reg.response.client_data.hash)


def test_yubikey_fido20_capture() -> None:
    profile = load("yubikey-fido20.cbor")
    key = Authenticator(Env.for_tests(), profile)
    assert not profile.ctap21 and profile.u2f
    info = Ctap2(DirectDevice(key)).get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0"] and info.extensions == ["hmac-secret"]
    assert info.pin_uv_protocols == [1] and info.max_msg_size == 1200
    assert key.process(b"\x0b") == b"\x01"  # no selection command in CTAP 2.0
    assert Ctap1(DirectDevice(key)).get_version() == "U2F_V2"


def test_from_getinfo_accepts_json_and_status_prefixed_cbor() -> None:
    raw = (DATA / "yubikey-fido20.cbor").read_bytes()
    assert DeviceProfile.from_getinfo(b"\x00" + raw).aaguid == load("yubikey-fido20.cbor").aaguid
    as_json = json.dumps(
        {
            "versions": ["FIDO_2_0"],
            "aaguid": "f8a011f3-8c0a-4d15-8006-17111f9edc7d",
            "options": {"rk": True, "clientPin": False, "uv": True},
            "maxMsgSize": 2048,
        }
    )
    profile = DeviceProfile.from_getinfo(as_json)
    assert profile.max_msg_size == 2048 and "option uv" in profile.dropped
    assert profile.aaguid.hex() == "f8a011f38c0a4d15800617111f9edc7d"


@pytest.mark.parametrize("bad", [b"\xa1", b"\x80", "{", json.dumps({"versions": "x"})])
def test_from_getinfo_rejects_garbage(bad) -> None:
    with pytest.raises(ValueError):
        DeviceProfile.from_getinfo(bad)


def test_named_profiles() -> None:
    assert get_profile("default").ctap21
    assert not get_profile("ctap20").ctap21 and get_profile("ctap20").ctap2
    assert not get_profile("u2f-only").ctap2 and get_profile("u2f-only").u2f
    with pytest.raises(ValueError, match="unknown device profile"):
        get_profile("nope")


@pytest.mark.parametrize("name", ["yubikey-fido20.cbor", "libfido2-wiredata-fido21.cbor"])
def test_a_verbatim_profile_answers_the_capture_byte_for_byte(name: str) -> None:
    captured = (DATA / name).read_bytes().removeprefix(b"\x00")
    key = Authenticator(Env.for_tests(), get_profile(f"verbatim:{DATA / name}"))
    assert key.process(b"\x04") == b"\x00" + captured
    honest = Authenticator(Env.for_tests(), get_profile(f"captured:{DATA / name}"))
    assert honest.process(b"\x04") != b"\x00" + captured, "the honest profile drops claims"


def test_a_verbatim_profile_keeps_the_live_members_current() -> None:
    name = "libfido2-wiredata-fido21.cbor"
    key = Authenticator(Env.for_tests(), get_profile(f"verbatim:{DATA / name}"))
    ClientPin(Ctap2(DirectDevice(key))).set_pin("4321")
    info = cbor.decode(key.process(b"\x04")[1:])
    original = cbor.decode((DATA / name).read_bytes())
    assert info[4]["clientPin"] is True and original[4]["clientPin"] is False
    assert {k: v for k, v in info.items() if k != 4} == {
        k: v for k, v in original.items() if k != 4
    }
    assert {k: v for k, v in info[4].items() if k != "clientPin"} == {
        k: v for k, v in original[4].items() if k != "clientPin"
    }


@pytest.mark.parametrize("bad", ["verbatim:/no/such/file", "captured:" + __file__])
def test_a_capture_that_cannot_be_read_is_one_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        get_profile(bad)
