"""ctap2 suite: what CTAP 2.2 adds that a client can observe: hmac-secret-mc, thirdPartyPayment
and the persistent pinUvAuthToken (the `pcmr` permission, getInfo option perCredMgmtRO).

Each test skips as `unclaimed` on a key whose getInfo does not list the feature, so a CTAP 2.1
key passes the suite untouched and a real 2.2 key is held to the same rules as the emulator.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from fido2.ctap2 import Ctap2
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocol
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
)

from tokenbench.bench.suites._ctap import (
    ERR,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    make_credential,
    pin_token,
    require_extension,
    require_option,
    require_pin_protocol,
    rp_id_hash,
    skip_unclaimed,
    user,
    uv_param,
)

SALT_SIZE = 32
PERM = ClientPin.PERMISSION
RESULT = CredentialManagement.RESULT
HMAC_MC = "hmac-secret-mc"
PAYMENT = "thirdPartyPayment"


def _rp(label: str) -> str:
    return f"{label}-{os.urandom(4).hex()}.example"


def _salt_input(ctap2: Ctap2, salts: bytes) -> tuple[dict[int, Any], PinProtocol, bytes]:
    """hmac-secret's input map for `salts` (at makeCredential it goes in as hmac-secret-mc),
    with the protocol and shared secret that decrypt the output."""
    client = ClientPin(ctap2, require_pin_protocol(ctap2, max(ctap2.info.pin_uv_protocols)))
    key_agreement, shared = client._get_shared_secret()
    protocol = client.protocol
    salt_enc = protocol.encrypt(shared, salts)
    request = {1: key_agreement, 2: salt_enc, 3: protocol.authenticate(shared, salt_enc)}
    return {**request, 4: protocol.VERSION}, protocol, shared


def _extension_output(extensions: object, name: str) -> object:
    """One extension output of a response's authenticatorData (None when absent)."""
    return extensions.get(name) if isinstance(extensions, dict) else None


def test_hmac_secret_mc_outputs_equal_get_assertion_outputs(ctap_device):
    """CTAP 2.2 §12.8: the outputs at makeCredential are the ones getAssertion gives later for
    the same salts (same CredRandom: neither ceremony has UV here)."""
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, HMAC_MC)
    require_extension(ctap2, "hmac-secret")
    salts = os.urandom(2 * SALT_SIZE)
    rp_id = _rp("hmacmc")
    request, protocol, shared = _salt_input(ctap2, salts)
    response, _ = make_credential(
        ctap2, rp_id=rp_id, extensions={"hmac-secret": True, HMAC_MC: request}
    )
    at_mc = _extension_output(response.auth_data.extensions, HMAC_MC)
    assert isinstance(at_mc, bytes), "makeCredential answered without the hmac-secret-mc output"
    outputs = protocol.decrypt(shared, at_mc)
    assert len(outputs) == 2 * SALT_SIZE, f"two salts gave {len(outputs)} bytes at makeCredential"
    request, protocol, shared = _salt_input(ctap2, salts)
    assertion = ctap2.get_assertion(
        rp_id,
        client_data_hash("hmacmc"),
        [descriptor(credential_id(response))],
        extensions={"hmac-secret": request},
    )
    later = _extension_output(assertion.auth_data.extensions, "hmac-secret")
    assert isinstance(later, bytes), "getAssertion answered without the hmac-secret output"
    assert protocol.decrypt(shared, later) == outputs, "makeCredential and getAssertion disagree"


def _payment_output(ctap2: Ctap2, payment: bool) -> object:
    """getAssertion's thirdPartyPayment output for a new credential, made for payments or not."""
    rp_id = _rp("payment")
    response, _ = make_credential(
        ctap2, rp_id=rp_id, extensions={PAYMENT: True} if payment else None
    )
    if payment:
        echoed = _extension_output(response.auth_data.extensions, PAYMENT)
        assert echoed is not False, "makeCredential refused thirdPartyPayment"
    assertion = ctap2.get_assertion(
        rp_id, client_data_hash("pay"), [descriptor(credential_id(response))], {PAYMENT: True}
    )
    return _extension_output(assertion.auth_data.extensions, PAYMENT)


def test_third_party_payment_is_reported_per_credential(ctap_device):
    """CTAP 2.2 §12.9: getAssertion with thirdPartyPayment says whether the credential was
    made for payments (true) or not (false)."""
    ctap2 = ctap2_of(ctap_device)
    require_extension(ctap2, PAYMENT)
    reported = {payment: _payment_output(ctap2, payment) for payment in (True, False)}
    assert reported == {True: True, False: False}, f"thirdPartyPayment outputs {reported}"


def _resident(ctap2: Ctap2, pin: str, rp_id: str, extensions: dict[str, object] | None = None):
    """A discoverable credential made with UV (a key with a PIN wants it for rk)."""
    protocol, token = pin_token(ctap2, pin, PERM.MAKE_CREDENTIAL, rp_id)
    cdh = client_data_hash("rk")
    response, _ = make_credential(
        ctap2,
        rk=True,
        rp_id=rp_id,
        cdh=cdh,
        extensions=extensions,
        **uv_param(protocol, token, cdh),
    )
    return credential_id(response)


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.power_cycle
def test_credential_management_lists_the_payment_flag(fresh_ctap2, bench_pin, power_cycle):
    """CTAP 2.2 §6.8: enumerateCredentials carries thirdPartyPayment (0x0C) for each one."""
    require_extension(fresh_ctap2, PAYMENT)
    if not CredentialManagement.is_supported(fresh_ctap2.info):
        skip_unclaimed("credential management")
    rp_id = _rp("paylist")
    _resident(fresh_ctap2, bench_pin, rp_id, {PAYMENT: True})
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.CREDENTIAL_MGMT)
    listed = CredentialManagement(fresh_ctap2, protocol, token).enumerate_creds(rp_id_hash(rp_id))
    flags = [c.get(RESULT.THIRD_PARTY_PAYMENT) for c in listed]
    assert flags == [True], f"enumerateCredentials thirdPartyPayment {flags}, expected [True]"


def _read_only_checks(
    ctap2: Ctap2, protocol: PinProtocol, ppuat: bytes, rp_id: str, cred: bytes
) -> None:
    """Metadata and both enumerations work with the persistent token; writes do not."""
    cm = CredentialManagement(ctap2, protocol, ppuat)
    target = PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=cred)
    renamed = PublicKeyCredentialUserEntity(id=user()["id"], name="mallory")
    assert cm.get_metadata()[RESULT.EXISTING_CRED_COUNT] == 1
    assert [r[RESULT.RP_ID_HASH] for r in cm.enumerate_rps()] == [rp_id_hash(rp_id)]
    assert len(cm.enumerate_creds(rp_id_hash(rp_id))) == 1
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="updateUserInformation with pcmr"):
        cm.update_user_info(target, renamed)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="deleteCredential with pcmr"):
        cm.delete_cred(target)


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.power_cycle
def test_persistent_token_reads_never_writes_and_outlives_a_power_cycle(
    fresh_ctap2, bench_pin, power_cycle, ctap_device
):
    """CTAP 2.2 §6.5.5.7: a pcmr token is good for read-only credential management, across
    power cycles; encCredStoreState, if reported, changes when a credential is made."""
    if not require_option(fresh_ctap2, "perCredMgmtRO"):
        skip_unclaimed("getInfo option 'perCredMgmtRO' (present but false)")
    protocol, ppuat = pin_token(fresh_ctap2, bench_pin, PERM.PERSISTENT_CREDENTIAL_MGMT)
    before = fresh_ctap2.get_info().get_cred_store_state(ppuat)
    rp_id = _rp("pcmr")
    cred = _resident(fresh_ctap2, bench_pin, rp_id)
    if before is not None:
        after = fresh_ctap2.get_info().get_cred_store_state(ppuat)
        assert after != before, "encCredStoreState did not change with a new credential"
    _read_only_checks(fresh_ctap2, protocol, ppuat, rp_id, cred)
    power_cycle()
    _read_only_checks(ctap2_of(ctap_device), protocol, ppuat, rp_id, cred)
