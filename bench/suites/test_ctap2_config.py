"""ctap2 suite: authenticatorConfig's alwaysUv and its token (CTAP 2.1 §6.11, §7.2.3).

With alwaysUv on, makeCredUvNotRqd reads false (§6.1.2 step 6.1) and every makeCredential and
every getAssertion that asks for user presence needs user verification (§6.1.2 step 6, §6.2.2
step 5); configuration needs a token with the acfg permission (§6.11.1). minPINLength is in
test_ctap2_management.py.
"""

from __future__ import annotations

import pytest
from fido2.ctap2 import Config
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    FLAG_UP,
    RP_ID,
    client_data_hash,
    credential_id,
    descriptor,
    expect_ctap_error,
    make_credential,
    pin_token,
    skip_unclaimed,
    uv_param,
)

pytestmark = [pytest.mark.destructive, pytest.mark.power_cycle, pytest.mark.needs_pin]
PERM = ClientPin.PERMISSION


def _config(ctap2, pin, permissions=PERM.AUTHENTICATOR_CFG) -> Config:
    if not Config.is_supported(ctap2.info):
        skip_unclaimed("authnrCfg")
    return Config(ctap2, *pin_token(ctap2, pin, permissions))


def _turn_always_uv_on(ctap2, pin) -> None:
    if "alwaysUv" not in ctap2.info.options:
        skip_unclaimed("alwaysUv")
    if not ctap2.get_info().options.get("alwaysUv"):
        _config(ctap2, pin).toggle_always_uv()
    options = ctap2.get_info().options
    assert options.get("alwaysUv") is True, "alwaysUv not true after toggleAlwaysUv"
    assert not options.get("makeCredUvNotRqd"), "makeCredUvNotRqd still true under alwaysUv"


def test_always_uv_makes_make_credential_need_uv(fresh_ctap2, bench_pin):
    _turn_always_uv_on(fresh_ctap2, bench_pin)
    with expect_ctap_error(ERR.PUAT_REQUIRED, what="makeCredential without UV under alwaysUv"):
        make_credential(fresh_ctap2)
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, RP_ID)
    cdh = client_data_hash("always")
    make_credential(fresh_ctap2, cdh=cdh, **uv_param(protocol, token, cdh))


def test_always_uv_makes_get_assertion_need_uv(fresh_ctap2, bench_pin):
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL, RP_ID)
    cdh = client_data_hash("made")
    made, _ = make_credential(fresh_ctap2, cdh=cdh, **uv_param(protocol, token, cdh))
    allow = [descriptor(credential_id(made))]
    _turn_always_uv_on(fresh_ctap2, bench_pin)
    with expect_ctap_error(ERR.PUAT_REQUIRED, what="getAssertion without UV under alwaysUv"):
        fresh_ctap2.get_assertion(RP_ID, client_data_hash(), allow)
    # §6.2.2 step 5 applies to "up": true only: a silent probe still works
    probe = fresh_ctap2.get_assertion(RP_ID, client_data_hash(), allow, options={"up": False})
    assert not probe.auth_data.flags & FLAG_UP


def test_config_needs_the_acfg_permission(fresh_ctap2, bench_pin):
    config = _config(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL | PERM.GET_ASSERTION)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="authenticatorConfig with an mc/ga token"):
        if "alwaysUv" in fresh_ctap2.info.options:
            config.toggle_always_uv()
        else:
            config.set_min_pin_length()
