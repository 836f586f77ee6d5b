"""CTAP 2.1 management commands through python-fido2 over the in-process HID transport.

Credential management, large blobs and authenticatorConfig send the biggest and most varied
messages (large-blob fragments fill maxMsgSize), so they exercise CTAPHID fragmentation with
the real core and python-fido2's real client classes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.blob import LargeBlobs
from fido2.ctap2.config import Config
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin

from tokenbench.emulators.key import EmulatedKey

PIN = "246810"
RP = {"id": "example.com", "name": "Example"}
ES256 = [{"type": "public-key", "alg": -7}]
P = ClientPin.PERMISSION


@pytest.fixture
def ctap() -> Iterator[Ctap2]:
    with EmulatedKey.create(seed=31) as key:
        ctap = Ctap2(key.hid_device())
        ClientPin(ctap).set_pin(PIN)
        yield ctap


def token(ctap: Ctap2, permissions: int, rp_id: str | None = None) -> tuple[ClientPin, bytes]:
    client_pin = ClientPin(ctap)
    return client_pin, client_pin.get_pin_token(PIN, permissions, rp_id)


def register_resident(ctap: Ctap2, user_id: bytes, extensions: dict | None = None):  # type: ignore[no-untyped-def]
    client_pin, pin_token = token(ctap, P.MAKE_CREDENTIAL, RP["id"])
    cdh = hashlib.sha256(user_id).digest()
    return ctap.make_credential(
        cdh,
        RP,
        {"id": user_id, "name": user_id.decode()},
        ES256,
        extensions=extensions,
        options={"rk": True},
        pin_uv_param=client_pin.protocol.authenticate(pin_token, cdh),
        pin_uv_protocol=client_pin.protocol.VERSION,
    )


def test_credential_management_over_hid(ctap: Ctap2) -> None:
    for user in (b"alice", b"bob"):
        register_resident(ctap, user)
    client_pin, pin_token = token(ctap, P.CREDENTIAL_MGMT)
    credman = CredentialManagement(ctap, client_pin.protocol, pin_token)
    assert credman.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 2
    rps = credman.enumerate_rps()
    assert [rp[CredentialManagement.RESULT.RP]["id"] for rp in rps] == [RP["id"]]
    creds = credman.enumerate_creds(hashlib.sha256(RP["id"].encode()).digest())
    names = sorted(c[CredentialManagement.RESULT.USER]["name"] for c in creds)
    assert names == ["alice", "bob"]
    credman.delete_cred(creds[0][CredentialManagement.RESULT.CREDENTIAL_ID])
    assert credman.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1


def test_large_blobs_fill_whole_messages(ctap: Ctap2) -> None:
    response = register_resident(ctap, b"carol", {"largeBlobKey": True})
    blob_key = response.large_blob_key
    assert blob_key and len(blob_key) == 32
    client_pin, pin_token = token(ctap, P.LARGE_BLOB_WRITE)
    blobs = LargeBlobs(ctap, client_pin.protocol, pin_token)
    data = bytes(range(256)) * 2  # compressed it still spans several CTAPHID packets
    blobs.put_blob(blob_key, data)
    assert LargeBlobs(ctap).get_blob(blob_key) == data
    assert len(LargeBlobs(ctap).read_blob_array()) == 1


def test_authenticator_config_over_hid(ctap: Ctap2) -> None:
    client_pin, pin_token = token(ctap, P.AUTHENTICATOR_CFG)
    Config(ctap, client_pin.protocol, pin_token).set_min_pin_length(8)
    assert ctap.get_info().min_pin_length == 8
    with pytest.raises(CtapError) as err:
        ClientPin(ctap).change_pin(PIN, "1234567")
    assert err.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
