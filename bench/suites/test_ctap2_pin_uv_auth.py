"""ctap2 suite: pinUvAuthParam and the pinUvAuthToken in makeCredential and getAssertion.

The zero-length probe (CTAP 2.1 §6.1.2 and §6.2.2 step 1), pinUvAuthProtocol checks (step 2),
a token spent by the ceremony that used it (§6.1.2 step 14.4, §6.2.2 step 9.4) and the user
entity returned after user verification (§6.2.2 step 12.3, WebAuthn §5.4.3: 64-byte names).
"""

from __future__ import annotations

import os

import pytest
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    FLAG_UV,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    key_params,
    make_credential,
    pin_token,
    rp,
    skip_unclaimed,
    uv_param,
)

MAKE_CREDENTIAL = 0x01
GET_ASSERTION = 0x02
CEREMONIES = pytest.mark.parametrize("ceremony", [MAKE_CREDENTIAL, GET_ASSERTION], ids=["mc", "ga"])
PARAM_KEY = {MAKE_CREDENTIAL: 8, GET_ASSERTION: 6}
PROTOCOL_KEY = {MAKE_CREDENTIAL: 9, GET_ASSERTION: 7}
UNKNOWN_PROTOCOL = 99
SOME_PARAM = b"\x01" * 16
MAX_USER_FIELD = 64  # WebAuthn: user handle, name and displayName up to 64 bytes are kept whole
PERM = ClientPin.PERMISSION


def _require_client_pin(ctap2) -> None:
    if not ClientPin.is_supported(ctap2.info):
        skip_unclaimed("clientPin")


def _request(ceremony: int) -> dict[int, object]:
    """A request that reaches the pinUvAuthParam checks (for an unknown credential)."""
    if ceremony == MAKE_CREDENTIAL:
        return {
            1: client_data_hash("puat"),
            2: rp(),
            3: {"id": b"puat", "name": "puat"},
            4: key_params(),
        }
    return {1: rp()["id"], 2: client_data_hash("puat"), 3: [descriptor(os.urandom(32))]}


@CEREMONIES
@pytest.mark.needs_presence
def test_zero_length_pin_uv_auth_param_asks_whether_a_pin_is_set(ctap_device, ceremony):
    ctap2 = ctap2_of(ctap_device)
    _require_client_pin(ctap2)
    has_pin = ctap2.get_info().options.get("clientPin")
    request = _request(ceremony)
    request[PARAM_KEY[ceremony]] = b""
    request[PROTOCOL_KEY[ceremony]] = ctap2.info.pin_uv_protocols[0]
    expected = ERR.PIN_INVALID if has_pin else ERR.PIN_NOT_SET
    with expect_ctap_error(expected, what="zero-length pinUvAuthParam"):
        ctap2.send_cbor(ceremony, request)


@CEREMONIES
def test_pin_uv_auth_param_without_its_protocol(ctap_device, ceremony):
    ctap2 = ctap2_of(ctap_device)
    _require_client_pin(ctap2)
    request = _request(ceremony)
    request[PARAM_KEY[ceremony]] = SOME_PARAM
    with expect_ctap_error(ERR.MISSING_PARAMETER, what="pinUvAuthParam, no pinUvAuthProtocol"):
        ctap2.send_cbor(ceremony, request)


@CEREMONIES
def test_pin_uv_auth_param_with_an_unknown_protocol(ctap_device, ceremony):
    ctap2 = ctap2_of(ctap_device)
    _require_client_pin(ctap2)
    request = _request(ceremony)
    request[PARAM_KEY[ceremony]] = SOME_PARAM
    request[PROTOCOL_KEY[ceremony]] = UNKNOWN_PROTOCOL
    codes = [ERR.INVALID_PARAMETER]
    if "FIDO_2_1" not in ctap2.info.versions:
        codes.append(ERR.PIN_AUTH_INVALID)  # what CTAP 2.0 named for an unsupported pinProtocol
    with expect_ctap_error(*codes, what=f"pinUvAuthProtocol {UNKNOWN_PROTOCOL}"):
        ctap2.send_cbor(ceremony, request)


@CEREMONIES
@pytest.mark.destructive
@pytest.mark.power_cycle
@pytest.mark.needs_pin
def test_a_ceremony_spends_the_token(fresh_ctap2, bench_pin, ceremony):
    if not fresh_ctap2.info.options.get("pinUvAuthToken"):
        skip_unclaimed("pinUvAuthToken (a CTAP 2.0 pinToken stays usable)")
    rp_id = rp()["id"]
    if ceremony == MAKE_CREDENTIAL:
        protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, rp_id)

        def ceremony_with(cdh):
            return make_credential(fresh_ctap2, cdh=cdh, **uv_param(protocol, token, cdh))[0]
    else:
        protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, rp_id)
        cdh = client_data_hash("made")
        made, _ = make_credential(fresh_ctap2, cdh=cdh, **uv_param(protocol, token, cdh))
        allow = [descriptor(credential_id(made))]
        protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.GET_ASSERTION, rp_id)

        def ceremony_with(cdh):
            return fresh_ctap2.get_assertion(rp_id, cdh, allow, **uv_param(protocol, token, cdh))

    first = ceremony_with(client_data_hash("first"))
    assert first.auth_data.flags & FLAG_UV, "the first use of the token gave no UV flag"
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="the same token a second time"):
        ceremony_with(client_data_hash("second"))


@pytest.mark.destructive
@pytest.mark.power_cycle
@pytest.mark.needs_pin
def test_user_entity_after_uv_comes_back_whole_at_maximum_sizes(fresh_ctap2, bench_pin):
    if not fresh_ctap2.info.options.get("rk"):
        skip_unclaimed("resident keys (option rk)")
    rp_id = rp()["id"]
    users = {}
    for n in range(2):  # several accounts: the user entity is returned in full (§6.2.2)
        name, display_name = f"{n}" * MAX_USER_FIELD, f"D{n}" * (MAX_USER_FIELD // 2)
        entity = {"id": bytes([n]) * MAX_USER_FIELD, "name": name, "displayName": display_name}
        protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, rp_id)
        cdh = client_data_hash(name)
        fresh_ctap2.make_credential(
            cdh,
            rp(rp_id),
            entity,
            key_params(),
            options={"rk": True},
            **uv_param(protocol, token, cdh),
        )
        users[entity["id"]] = entity
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.GET_ASSERTION, rp_id)
    cdh = client_data_hash("users")
    first = fresh_ctap2.get_assertion(rp_id, cdh, **uv_param(protocol, token, cdh))
    assert first.number_of_credentials == len(users), "both accounts should be discovered"
    for assertion in (first, fresh_ctap2.get_next_assertion()):
        assert assertion.user is not None, "discovered credential without a user entity"
        sent = users[bytes(assertion.user["id"])]
        assert dict(assertion.user) == sent, "the user entity came back altered"
