"""ctap2 suite: credentialManagement (§6.8), largeBlobs (§6.10), authenticatorConfig (§6.11),
authenticatorSelection (§6.9) and authenticatorReset (§6.6).
"""

from __future__ import annotations

import os

import pytest
from fido2.ctap2 import Config, CredentialManagement, LargeBlobs
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    OTHER_RP_ID,
    RP_ID,
    client_data_hash,
    credential_id,
    credential_key,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    make_credential,
    pin_token,
    rp_id_hash,
    skip_unclaimed,
    uv_param,
)

pytestmark = [pytest.mark.destructive, pytest.mark.power_cycle]
RESET_WINDOW = 10.0  # §6.6: reset only within 10 s of power-up
PERM = ClientPin.PERMISSION
RESULT = CredentialManagement.RESULT
LARGE_BLOB = os.urandom(300)


def _resident(ctap2, pin, rp_id, name, permissions=PERM.MAKE_CREDENTIAL, **kwargs):
    """A discoverable credential, with a fresh PIN token bound to its RP ID (§6.5.5.7)."""
    protocol, token = pin_token(ctap2, pin, permissions, rp_id)
    cdh = client_data_hash(name)
    response, _ = make_credential(
        ctap2, rk=True, rp_id=rp_id, name=name, cdh=cdh, **uv_param(protocol, token, cdh), **kwargs
    )
    return response


def _credman(ctap2, pin):
    if not CredentialManagement.is_supported(ctap2.info):
        skip_unclaimed("credMgmt")
    protocol, token = pin_token(ctap2, pin, PERM.CREDENTIAL_MGMT)
    return CredentialManagement(ctap2, protocol, token)


@pytest.mark.needs_pin
def test_credential_management_lists_and_deletes(fresh_ctap2, bench_pin):
    made = {}
    for rp_id, name in (("a.example", "ann"), ("a.example", "bob"), ("b.example", "cy")):
        response = _resident(fresh_ctap2, bench_pin, rp_id, name)
        made[credential_id(response)] = (rp_id, name, credential_key(response))
    credman = _credman(fresh_ctap2, bench_pin)
    metadata = credman.get_metadata()
    assert metadata[RESULT.EXISTING_CRED_COUNT] == 3, f"metadata {dict(metadata)}"
    rps = {r[RESULT.RP]["id"]: r[RESULT.RP_ID_HASH] for r in credman.enumerate_rps()}
    assert rps == {"a.example": rp_id_hash("a.example"), "b.example": rp_id_hash("b.example")}
    listed = credman.enumerate_creds(rp_id_hash("a.example"))
    assert len(listed) == 2, f"{len(listed)} credentials listed for a.example"
    for entry in listed:
        cred = bytes(entry[RESULT.CREDENTIAL_ID]["id"])
        assert cred in made, "enumerateCredentials listed an unknown credential"
        assert entry[RESULT.USER]["name"] == made[cred][1]
        assert dict(entry[RESULT.PUBLIC_KEY]) == dict(made[cred][2]), "public key differs"
    victim = next(c for c, v in made.items() if v[0] == "b.example")
    credman = _credman(fresh_ctap2, bench_pin)  # a token not used for another RP
    credman.delete_cred(descriptor(victim))
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="getAssertion with a deleted credential"):
        fresh_ctap2.get_assertion("b.example", client_data_hash(), [descriptor(victim)])
    metadata = _credman(fresh_ctap2, bench_pin).get_metadata()
    assert metadata[RESULT.EXISTING_CRED_COUNT] == 2


@pytest.mark.needs_pin
def test_credential_management_updates_user(fresh_ctap2, bench_pin):
    if not CredentialManagement.is_update_supported(fresh_ctap2.info):
        skip_unclaimed("credMgmt updateUserInformation")
    response = _resident(fresh_ctap2, bench_pin, RP_ID, "eve")
    credman = _credman(fresh_ctap2, bench_pin)
    cred = credential_id(response)
    listed = credman.enumerate_creds(rp_id_hash(RP_ID))
    user = dict(listed[0][RESULT.USER])
    credman.update_user_info(descriptor(cred), {**user, "name": "eve2", "displayName": "Eve 2"})
    updated = credman.enumerate_creds(rp_id_hash(RP_ID))[0][RESULT.USER]
    assert updated["name"] == "eve2" and updated["id"] == user["id"]


@pytest.mark.needs_pin
def test_credential_management_needs_cm_permission(fresh_ctap2, bench_pin):
    if not CredentialManagement.is_supported(fresh_ctap2.info):
        skip_unclaimed("credMgmt")
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL)
    credman = CredentialManagement(fresh_ctap2, protocol, token)
    with expect_ctap_error(
        ERR.PIN_AUTH_INVALID, ERR.UNAUTHORIZED_PERMISSION, what="credMgmt with an mc-only token"
    ):
        credman.get_metadata()


def _bound_credman(ctap2, pin, rp_id):
    """credMgmt with a token whose permissions RP ID is `rp_id` (§6.5.5.7)."""
    if not CredentialManagement.is_supported(ctap2.info):
        skip_unclaimed("credMgmt")
    if not ctap2.info.options.get("pinUvAuthToken"):
        skip_unclaimed("pinUvAuthToken (permissions RP ID)")
    return CredentialManagement(ctap2, *pin_token(ctap2, pin, PERM.CREDENTIAL_MGMT, rp_id))


@pytest.mark.needs_pin
def test_replaced_discoverable_credential_is_listed_once(fresh_ctap2, bench_pin):
    for _ in range(2):  # §6.1.2 step 17.2: the same rp.id and user.id overwrite
        _resident(fresh_ctap2, bench_pin, RP_ID, "ivan")
    credman = _credman(fresh_ctap2, bench_pin)
    assert credman.get_metadata()[RESULT.EXISTING_CRED_COUNT] == 1, "both credentials kept"
    assert len(credman.enumerate_creds(rp_id_hash(RP_ID))) == 1, "both credentials listed"


@pytest.mark.parametrize("level", [2, 3], ids=["level2", "level3"])
@pytest.mark.needs_pin
def test_enumeration_reports_cred_protect(fresh_ctap2, bench_pin, level):
    if "credProtect" not in fresh_ctap2.info.extensions:
        skip_unclaimed("extension 'credProtect'")
    _resident(fresh_ctap2, bench_pin, RP_ID, "judy", extensions={"credProtect": level})
    (entry,) = _credman(fresh_ctap2, bench_pin).enumerate_creds(rp_id_hash(RP_ID))
    assert entry.get(RESULT.CRED_PROTECT) == level, f"credProtect {entry.get(RESULT.CRED_PROTECT)}"


@pytest.mark.needs_pin
def test_user_names_of_64_bytes_are_kept_whole(fresh_ctap2, bench_pin):
    name = "k" * 64  # WebAuthn §5.4.1: names up to 64 bytes are accepted and stored
    response = _resident(fresh_ctap2, bench_pin, RP_ID, name)
    credman = _credman(fresh_ctap2, bench_pin)
    (entry,) = credman.enumerate_creds(rp_id_hash(RP_ID))
    stored = dict(entry[RESULT.USER])
    assert (stored.get("name"), stored.get("displayName")) == (name, name), "names cut short"
    if not CredentialManagement.is_update_supported(fresh_ctap2.info):
        return
    updated = {"id": stored["id"], "name": "n" * 64, "displayName": "d" * 64}
    credman.update_user_info(descriptor(credential_id(response)), updated)
    (entry,) = credman.enumerate_creds(rp_id_hash(RP_ID))
    assert dict(entry[RESULT.USER]) == updated, "updateUserInformation cut the names short"


@pytest.mark.parametrize("call", ["getCredsMetadata", "enumerateRPs"])
@pytest.mark.needs_pin
def test_rp_bound_token_cannot_span_all_rps(fresh_ctap2, bench_pin, call):
    _resident(fresh_ctap2, bench_pin, RP_ID, "leo")
    credman = _bound_credman(fresh_ctap2, bench_pin, RP_ID)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what=f"{call} with a token bound to one RP"):
        credman.get_metadata() if call == "getCredsMetadata" else credman.enumerate_rps()


@pytest.mark.needs_pin
def test_rp_bound_token_reaches_its_rp_only(fresh_ctap2, bench_pin):
    _resident(fresh_ctap2, bench_pin, RP_ID, "mia")
    _resident(fresh_ctap2, bench_pin, OTHER_RP_ID, "mia")
    credman = _bound_credman(fresh_ctap2, bench_pin, RP_ID)
    assert len(credman.enumerate_creds(rp_id_hash(RP_ID))) == 1
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="credentials of another RP"):
        credman.enumerate_creds(rp_id_hash(OTHER_RP_ID))


@pytest.mark.needs_pin
def test_large_blobs_round_trip(fresh_ctap2, bench_pin):
    if not LargeBlobs.is_supported(fresh_ctap2.info):
        skip_unclaimed("largeBlobs")
    assert LargeBlobs(fresh_ctap2).read_blob_array() == [], "a reset key has large blobs"
    response = _resident(fresh_ctap2, bench_pin, RP_ID, "blob", extensions={"largeBlobKey": True})
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.LARGE_BLOB_WRITE)
    key = response.large_blob_key
    assert key is not None and len(key) == 32, "largeBlobKey missing from makeCredential"
    writer = LargeBlobs(fresh_ctap2, protocol, token)
    writer.put_blob(key, LARGE_BLOB)
    assert LargeBlobs(fresh_ctap2).get_blob(key) == LARGE_BLOB, "large blob came back altered"
    assert LargeBlobs(fresh_ctap2).get_blob(os.urandom(32)) is None


def test_large_blob_write_needs_a_token(fresh_ctap2):
    if not LargeBlobs.is_supported(fresh_ctap2.info):
        skip_unclaimed("largeBlobs")
    # §6.10.2: a pinUvAuthParam is required only once the key is protected by a PIN/UV.
    blobs = LargeBlobs(fresh_ctap2)
    blobs.write_blob_array([])
    assert blobs.read_blob_array() == []


@pytest.mark.needs_pin
def test_config_min_pin_length_and_force_change(fresh_ctap2, bench_pin):
    if not Config.is_supported(fresh_ctap2.info):
        skip_unclaimed("authnrCfg")
    if not fresh_ctap2.info.options.get("setMinPINLength"):
        skip_unclaimed("setMinPINLength")
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.AUTHENTICATOR_CFG)
    new_min = len(bench_pin)
    Config(fresh_ctap2, protocol, token).set_min_pin_length(
        min_pin_length=new_min, rp_ids=[RP_ID], force_change_pin=True
    )
    info = fresh_ctap2.get_info()
    assert info.min_pin_length == new_min, f"minPINLength {info.min_pin_length} != {new_min}"
    assert info.force_pin_change, "forcePINChange not reported after setMinPINLength"
    client = ClientPin(fresh_ctap2, protocol)
    # The right PIN, refused until changed: PIN_INVALID, as OpenSK answers and python-fido2's
    # device suite (written against YubiKeys) expects.
    with expect_ctap_error(ERR.PIN_INVALID, what="PIN token while a change is forced"):
        client.get_pin_token(bench_pin, PERM.MAKE_CREDENTIAL)
    assert client.get_pin_retries()[0] == 8, "the right PIN must restore the retries"
    client.change_pin(bench_pin, bench_pin[::-1] + "9")
    assert not fresh_ctap2.get_info().force_pin_change


@pytest.mark.needs_pin
def test_config_min_pin_length_cannot_decrease(fresh_ctap2, bench_pin):
    if not Config.is_supported(fresh_ctap2.info):
        skip_unclaimed("authnrCfg")
    protocol, token = pin_token(fresh_ctap2, bench_pin, PERM.AUTHENTICATOR_CFG)
    current = fresh_ctap2.get_info().min_pin_length
    with expect_ctap_error(ERR.PIN_POLICY_VIOLATION, what="lowering minPINLength"):
        Config(fresh_ctap2, protocol, token).set_min_pin_length(min_pin_length=current - 1)


@pytest.mark.needs_presence
def test_selection(fresh_ctap2):
    if "FIDO_2_1" not in fresh_ctap2.info.versions:
        skip_unclaimed("authenticatorSelection (FIDO_2_1)")
    fresh_ctap2.selection()


@pytest.mark.power_cycle
@pytest.mark.needs_presence
def test_reset_removes_credentials(ctap_device, power_cycle):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    cred = credential_id(response)
    power_cycle()
    ctap2.reset()
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="a credential made before reset"):
        ctap2.get_assertion(RP_ID, client_data_hash(), [descriptor(cred)])


@pytest.mark.power_cycle
def test_reset_only_within_10_s_of_power_up(ctap_device, power_cycle, let_time_pass):
    ctap2 = ctap2_of(ctap_device)
    power_cycle()
    let_time_pass(RESET_WINDOW + 1)
    with expect_ctap_error(ERR.NOT_ALLOWED, what="reset 11 s after power-up"):
        ctap2.reset()
