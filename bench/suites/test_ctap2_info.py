"""ctap2 suite: authenticatorGetInfo (CTAP 2.1 §6.4) — consistency and canonical CBOR."""

from __future__ import annotations

from fido2 import cbor
from fido2.ctap import CtapDevice
from fido2.hid import CTAPHID

from tokenbench.bench.suites._ctap import ctap2_of

GET_INFO = 0x04
KNOWN_VERSIONS = {"U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1", "FIDO_2_2"}
MIN_MAX_MSG_SIZE = 1024  # §6.4: a missing maxMsgSize means 1024
AAGUID_SIZE = 16
INFO_KEY_VERSIONS = 0x01
INFO_KEY_AAGUID = 0x03


def _raw_info(device: CtapDevice) -> bytes:
    ctap2_of(device)
    response = device.call(CTAPHID.CBOR, bytes([GET_INFO]))
    assert response[:1] == b"\x00", f"getInfo status 0x{response[0]:02x}"
    return response[1:]


def test_get_info_is_canonical_cbor(ctap_device):
    body = _raw_info(ctap_device)
    decoded = cbor.decode(body)
    assert isinstance(decoded, dict), "getInfo is not a CBOR map"
    assert cbor.encode(decoded) == body, "getInfo is not in CTAP2 canonical CBOR encoding"
    assert all(isinstance(k, int) for k in decoded), "getInfo map keys must be integers"


def test_get_info_required_members(ctap_device):
    info = cbor.decode(_raw_info(ctap_device))
    assert isinstance(info, dict), "getInfo is not a CBOR map"
    versions = info.get(INFO_KEY_VERSIONS)
    assert isinstance(versions, list) and versions, "versions (0x01) missing or empty"
    assert set(versions) <= KNOWN_VERSIONS, f"unknown versions {set(versions) - KNOWN_VERSIONS}"
    assert "FIDO_2_0" in versions or "FIDO_2_1" in versions, "a CTAP2 key lists no FIDO_2_x"
    aaguid = info.get(INFO_KEY_AAGUID)
    assert isinstance(aaguid, bytes) and len(aaguid) == AAGUID_SIZE, "aaguid (0x03) not 16 bytes"


def test_get_info_is_consistent(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    info = ctap2.get_info()
    assert all(isinstance(v, bool) for v in info.options.values()), "options must be booleans"
    assert info.max_msg_size >= MIN_MAX_MSG_SIZE, f"maxMsgSize {info.max_msg_size} < 1024"
    if "clientPin" in info.options or info.options.get("pinUvAuthToken"):
        assert info.pin_uv_protocols, "clientPin claimed without pinUvAuthProtocols"
        assert set(info.pin_uv_protocols) <= {1, 2}, f"protocols {info.pin_uv_protocols}"
    if "FIDO_2_1" in info.versions:
        if "clientPin" in info.options or "uv" in info.options:
            assert info.options.get("pinUvAuthToken"), "FIDO_2_1 with PIN/UV: pinUvAuthToken"
        if info.options.get("rk"):
            assert "credMgmt" in info.options, "FIDO_2_1 with resident keys requires credMgmt"
    if info.options.get("largeBlobs"):
        assert info.max_large_blob >= MIN_MAX_MSG_SIZE, "largeBlobs needs >= 1024 bytes"
        assert "largeBlobKey" in info.extensions, "largeBlobs without the largeBlobKey extension"
    if "credBlob" in info.extensions:
        assert info.max_cred_blob_length >= 32, "credBlob: maxCredBlobLength must be >= 32"
    for alg in info.algorithms:
        assert alg.get("type") == "public-key" and isinstance(alg.get("alg"), int)
    assert info == ctap2.get_info(), "two getInfo calls disagree"
