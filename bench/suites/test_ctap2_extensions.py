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
    pin_token,
    require_extension,
    require_pin_protocol,
    skip_unclaimed,
    uv_param,
)

SALT_SIZE = 32
CRED_PROTECT_UV_OPTIONAL_WITH_LIST = 2
CRED_PROTECT_UV_REQUIRED = 3
PROTOCOLS = pytest.mark.parametrize("version", [1, 2], ids=["pinUvAuthProtocol1", "2"])
PERM = ClientPin.PERMISSION


def _rp(label: str) -> str:
    return f"{label}-{os.urandom(4).hex()}.example"


def _hmac_input(ctap2, salts, version):
    """hmac-secret's getAssertion input for `salts` (one or two back to back), with the
    protocol and shared secret that decrypt its output."""
    client = ClientPin(ctap2, require_pin_protocol(ctap2, version))
    key_agreement, shared = client._get_shared_secret()
    protocol = client.protocol
    salt_enc = protocol.encrypt(shared, salts)
    request = {
        1: key_agreement,
        2: salt_enc,
        3: protocol.authenticate(shared, salt_enc),
        4: protocol.VERSION,
    }
    return request, protocol, shared


def _hmac_secret(ctap2, cred, rp_id, salt, version, auth=None):
    """The decrypted hmac-secret output; `auth` = (protocol, token) adds user verification."""
    request, protocol, shared = _hmac_input(ctap2, salt, version)
    cdh = client_data_hash("hmac")
    assertion = ctap2.get_assertion(
        rp_id,
        cdh,
        [descriptor(cred)],
        extensions={"hmac-secret": request},
        **(uv_param(auth[0], auth[1], cdh) if auth else {}),
    )
    output = (assertion.auth_data.extensions or {}).get("hmac-secret")
    assert output is not None, "getAssertion answered without the hmac-secret output"
    return protocol.decrypt(shared, output)


def _hmac_credential(ctap2):
    """(rp_id, credential ID) of a new credential with hmac-secret."""
    require_extension(ctap2, "hmac-secret")
    rp_id = _rp("hmac")
    response, _ = make_credential(ctap2, rp_id=rp_id, extensions={"hmac-secret": True})
    return rp_id, credential_id(response)


@PROTOCOLS
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


@PROTOCOLS
def test_hmac_secret_two_salts(ctap_device, version):
    ctap2 = ctap2_of(ctap_device)
    rp_id, cred = _hmac_credential(ctap2)
    salt1, salt2 = os.urandom(SALT_SIZE), os.urandom(SALT_SIZE)
    one = _hmac_secret(ctap2, cred, rp_id, salt1, version)
    both = _hmac_secret(ctap2, cred, rp_id, salt1 + salt2, version)
    assert len(both) == 2 * SALT_SIZE, f"two salts gave {len(both)} bytes of output"
    assert both[:SALT_SIZE] == one, "output1 differs from the one-salt output for salt1"
    assert both[SALT_SIZE:] != one, "output2 equals output1"
    swapped = _hmac_secret(ctap2, cred, rp_id, salt2 + salt1, version)
    assert swapped == both[SALT_SIZE:] + both[:SALT_SIZE], "swapped salts, unswapped outputs"


@pytest.mark.parametrize("size", [16, 96], ids=["16-bytes", "96-bytes"])
def test_hmac_secret_salt_of_wrong_length(ctap_device, size):
    ctap2 = ctap2_of(ctap_device)
    rp_id, cred = _hmac_credential(ctap2)
    with expect_ctap_error(ERR.INVALID_LENGTH, what=f"hmac-secret salts of {size} bytes"):
        _hmac_secret(ctap2, cred, rp_id, os.urandom(size), max(ctap2.info.pin_uv_protocols))


@pytest.mark.parametrize("missing", [1, 2, 3], ids=["keyAgreement", "saltEnc", "saltAuth"])
def test_hmac_secret_input_missing_a_member(ctap_device, missing):
    ctap2 = ctap2_of(ctap_device)
    rp_id, cred = _hmac_credential(ctap2)
    request, _, _ = _hmac_input(ctap2, os.urandom(SALT_SIZE), max(ctap2.info.pin_uv_protocols))
    del request[missing]
    with expect_ctap_error(ERR.MISSING_PARAMETER, what=f"hmac-secret input without {missing}"):
        ctap2.get_assertion(
            rp_id, client_data_hash(), [descriptor(cred)], extensions={"hmac-secret": request}
        )


@pytest.mark.destructive
@pytest.mark.power_cycle
@pytest.mark.needs_pin
def test_hmac_secret_differs_with_uv(fresh_ctap2, bench_pin):
    require_extension(fresh_ctap2, "hmac-secret")
    rp_id = _rp("hmacuv")
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, rp_id)
    cdh = client_data_hash("hmacuv")
    response, _ = make_credential(
        fresh_ctap2,
        rp_id=rp_id,
        cdh=cdh,
        extensions={"hmac-secret": True},
        **uv_param(protocol, token, cdh),
    )
    cred, salt, version = credential_id(response), os.urandom(SALT_SIZE), protocol.VERSION
    without_uv = _hmac_secret(fresh_ctap2, cred, rp_id, salt, version)
    auth = pin_token(fresh_ctap2, bench_pin, PERM.GET_ASSERTION, rp_id)
    with_uv = _hmac_secret(fresh_ctap2, cred, rp_id, salt, version, auth)
    # §12.5: CredRandomWithUV and CredRandomWithoutUV are two different secrets
    assert with_uv != without_uv, "the same hmac-secret output with and without UV"
    assert _hmac_secret(fresh_ctap2, cred, rp_id, salt, version) == without_uv


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


@pytest.mark.parametrize(
    "level",
    [CRED_PROTECT_UV_OPTIONAL_WITH_LIST, CRED_PROTECT_UV_REQUIRED],
    ids=["level2", "level3"],
)
@pytest.mark.destructive
@pytest.mark.power_cycle
@pytest.mark.needs_pin
def test_protected_credential_is_discovered_only_with_uv(fresh_ctap2, bench_pin, level):
    require_extension(fresh_ctap2, "credProtect")
    if not fresh_ctap2.info.options.get("rk"):
        skip_unclaimed("resident keys (option rk)")
    rp_id = _rp(f"protect{level}uv")
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, rp_id)
    cdh = client_data_hash("protected")
    response, _ = make_credential(
        fresh_ctap2,
        rk=True,
        rp_id=rp_id,
        cdh=cdh,
        extensions={"credProtect": level},
        **uv_param(protocol, token, cdh),
    )
    with expect_ctap_error(ERR.NO_CREDENTIALS, what=f"credProtect {level}, discovery, no UV"):
        fresh_ctap2.get_assertion(rp_id, client_data_hash())
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.GET_ASSERTION, rp_id)
    cdh = client_data_hash("with uv")
    assertion = fresh_ctap2.get_assertion(rp_id, cdh, **uv_param(protocol, token, cdh))
    assert bytes(assertion.credential["id"]) == credential_id(response)


def test_uv_required_credential_does_not_exclude_without_uv(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, "credProtect")
    rp_id = _rp("protect3x")
    first, _ = make_credential(
        ctap2, rp_id=rp_id, extensions={"credProtect": CRED_PROTECT_UV_REQUIRED}
    )
    # §6.1.2 step 12.2: without UV a userVerificationRequired credential is skipped
    second, _ = make_credential(ctap2, rp_id=rp_id, exclude=[credential_id(first)])
    assert credential_id(second) != credential_id(first)


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
