"""The ctap22 profile's CTAP 2.2 features, through python-fido2's own client classes.

hmac-secret-mc (PRF outputs at registration, equal to the ones getAssertion gives later),
thirdPartyPayment (kept in the credential, reported at getAssertion and by credential
management), and the persistent pinUvAuthToken: pcmr alone, read-only, surviving a power cycle
and a state reload, revoked by a PIN change, with encIdentifier / encCredStoreState in getInfo.
Each feature is also shown to break under its fault; `default` keeps answering as a 2.1 key.
"""

from __future__ import annotations

import pytest
from ctap_testkit import (
    PIN,
    DirectDevice,
    client_for,
    creation_options,
    make_key,
    pin_client,
    request_options,
    token,
    with_pin,
)
from fido2 import cbor
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import AttestationResponse, ClientPin, CredentialManagement, Ctap2
from fido2.ctap2.extensions import HmacSecretExtension, ThirdPartyPaymentExtension
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.client_pin import PinState
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.ctap.state import MemoryStore

PCMR = ClientPin.PERMISSION.PERSISTENT_CREDENTIAL_MGMT
STATUS_VALUES = {int(s) for s in CtapStatus}
SALT1, SALT2 = b"\x11" * 32, b"\x22" * 32


def faulty_key(fault: str) -> Authenticator:
    env = Env.for_tests(0)
    return Authenticator(env.with_(faults=FaultSet.parse([fault])), get_profile("ctap22"))


def payment_client(key: Authenticator) -> Fido2Client:
    from ctap_testkit import PinInteraction

    return Fido2Client(
        DirectDevice(key),
        client_data_collector=DefaultClientDataCollector("https://example.com"),
        user_interaction=PinInteraction(PIN),
        extensions=[ThirdPartyPaymentExtension(), HmacSecretExtension()],
    )


def test_ctap22_get_info_claims_the_2_2_features_and_default_does_not() -> None:
    info = Ctap2(DirectDevice(make_key("ctap22"))).get_info()
    assert "FIDO_2_2" in info.versions
    assert {"hmac-secret-mc", "thirdPartyPayment"} <= set(info.extensions)
    assert info.options["perCredMgmtRO"] is True
    assert len(info.algorithms) == 10
    assert info.enc_identifier is None and info.enc_cred_store_state is None  # no PPUAT yet
    default = Ctap2(DirectDevice(make_key("default"))).get_info()
    assert "FIDO_2_2" not in default.versions and "perCredMgmtRO" not in default.options
    assert "hmac-secret-mc" not in default.extensions


# ---- hmac-secret-mc ------------------------------------------------------------------------
def _prf_at_registration(key: Authenticator) -> tuple[object, bytes]:
    salts = {"first": SALT1, "second": SALT2}
    reg = client_for(with_pin(key), PIN).make_credential(
        creation_options(uv="required", extensions={"prf": {"eval": salts}})
    )
    return reg.client_extension_results, reg.response.attestation_object.auth_data.credential_data


def test_hmac_secret_mc_gives_the_prf_outputs_get_assertion_gives() -> None:
    key = make_key("ctap22")
    results, cred = _prf_at_registration(key)
    assert results.prf.enabled is True
    at_mc = results.prf.results
    assert at_mc.first and at_mc.second and at_mc.first != at_mc.second
    got = client_for(key, PIN).get_assertion(
        request_options(
            [cred.credential_id], uv="required", extensions={"prf": {"eval": {"first": SALT1}}}
        )
    )
    assert got.get_response(0).client_extension_results.prf.results.first == at_mc.first


def test_hmac_secret_mc_ignored_fault_gives_no_outputs() -> None:
    results, _ = _prf_at_registration(faulty_key("hmac-secret-mc-ignored"))
    assert results.prf.enabled is True and results.prf.results is None


def test_default_key_gives_no_prf_outputs_at_registration() -> None:
    results, _ = _prf_at_registration(make_key("default"))
    assert results.prf.enabled is True and results.prf.results is None


# ---- thirdPartyPayment ---------------------------------------------------------------------
def _payment_flags(key: Authenticator, *, payment: bool) -> tuple[object, object]:
    """(getAssertion's thirdPartyPayment output, credential management's 0x0C) for a new rk."""
    client = payment_client(with_pin(key))
    ext = {"payment": {"isPayment": True}} if payment else None
    reg = client.make_credential(
        creation_options(resident="required", uv="required", extensions=ext)
    )
    cred = reg.response.attestation_object.auth_data.credential_data
    got = client.get_assertion(
        request_options(
            [cred.credential_id], uv="required", extensions={"payment": {"isPayment": True}}
        )
    )
    output = got.get_response(0).response.authenticator_data.extensions["thirdPartyPayment"]
    cp, pin_token = token(key, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(Ctap2(DirectDevice(key)), cp.protocol, pin_token)
    rp_hash = cm.enumerate_rps()[0][CredentialManagement.RESULT.RP_ID_HASH]
    listed = cm.enumerate_creds(rp_hash)[0][CredentialManagement.RESULT.THIRD_PARTY_PAYMENT]
    return output, listed


def test_payment_credential_is_reported_as_one() -> None:
    assert _payment_flags(make_key("ctap22"), payment=True) == (True, True)


def test_ordinary_credential_is_reported_as_not_for_payments() -> None:
    assert _payment_flags(make_key("ctap22"), payment=False) == (False, False)


def test_payment_flag_ignored_fault_forgets_the_flag() -> None:
    assert _payment_flags(faulty_key("payment-flag-ignored"), payment=True) == (False, False)


# ---- the persistent token (pcmr) -----------------------------------------------------------
def _resident(key: Authenticator, user_id: bytes = b"user-1") -> bytes:
    reg = client_for(key, PIN).make_credential(creation_options(user_id, resident="required"))
    return reg.response.attestation_object.auth_data.credential_data.credential_id


def _read_only(key: Authenticator, protocol: int, pin_token: bytes) -> CredentialManagement:
    proto = PinProtocolV2() if protocol == 2 else PinProtocolV1()
    return CredentialManagement(Ctap2(DirectDevice(key)), proto, pin_token)


@pytest.mark.parametrize("protocol", [1, 2])
def test_persistent_token_lists_but_never_writes(protocol: int) -> None:
    key = with_pin(make_key("ctap22"))
    _, ppuat = token(key, PCMR, protocol)
    cred_id = _resident(key)  # an ordinary mc token meanwhile leaves the PPUAT alone
    descriptor = {"id": cred_id, "type": "public-key"}
    for power_cycle in (False, True):
        if power_cycle:
            key.power_cycle()
        cm = _read_only(key, protocol, ppuat)
        assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1
        rp_hash = cm.enumerate_rps()[0][CredentialManagement.RESULT.RP_ID_HASH]
        assert len(cm.enumerate_creds(rp_hash)) == 1
        with pytest.raises(CtapError) as update:
            cm.update_user_info(descriptor, {"id": b"user-1", "name": "mallory"})
        with pytest.raises(CtapError) as delete:
            cm.delete_cred(descriptor)
        assert update.value.code == delete.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_pcmr_allows_writes_fault_lets_the_persistent_token_delete() -> None:
    key = with_pin(faulty_key("pcmr-allows-writes"))
    _, ppuat = token(key, PCMR)
    cred_id = _resident(key)
    _read_only(key, 2, ppuat).delete_cred({"id": cred_id, "type": "public-key"})
    assert key.state.residents == []


def test_pcmr_token_volatile_fault_loses_the_token_at_power_off() -> None:
    key = with_pin(faulty_key("pcmr-token-volatile"))
    _, ppuat = token(key, PCMR)
    _resident(key)
    assert _read_only(key, 2, ppuat).get_metadata()[1] == 1
    key.power_cycle()
    with pytest.raises(CtapError) as lost:
        _read_only(key, 2, ppuat).get_metadata()
    assert lost.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_pcmr_is_granted_alone_and_only_where_claimed() -> None:
    key = with_pin(make_key("ctap22"))
    with pytest.raises(CtapError) as mixed:
        token(key, PCMR | ClientPin.PERMISSION.CREDENTIAL_MGMT)
    assert mixed.value.code == CtapError.ERR.INVALID_PARAMETER
    with pytest.raises(CtapError) as unclaimed:
        token(with_pin(make_key("default")), PCMR)
    assert unclaimed.value.code == CtapError.ERR.UNAUTHORIZED_PERMISSION


def test_persistent_token_survives_a_restart_and_dies_with_a_pin_change() -> None:
    key = with_pin(make_key("ctap22"))
    _, ppuat = token(key, PCMR)
    _resident(key)
    restarted = Authenticator(key.env.with_(store=MemoryStore(key.store.snapshot())), key.profile)
    assert _read_only(restarted, 2, ppuat).get_metadata()[1] == 1
    pin_client(restarted).change_pin(PIN, "a-new-pin-1")
    with pytest.raises(CtapError) as revoked:
        _read_only(restarted, 2, ppuat).get_metadata()
    assert revoked.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_enc_members_decrypt_under_the_persistent_token() -> None:
    key = with_pin(make_key("ctap22"))
    ctap = Ctap2(DirectDevice(key))
    _, ppuat = token(key, PCMR)
    first = ctap.get_info()
    identifier, state = first.get_identifier(ppuat), first.get_cred_store_state(ppuat)
    assert identifier is not None and len(identifier) == 16
    assert state is not None and len(state) == 16
    assert first.enc_identifier != ctap.get_info().enc_identifier  # a fresh IV each time
    assert ctap.get_info().get_identifier(ppuat) == identifier
    cred_id = _resident(key)
    after_create = ctap.get_info().get_cred_store_state(ppuat)
    assert after_create != state
    cp, cm_token = token(key, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, cp.protocol, cm_token)
    cm.update_user_info({"id": cred_id, "type": "public-key"}, {"id": b"user-1", "name": "bob"})
    after_update = ctap.get_info().get_cred_store_state(ppuat)
    assert after_update not in (state, after_create)
    cm.delete_cred({"id": cred_id, "type": "public-key"})
    assert ctap.get_info().get_cred_store_state(ppuat) not in (after_create, after_update)


# ---- malformed CTAP 2.2 inputs get a CTAP status, never a crash ----------------------------
ext_values = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.binary(max_size=40),
    st.dictionaries(st.integers(0, 5), st.one_of(st.binary(max_size=40), st.integers(-2, 3))),
)


@settings(max_examples=60, deadline=None)
@given(mc=ext_values, payment=ext_values, hmac_secret=st.booleans())
def test_malformed_2_2_extension_inputs_get_a_status(mc, payment, hmac_secret) -> None:
    key = make_key("ctap22")
    request = {
        1: b"\x01" * 32,
        2: {"id": "example.com"},
        3: {"id": b"u", "name": "n"},
        4: [{"type": "public-key", "alg": -7}],
        6: {"hmac-secret": hmac_secret, "hmac-secret-mc": mc, "thirdPartyPayment": payment},
    }
    answer = key.process(b"\x01" + cbor.encode(request))
    assert answer[0] in STATUS_VALUES and answer[0] != CtapStatus.OTHER
    if answer[0] == 0:  # then the response is a whole attestation object
        assert AttestationResponse.from_dict(cbor.decode(answer[1:])).auth_data.rp_id_hash


@given(token_field=st.one_of(st.text(max_size=70), st.integers(), st.binary(max_size=40)))
def test_corrupt_persistent_token_in_state_is_refused_cleanly(token_field) -> None:
    try:
        state = PinState.from_dict({"persistent_token": token_field})
    except (ValueError, TypeError):
        return
    assert state.persistent_token is not None and len(state.persistent_token) == 32
