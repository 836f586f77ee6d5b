"""ctap2 suite: authenticatorClientPIN with both PIN/UV auth protocols (CTAP 2.1 §6.5).

Set, change, retries, the three-failures power-cycle rule, blocking, permissions and the
permissions RP ID. Every test starts from a reset key (destructive).
"""

from __future__ import annotations

import pytest
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    FLAG_UV,
    OTHER_RP_ID,
    RP_ID,
    client_data_hash,
    expect_ctap_error,
    make_credential,
    require_pin_protocol,
    skip_unclaimed,
)

pytestmark = [pytest.mark.destructive, pytest.mark.needs_pin, pytest.mark.power_cycle]
PROTOCOLS = pytest.mark.parametrize("version", [1, 2], ids=["pinUvAuthProtocol1", "2"])
INITIAL_RETRIES = 8
CONSECUTIVE_FAILURES = 3
WRONG_PIN = "000000000"
PADDED_PIN_SIZE = 64
CLIENT_PIN = 0x06
SET_PIN = 0x03
SHORT_PIN = "123"
NEW_PIN = "2718281828"
MC = ClientPin.PERMISSION.MAKE_CREDENTIAL
GA = ClientPin.PERMISSION.GET_ASSERTION
CM = ClientPin.PERMISSION.CREDENTIAL_MGMT


def _client(ctap2, version) -> ClientPin:
    return ClientPin(ctap2, require_pin_protocol(ctap2, version))


def _require_permissions(ctap2) -> None:
    """Permissions and the permissions RP ID exist only with pinUvAuthToken (CTAP 2.1)."""
    if not ctap2.info.options.get("pinUvAuthToken"):
        skip_unclaimed("pinUvAuthToken (permissions, permissions RP ID)")


@PROTOCOLS
def test_set_pin_then_token_gives_uv(fresh_ctap2, bench_pin, version):
    client = _client(fresh_ctap2, version)
    assert not fresh_ctap2.get_info().options.get("clientPin"), "a reset key still has a PIN"
    client.set_pin(bench_pin)
    assert fresh_ctap2.get_info().options.get("clientPin") is True, "clientPin not true after set"
    assert client.get_pin_retries()[0] == INITIAL_RETRIES
    token = client.get_pin_token(bench_pin, MC | GA, RP_ID)
    cdh = client_data_hash("pin")
    param = client.protocol.authenticate(token, cdh)
    response, _ = make_credential(
        fresh_ctap2, cdh=cdh, pin_uv_param=param, pin_uv_protocol=client.protocol.VERSION
    )
    assert response.auth_data.flags & FLAG_UV, "makeCredential with a PIN token lacks UV"


@PROTOCOLS
def test_set_pin_twice_is_not_allowed(fresh_ctap2, bench_pin, version):
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    with expect_ctap_error(ERR.NOT_ALLOWED, what="setPIN on a key that has a PIN"):
        client.set_pin(NEW_PIN)


@PROTOCOLS
def test_short_pin_is_a_policy_violation(fresh_ctap2, version):
    client = _client(fresh_ctap2, version)
    key_agreement, shared = client._get_shared_secret()
    padded = SHORT_PIN.encode().ljust(PADDED_PIN_SIZE, b"\0")  # python-fido2 refuses to send it
    new_pin_enc = client.protocol.encrypt(shared, padded)
    request = {
        1: client.protocol.VERSION,
        2: SET_PIN,
        3: key_agreement,
        4: client.protocol.authenticate(shared, new_pin_enc),
        5: new_pin_enc,
    }
    with expect_ctap_error(ERR.PIN_POLICY_VIOLATION, what="a 3-digit PIN"):
        fresh_ctap2.send_cbor(CLIENT_PIN, request)


@PROTOCOLS
def test_wrong_pin_retries_and_power_cycle_rule(fresh_ctap2, bench_pin, power_cycle, version):
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    for attempt in range(1, CONSECUTIVE_FAILURES):
        with expect_ctap_error(ERR.PIN_INVALID, what=f"wrong PIN #{attempt}"):
            client.get_pin_token(WRONG_PIN)
        assert client.get_pin_retries()[0] == INITIAL_RETRIES - attempt
    with expect_ctap_error(ERR.PIN_AUTH_BLOCKED, what="third consecutive wrong PIN"):
        client.get_pin_token(WRONG_PIN)
    with expect_ctap_error(ERR.PIN_AUTH_BLOCKED, what="right PIN before the power cycle"):
        client.get_pin_token(bench_pin)
    power_cycle()
    client = _client(fresh_ctap2, version)
    assert client.get_pin_token(bench_pin), "right PIN refused after the power cycle"
    assert client.get_pin_retries()[0] == INITIAL_RETRIES, "retries not restored by a good PIN"


@PROTOCOLS
def test_pin_blocks_after_eight_failures(fresh_ctap2, bench_pin, power_cycle, version):
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    codes = []
    for attempt in range(INITIAL_RETRIES):
        if attempt and attempt % CONSECUTIVE_FAILURES == 0:
            power_cycle()
            client = _client(fresh_ctap2, version)
        try:
            client.get_pin_token(WRONG_PIN)
        except Exception as exc:
            codes.append(getattr(exc, "code", None))
    assert codes[-1] == ERR.PIN_BLOCKED, f"8th wrong PIN answered {codes[-1]!r}"
    assert client.get_pin_retries()[0] == 0
    power_cycle()
    client = _client(fresh_ctap2, version)
    with expect_ctap_error(ERR.PIN_BLOCKED, what="right PIN on a blocked key"):
        client.get_pin_token(bench_pin)


@PROTOCOLS
def test_change_pin(fresh_ctap2, bench_pin, version):
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    with expect_ctap_error(ERR.PIN_INVALID, what="changePIN with the wrong current PIN"):
        client.change_pin(WRONG_PIN, NEW_PIN)
    client.change_pin(bench_pin, NEW_PIN)
    with expect_ctap_error(ERR.PIN_INVALID, what="the old PIN after changePIN"):
        client.get_pin_token(bench_pin)
    assert client.get_pin_token(NEW_PIN)


@PROTOCOLS
def test_token_is_bound_to_its_rp_id(fresh_ctap2, bench_pin, version):
    _require_permissions(fresh_ctap2)
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    token = client.get_pin_token(bench_pin, MC, RP_ID)
    cdh = client_data_hash("rpid")
    param = client.protocol.authenticate(token, cdh)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="token for one RP used for another"):
        make_credential(
            fresh_ctap2,
            rp_id=OTHER_RP_ID,
            cdh=cdh,
            pin_uv_param=param,
            pin_uv_protocol=client.protocol.VERSION,
        )


@PROTOCOLS
def test_token_without_permission_is_refused(fresh_ctap2, bench_pin, version):
    _require_permissions(fresh_ctap2)
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    token = client.get_pin_token(bench_pin, GA, RP_ID)
    cdh = client_data_hash("perm")
    param = client.protocol.authenticate(token, cdh)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="makeCredential with a ga-only token"):
        make_credential(
            fresh_ctap2, cdh=cdh, pin_uv_param=param, pin_uv_protocol=client.protocol.VERSION
        )


@PROTOCOLS
def test_bad_pin_uv_auth_param_is_refused(fresh_ctap2, bench_pin, version):
    client = _client(fresh_ctap2, version)
    client.set_pin(bench_pin)
    token = client.get_pin_token(bench_pin, MC, RP_ID)
    cdh = client_data_hash("bad")
    param = client.protocol.authenticate(token, client_data_hash("another"))
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="pinUvAuthParam over another hash"):
        make_credential(
            fresh_ctap2, cdh=cdh, pin_uv_param=param, pin_uv_protocol=client.protocol.VERSION
        )


def test_discoverable_credential_needs_the_pin(fresh_ctap2, bench_pin):
    client = _client(
        fresh_ctap2,
        fresh_ctap2.info.pin_uv_protocols[0] if fresh_ctap2.info.pin_uv_protocols else 2,
    )
    client.set_pin(bench_pin)
    with expect_ctap_error(ERR.PUAT_REQUIRED, what="discoverable makeCredential without the PIN"):
        make_credential(fresh_ctap2, rk=True)
