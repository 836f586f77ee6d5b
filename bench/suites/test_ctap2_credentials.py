"""ctap2 suite: authenticatorMakeCredential and authenticatorGetAssertion (CTAP 2.1 §6.1, §6.2).

Parameter validation and error codes, attestation, algorithms, excludeList/allowList,
discoverable credentials and getNextAssertion, UP flags and signature counters.
"""

from __future__ import annotations

import os

import pytest

from tokenbench.bench.suites._ctap import (
    ERR,
    ES256,
    FLAG_AT,
    FLAG_ED,
    FLAG_UP,
    RP_ID,
    SIGNATURE_ALGORITHMS,
    check_assertion,
    client_data_hash,
    credential_id,
    credential_key,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    key_params,
    make_credential,
    rp,
    rp_id_hash,
    skip_unclaimed,
    user,
    verify_attestation,
)

MAKE_CREDENTIAL = 0x01
GET_ASSERTION = 0x02
GET_NEXT_ASSERTION = 0x08
UNKNOWN_ALG = -65000
NEXT_ASSERTION_TIMER = 30.0  # §6.3: getNextAssertion within 30 s of the previous assertion
PLAIN_ASSERTION_AUTH_DATA = 37  # rpIdHash (32) + flags (1) + signCount (4), nothing attested
CEREMONIES = pytest.mark.parametrize("ceremony", ["mc", "ga"])


def test_make_credential_attestation_verifies(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, cdh = make_credential(ctap2)
    auth = response.auth_data
    assert auth.rp_id_hash == rp_id_hash(), "rpIdHash is not SHA-256 of the RP ID"
    assert auth.flags & FLAG_UP, "makeCredential without the UP flag"
    assert auth.flags & FLAG_AT, "makeCredential without attested credential data flag"
    assert auth.credential_data is not None, "makeCredential without attested credential data"
    assert bytes(auth.credential_data.aaguid) == bytes(ctap2.info.aaguid), "AAGUID != getInfo"
    verify_attestation(response, cdh)


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS.values(), ids=SIGNATURE_ALGORITHMS.keys())
def test_algorithms_claimed_in_get_info_work(ctap_device, alg):
    ctap2 = ctap2_of(ctap_device)
    claimed = {a["alg"] for a in ctap2.info.algorithms} or {ES256}
    if alg not in claimed:
        pytest.skip(f"unclaimed: algorithm {alg}")
    response, cdh = make_credential(ctap2, algs=(alg,))
    key = credential_key(response)
    assert alg == key.ALGORITHM, f"asked for {alg}, got a {key.ALGORITHM} key"
    assertion = ctap2.get_assertion(RP_ID, cdh, [descriptor(credential_id(response))])
    check_assertion(assertion, cdh, key)


def test_first_supported_algorithm_is_chosen(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2, algs=(UNKNOWN_ALG, ES256))
    assert credential_key(response).ALGORITHM == ES256


def test_unsupported_algorithm(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    with expect_ctap_error(ERR.UNSUPPORTED_ALGORITHM, what="only an unknown algorithm"):
        make_credential(ctap2, algs=(UNKNOWN_ALG,))


@pytest.mark.parametrize("missing", [1, 2, 3, 4], ids=["cdh", "rp", "user", "params"])
def test_make_credential_missing_parameter(ctap_device, missing):
    ctap2 = ctap2_of(ctap_device)
    request = {1: client_data_hash(), 2: rp(), 3: user(), 4: key_params()}
    del request[missing]
    with expect_ctap_error(ERR.MISSING_PARAMETER, what=f"makeCredential without 0x0{missing}"):
        ctap2.send_cbor(MAKE_CREDENTIAL, request)


@pytest.mark.parametrize(
    ("key", "bad"),
    [(1, "not bytes"), (2, ["not", "a map"]), (3, b"not a map"), (4, {"not": "a list"})],
    ids=["cdh", "rp", "user", "params"],
)
def test_make_credential_wrong_type(ctap_device, key, bad):
    ctap2 = ctap2_of(ctap_device)
    request = {1: client_data_hash(), 2: rp(), 3: user(), 4: key_params()}
    request[key] = bad
    with expect_ctap_error(ERR.CBOR_UNEXPECTED_TYPE, what=f"makeCredential 0x0{key} mistyped"):
        ctap2.send_cbor(MAKE_CREDENTIAL, request)


def test_make_credential_up_false_is_invalid_option(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    request = {1: client_data_hash(), 2: rp(), 3: user(), 4: key_params(), 7: {"up": False}}
    with expect_ctap_error(ERR.INVALID_OPTION, what='makeCredential with "up": false'):
        ctap2.send_cbor(MAKE_CREDENTIAL, request)


def test_exclude_list_refuses_a_known_credential(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    first, _ = make_credential(ctap2)
    with expect_ctap_error(ERR.CREDENTIAL_EXCLUDED, what="excludeList holding our credential"):
        make_credential(ctap2, exclude=[credential_id(first)])
    second, _ = make_credential(ctap2, exclude=[b"\x01" * 32])
    assert credential_id(second) != credential_id(first)


def test_get_assertion_signature_and_counter(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    key, cred = credential_key(response), credential_id(response)
    counters = [response.auth_data.counter]
    for label in ("first", "second"):
        cdh = client_data_hash(label)
        assertion = ctap2.get_assertion(RP_ID, cdh, [descriptor(cred)])
        check_assertion(assertion, cdh, key)
        counters.append(assertion.auth_data.counter)
    assert counters[1] > counters[0] or counters == [0, 0, 0], f"counters {counters}"
    assert counters[2] > counters[1] or counters == [0, 0, 0], f"counter went {counters}"


def test_get_assertion_wrong_rp_has_no_credentials(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="credential used for another RP ID"):
        ctap2.get_assertion(
            "elsewhere.example", client_data_hash(), [descriptor(credential_id(response))]
        )


def test_get_assertion_unknown_credential(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="allowList of unknown credentials"):
        ctap2.get_assertion(RP_ID, client_data_hash(), [descriptor(b"\x42" * 48)])


@pytest.mark.parametrize("missing", [1, 2], ids=["rpId", "cdh"])
def test_get_assertion_missing_parameter(ctap_device, missing):
    ctap2 = ctap2_of(ctap_device)
    request = {1: RP_ID, 2: client_data_hash()}
    del request[missing]
    with expect_ctap_error(ERR.MISSING_PARAMETER, what=f"getAssertion without 0x0{missing}"):
        ctap2.send_cbor(GET_ASSERTION, request)


def test_silent_assertion_has_no_up_flag(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    cdh = client_data_hash("silent")
    assertion = ctap2.get_assertion(
        RP_ID, cdh, [descriptor(credential_id(response))], options={"up": False}
    )
    assert not assertion.auth_data.flags & FLAG_UP, '"up": false still set the UP flag'
    assertion.verify(cdh, credential_key(response))


def test_discoverable_credentials_and_get_next_assertion(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    if not ctap2.info.options.get("rk"):
        pytest.skip("unclaimed: resident keys (option rk)")
    rp_id = f"rk-{client_data_hash().hex()[:8]}.example"
    made = {}
    for name in ("carol", "dave"):
        response, _ = make_credential(ctap2, rk=True, rp_id=rp_id, name=name)
        made[credential_id(response)] = credential_key(response)
    cdh = client_data_hash("rk")
    first = ctap2.get_assertion(rp_id, cdh)
    assert first.number_of_credentials == 2, f"numberOfCredentials {first.number_of_credentials}"
    second = ctap2.get_next_assertion()
    seen = set()
    for assertion in (first, second):
        cred = bytes(assertion.credential["id"])
        assert cred in made, "getAssertion returned a credential it never made"
        assert assertion.user and assertion.user.get("id"), "discoverable assertion has no user"
        check_assertion(assertion, cdh, made[cred], rp_id)
        seen.add(cred)
    assert seen == set(made), "getNextAssertion repeated a credential"
    with expect_ctap_error(ERR.NOT_ALLOWED, what="getNextAssertion past the last credential"):
        ctap2.get_next_assertion()


def test_get_next_assertion_without_state(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    ctap2.get_info()  # any other command clears the getNextAssertion state
    with expect_ctap_error(ERR.NOT_ALLOWED, what="getNextAssertion with nothing pending"):
        ctap2.send_cbor(GET_NEXT_ASSERTION)


def test_make_credential_answer_is_canonical_cbor(ctap_device):
    from fido2 import cbor
    from fido2.hid import CTAPHID

    ctap2_of(ctap_device)
    request = {1: client_data_hash(), 2: rp(), 3: user(), 4: key_params()}
    answer = ctap_device.call(CTAPHID.CBOR, bytes([MAKE_CREDENTIAL]) + cbor.encode(request))
    assert answer[:1] == b"\x00", f"makeCredential status 0x{answer[0]:02x}"
    decoded = cbor.decode(answer[1:])
    assert isinstance(decoded, dict), "makeCredential answer is not a CBOR map"
    assert cbor.encode(decoded) == answer[1:], "makeCredential answer is not canonical CBOR"
    assert {1, 2, 3} <= set(decoded), f"answer keys {sorted(decoded)} lack fmt/authData/attStmt"


def _require_rk(ctap2) -> None:
    if not ctap2.info.options.get("rk"):
        skip_unclaimed("resident keys (option rk)")


def _fresh_rp() -> str:
    return f"rk-{os.urandom(4).hex()}.example"


def _uv_option_error(ctap2) -> int:
    """CTAP 2.1 §6.1.2 step 5.3 names INVALID_OPTION; CTAP 2.0 named UNSUPPORTED_OPTION."""
    return ERR.INVALID_OPTION if "FIDO_2_1" in ctap2.info.versions else ERR.UNSUPPORTED_OPTION


@CEREMONIES
def test_uv_option_without_built_in_uv_is_refused(ctap_device, ceremony):
    ctap2 = ctap2_of(ctap_device)
    if "uv" in ctap2.info.options:
        skip_unclaimed("a key without built-in user verification")
    response, _ = make_credential(ctap2)
    with expect_ctap_error(_uv_option_error(ctap2), what=f'{ceremony} with "uv": true'):
        if ceremony == "mc":
            ctap2.make_credential(
                client_data_hash(), rp(), user(), key_params(), options={"uv": True}
            )
        else:
            cred = credential_id(response)
            ctap2.get_assertion(RP_ID, client_data_hash(), [descriptor(cred)], options={"uv": True})


def test_rk_option_is_refused_by_get_assertion(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    if "FIDO_2_1" not in ctap2.info.versions:
        skip_unclaimed("CTAP 2.1 getAssertion option rules (FIDO_2_1)")
    cred = credential_id(make_credential(ctap2)[0])
    with expect_ctap_error(ERR.UNSUPPORTED_OPTION, what='getAssertion with "rk": true'):
        ctap2.get_assertion(RP_ID, client_data_hash(), [descriptor(cred)], options={"rk": True})


def test_make_credential_up_true_is_the_default(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    if "FIDO_2_1" not in ctap2.info.versions:
        skip_unclaimed('"up": true in makeCredential (CTAP 2.1 §6.1.2 step 5.6)')
    response = ctap2.make_credential(
        client_data_hash(), rp(), user(), key_params(), options={"up": True}
    )
    assert response.auth_data.flags & FLAG_UP, 'makeCredential with "up": true lacks UP'


def _full_list(ctap2, ours: bytes) -> list[bytes]:
    """maxCredentialCountInList IDs, ours last (others as long as ours, to fit maxMsgSize)."""
    count = ctap2.info.max_creds_in_list
    if not count:
        skip_unclaimed("maxCredentialCountInList")
    return [os.urandom(len(ours)) for _ in range(count - 1)] + [ours]


def test_full_allow_list_reaches_its_last_entry(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    ours = credential_id(response)
    cdh = client_data_hash("full")
    assertion = ctap2.get_assertion(RP_ID, cdh, [descriptor(c) for c in _full_list(ctap2, ours)])
    assert bytes(assertion.credential["id"]) == ours, "assertion by another credential"
    check_assertion(assertion, cdh, credential_key(response))


def test_full_exclude_list_reaches_its_last_entry(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    ours = credential_id(make_credential(ctap2)[0])
    with expect_ctap_error(ERR.CREDENTIAL_EXCLUDED, what="our credential last in a full list"):
        make_credential(ctap2, exclude=_full_list(ctap2, ours))


def test_assertion_from_an_allow_list_carries_nothing_else(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    response, _ = make_credential(ctap2)
    cdh = client_data_hash("plain")
    assertion = ctap2.get_assertion(RP_ID, cdh, [descriptor(credential_id(response))])
    check_assertion(assertion, cdh, credential_key(response))
    assert len(assertion.auth_data) == PLAIN_ASSERTION_AUTH_DATA, "authData has extra data"
    assert not assertion.auth_data.flags & (FLAG_AT | FLAG_ED), "AT or ED flag in an assertion"
    assert assertion.number_of_credentials is None, "numberOfCredentials with an allowList"
    assert assertion.user is None, "a user entity for a non-discoverable credential"


def test_rk_for_the_same_user_replaces_the_old_one(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    _require_rk(ctap2)
    rp_id = _fresh_rp()
    old = credential_id(make_credential(ctap2, rk=True, rp_id=rp_id, name="alice")[0])
    new = credential_id(make_credential(ctap2, rk=True, rp_id=rp_id, name="alice")[0])
    assertion = ctap2.get_assertion(rp_id, client_data_hash("replaced"))
    assert assertion.number_of_credentials in (None, 1), "the old credential is still there"
    assert bytes(assertion.credential["id"]) == new, "the newer credential was not kept"
    with expect_ctap_error(ERR.NO_CREDENTIALS, what="the overwritten credential"):
        ctap2.get_assertion(rp_id, client_data_hash(), [descriptor(old)])


def _three_accounts(ctap2, rp_id: str) -> list[bytes]:
    """Three discoverable credentials for one RP, in the order they were made."""
    return [
        credential_id(make_credential(ctap2, rk=True, rp_id=rp_id, name=name)[0])
        for name in ("erin", "frank", "grace")
    ]


def test_discovered_credentials_come_newest_first(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    _require_rk(ctap2)
    rp_id = _fresh_rp()
    made = _three_accounts(ctap2, rp_id)
    first = ctap2.get_assertion(rp_id, client_data_hash("order"))
    assertions = [first] + [ctap2.get_next_assertion() for _ in made[1:]]
    order = [bytes(a.credential["id"]) for a in assertions]
    assert order == made[::-1], "credentials not ordered most recently created first (§6.2.2)"


def test_get_next_assertion_times_out_after_30_s(ctap_device, key_target, let_time_pass):
    ctap2 = ctap2_of(ctap_device)
    _require_rk(ctap2)
    if key_target.kind == "nfc":
        skip_unclaimed("the getNextAssertion timer (optional over NFC, §6.3)")
    rp_id = _fresh_rp()
    _three_accounts(ctap2, rp_id)
    ctap2.get_assertion(rp_id, client_data_hash("timer"))
    let_time_pass(NEXT_ASSERTION_TIMER - 10)
    ctap2.get_next_assertion()  # within 30 s of the previous assertion: the timer restarts
    let_time_pass(NEXT_ASSERTION_TIMER + 1)
    with expect_ctap_error(ERR.NOT_ALLOWED, what="getNextAssertion 31 s after the previous"):
        ctap2.get_next_assertion()


def test_discovered_user_without_uv_is_its_id_only(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    _require_rk(ctap2)
    rp_id = _fresh_rp()
    make_credential(ctap2, rk=True, rp_id=rp_id, name="heidi")
    assertion = ctap2.get_assertion(rp_id, client_data_hash("pii"))
    assert assertion.user is not None, "discovered credential without a user entity"
    # §6.2.2 step 12.3: name and displayName MUST NOT be returned without user verification
    assert set(assertion.user) == {"id"}, f"user entity without UV has {sorted(assertion.user)}"
