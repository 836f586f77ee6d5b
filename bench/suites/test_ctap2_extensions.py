"""ctap2 suite: extensions (CTAP 2.1 §12): hmac-secret, credProtect, credBlob, largeBlobKey,
minPinLength.
"""

from __future__ import annotations

import os

import pytest
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    RP_ID,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    make_credential,
    require_extension,
    require_pin_protocol,
)

SALT_SIZE = 32
CRED_PROTECT_UV_OPTIONAL_WITH_LIST = 2
CRED_PROTECT_UV_REQUIRED = 3


def _rp(label: str) -> str:
    return f"{label}-{os.urandom(4).hex()}.example"


def _hmac_secret(ctap2, cred, rp_id, salt, version):
    client = ClientPin(ctap2, require_pin_protocol(ctap2, version))
    key_agreement, shared = client._get_shared_secret()
    protocol = client.protocol
    salt_enc = protocol.encrypt(shared, salt)
    request = {
        1: key_agreement,
        2: salt_enc,
        3: protocol.authenticate(shared, salt_enc),
        4: protocol.VERSION,
    }
    assertion = ctap2.get_assertion(
        rp_id, client_data_hash("hmac"), [descriptor(cred)], extensions={"hmac-secret": request}
    )
    output = (assertion.auth_data.extensions or {}).get("hmac-secret")
    assert output is not None, "getAssertion answered without the hmac-secret output"
    return protocol.decrypt(shared, output)


@pytest.mark.parametrize("version", [1, 2], ids=["pinUvAuthProtocol1", "2"])
def test_hmac_secret(ctap_device, version):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "hmac-secret")
    rp_id = _rp("hmac")
    response, _ = make_credential(ctap2, rp_id=rp_id, extensions={"hmac-secret": True})
    assert (response.auth_data.extensions or {}).get("hmac-secret") is True
    cred = credential_id(response)
    salt, other = os.urandom(SALT_SIZE), os.urandom(SALT_SIZE)
    first = _hmac_secret(ctap2, cred, rp_id, salt, version)
    assert len(first) == SALT_SIZE, f"hmac-secret output is {len(first)} bytes"
    assert _hmac_secret(ctap2, cred, rp_id, salt, version) == first, "same salt, other secret"
    assert _hmac_secret(ctap2, cred, rp_id, other, version) != first, "other salt, same secret"


def test_hmac_secret_bad_salt_auth(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "hmac-secret")
    rp_id = _rp("hmacbad")
    response, _ = make_credential(ctap2, rp_id=rp_id, extensions={"hmac-secret": True})
    client = ClientPin(ctap2, require_pin_protocol(ctap2, max(ctap2.info.pin_uv_protocols)))
    key_agreement, shared = client._get_shared_secret()
    salt_enc = client.protocol.encrypt(shared, os.urandom(SALT_SIZE))
    request = {1: key_agreement, 2: salt_enc, 3: b"\0" * 32, 4: client.protocol.VERSION}
    # CTAP 2.0 named CTAP2_ERR_EXTENSION_FIRST for this; 2.1 keys may answer PIN_AUTH_INVALID.
    codes = (ERR.EXTENSION_FIRST, ERR.PIN_AUTH_INVALID, ERR.INVALID_PARAMETER)
    with expect_ctap_error(*codes, what="bad saltAuth"):
        ctap2.get_assertion(
            rp_id,
            client_data_hash(),
            [descriptor(credential_id(response))],
            extensions={"hmac-secret": request},
        )


def test_cred_protect_uv_required_hides_the_credential(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "credProtect")
    rp_id = _rp("protect3")
    response, _ = make_credential(
        ctap2, rk=True, rp_id=rp_id, extensions={"credProtect": CRED_PROTECT_UV_REQUIRED}
    )
    outputs = response.auth_data.extensions or {}
    assert outputs.get("credProtect") == CRED_PROTECT_UV_REQUIRED, f"outputs {outputs}"
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="uvRequired credential without UV"):
        ctap2.get_assertion(rp_id, client_data_hash(), [descriptor(credential_id(response))])


def test_cred_protect_optional_with_list(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "credProtect")
    rp_id = _rp("protect2")
    response, _ = make_credential(
        ctap2,
        rk=True,
        rp_id=rp_id,
        extensions={"credProtect": CRED_PROTECT_UV_OPTIONAL_WITH_LIST},
    )
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="level-2 credential, no allowList, no UV"):
        ctap2.get_assertion(rp_id, client_data_hash())
    cdh = client_data_hash("listed")
    assertion = ctap2.get_assertion(rp_id, cdh, [descriptor(credential_id(response))])
    assert bytes(assertion.credential["id"]) == credential_id(response)


def test_cred_blob(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "credBlob")
    blob = os.urandom(min(32, ctap2.info.max_cred_blob_length or 32))
    rp_id = _rp("blob")
    response, _ = make_credential(ctap2, rk=True, rp_id=rp_id, extensions={"credBlob": blob})
    assert (response.auth_data.extensions or {}).get("credBlob") is True, "credBlob not stored"
    assertion = ctap2.get_assertion(
        rp_id,
        client_data_hash(),
        [descriptor(credential_id(response))],
        extensions={"credBlob": True},  # §12.2: the authenticator input is credBlob: true
    )
    assert (assertion.auth_data.extensions or {}).get("credBlob") == blob, "credBlob altered"


def test_cred_blob_too_long_is_not_stored(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "credBlob")
    too_long = os.urandom((ctap2.info.max_cred_blob_length or 32) + 1)
    response, _ = make_credential(
        ctap2, rk=True, rp_id=_rp("long"), extensions={"credBlob": too_long}
    )
    assert (response.auth_data.extensions or {}).get("credBlob") is False


def test_large_blob_key(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "largeBlobKey")
    rp_id = _rp("lbk")
    response, _ = make_credential(ctap2, rk=True, rp_id=rp_id, extensions={"largeBlobKey": True})
    key = response.large_blob_key
    assert key is not None and len(key) == 32, "makeCredential gave no 32-byte largeBlobKey"
    assertion = ctap2.get_assertion(rp_id, client_data_hash(), extensions={"largeBlobKey": True})
    assert assertion.large_blob_key == key, "getAssertion gave another largeBlobKey"


def test_large_blob_key_needs_rk(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "largeBlobKey")
    with expect_ctap_error(ERR.INVALID_OPTION, what="largeBlobKey on a non-discoverable cred"):
        make_credential(ctap2, rp_id=_rp("lbknrk"), extensions={"largeBlobKey": True})


@pytest.mark.destructive
@pytest.mark.power_cycle
@pytest.mark.needs_pin
def test_min_pin_length_extension(fresh_ctap2, bench_pin):
    from fido2.ctap2 import Config

    require_extension(fresh_ctap2, "minPinLength")
    if not Config.is_supported(fresh_ctap2.info):
        pytest.skip("unclaimed: authnrCfg (needed to list RP IDs for minPinLength)")
    version = max(fresh_ctap2.info.pin_uv_protocols)
    client = ClientPin(fresh_ctap2, require_pin_protocol(fresh_ctap2, version))
    client.set_pin(bench_pin)
    cfg_token = client.get_pin_token(bench_pin, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(fresh_ctap2, client.protocol, cfg_token).set_min_pin_length(rp_ids=[RP_ID])
    token = client.get_pin_token(bench_pin, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    cdh = client_data_hash("minpin")
    response, _ = make_credential(
        fresh_ctap2,
        cdh=cdh,
        extensions={"minPinLength": True},
        pin_uv_param=client.protocol.authenticate(token, cdh),
        pin_uv_protocol=client.protocol.VERSION,
    )
    expected = fresh_ctap2.get_info().min_pin_length
    got = (response.auth_data.extensions or {}).get("minPinLength")
    assert got == expected, f"minPinLength output {got}, getInfo says {expected}"
