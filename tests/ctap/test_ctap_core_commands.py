"""makeCredential / getAssertion / getInfo / reset / selection driven by python-fido2."""

from __future__ import annotations

import pytest
from ctap_testkit import (
    RP_ID,
    DirectDevice,
    client_for,
    creation_options,
    make_key,
    request_options,
    root_verifier,
)
from fido2.attestation import PackedAttestation
from fido2.client import ClientError
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.utils import sha256

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.presence import Deny, NeverAnswer, Scripted

CDH = b"\x11" * 32
RP = {"id": RP_ID, "name": "Example"}
USER = {"id": b"uid", "name": "bob"}
ES256 = [{"type": "public-key", "alg": -7}]


def register(key, **kw):
    return client_for(key).make_credential(creation_options(**kw))


def test_get_info_describes_the_default_profile(ctap2: Ctap2) -> None:
    info = ctap2.get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]  # deployed keys' order
    assert set(info.extensions) == {
        "credProtect",
        "hmac-secret",
        "credBlob",
        "largeBlobKey",
        "minPinLength",
    }
    for opt in ("rk", "up", "credMgmt", "largeBlobs", "authnrCfg", "pinUvAuthToken"):
        assert info.options[opt] is True
    assert info.options["clientPin"] is False and info.options["alwaysUv"] is False
    assert info.options["ep"] is False
    assert info.pin_uv_protocols == [2, 1]
    assert info.max_cred_blob_length == 32
    assert info.remaining_disc_creds == 50


def test_register_and_authenticate_es256_with_verified_batch_attestation(key) -> None:
    reg = register(key)
    att = reg.response.attestation_object
    assert att.fmt == "packed" and "x5c" in att.att_stmt
    root_verifier(key).verify_attestation(att, reg.response.client_data.hash)
    cred = att.auth_data.credential_data
    assert cred.aaguid == key.profile.aaguid
    assert att.auth_data.rp_id_hash == sha256(RP_ID.encode())
    assert att.auth_data.is_user_present() and not att.auth_data.is_user_verified()
    result = client_for(key).get_assertion(request_options([cred.credential_id]))
    resp = result.get_response(0).response
    cred.public_key.verify(resp.authenticator_data + resp.client_data.hash, resp.signature)
    assert resp.authenticator_data.counter > att.auth_data.counter


def test_eddsa_credential_and_algorithm_preference(key) -> None:
    reg = register(key, algs=(-8, -7))
    cred = reg.response.attestation_object.auth_data.credential_data
    assert cred.public_key[3] == -8
    resp = client_for(key).get_assertion(request_options([cred.credential_id])).get_response(0)
    r = resp.response
    cred.public_key.verify(r.authenticator_data + r.client_data.hash, r.signature)


def test_self_and_none_attestation() -> None:
    key = make_key()
    key.profile = key.profile.with_(attestation="self")
    reg = register(key)
    att = reg.response.attestation_object
    assert att.fmt == "packed" and "x5c" not in att.att_stmt
    PackedAttestation().verify(att.att_stmt, att.auth_data, reg.response.client_data.hash)
    key.profile = key.profile.with_(attestation="none")
    assert register(key, user_id=b"u2").response.attestation_object.fmt == "none"


def test_unknown_algorithm_only_is_unsupported(ctap2: Ctap2) -> None:
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(CDH, RP, USER, [{"type": "public-key", "alg": -257}])
    assert e.value.code == CtapStatus.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize(
    "missing", [1, 2, 3, 4], ids=["clientDataHash", "rp", "user", "pubKeyCredParams"]
)
def test_make_credential_missing_parameter(key, missing: int) -> None:
    from fido2 import cbor

    params = {1: CDH, 2: RP, 3: USER, 4: ES256}
    del params[missing]
    assert key.process(b"\x01" + cbor.encode(params)) == bytes([CtapStatus.MISSING_PARAMETER])


@pytest.mark.parametrize(
    "bad",
    [{1: "text"}, {2: b"rp"}, {3: {"id": "not-bytes"}}, {4: {"alg": -7}}, {7: {"rk": 1}}],
)
def test_make_credential_wrong_types(key, bad) -> None:
    from fido2 import cbor

    params = {1: CDH, 2: RP, 3: USER, 4: ES256}
    params.update(bad)
    assert key.process(b"\x01" + cbor.encode(params)) == bytes([CtapStatus.CBOR_UNEXPECTED_TYPE])


def test_excluded_credential_needs_a_touch_then_fails(key) -> None:
    cred_id = register(key).response.attestation_object.auth_data.credential_data.credential_id
    key.env.presence.requests.clear()
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(
            CDH, RP, USER, ES256, exclude_list=[{"type": "public-key", "id": cred_id}]
        )
    assert e.value.code == CtapStatus.CREDENTIAL_EXCLUDED
    assert key.env.presence.requests == ["excluded credential"]
    # an ID from another key is not "ours": registration goes ahead
    other = make_key(seed=9)
    Ctap2(DirectDevice(other)).make_credential(
        CDH, RP, USER, ES256, exclude_list=[{"type": "public-key", "id": cred_id}]
    )


def test_no_credentials_and_foreign_or_other_rp_ids(key) -> None:
    cred_id = register(key).response.attestation_object.auth_data.credential_data.credential_id
    ctap2 = Ctap2(DirectDevice(key))
    for rp_id, allow in [
        (RP_ID, None),
        ("other.example", [cred_id]),
        (RP_ID, [cred_id[:-1] + bytes([cred_id[-1] ^ 1])]),
    ]:
        with pytest.raises(CtapError) as e:
            ctap2.get_assertion(
                rp_id, CDH, [{"type": "public-key", "id": c} for c in allow] if allow else None
            )
        assert e.value.code == CtapStatus.NO_CREDENTIALS
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(make_key(seed=5))).get_assertion(
            RP_ID, CDH, [{"type": "public-key", "id": cred_id}]
        )
    assert e.value.code == CtapStatus.NO_CREDENTIALS


def test_resident_credentials_most_recent_first_with_get_next_assertion(key) -> None:
    for i in range(3):
        register(key, user_id=f"user-{i}".encode(), name=f"user{i}", resident="required")
    ctap2 = Ctap2(DirectDevice(key))
    first = ctap2.get_assertion(RP_ID, CDH)
    assert first.number_of_credentials == 3
    handles = [first.user["id"]]
    handles += [ctap2.get_next_assertion().user["id"] for _ in range(2)]
    assert handles == [b"user-2", b"user-1", b"user-0"]
    assert "name" not in first.user  # no UV: no user-identifying fields
    with pytest.raises(CtapError) as e:
        ctap2.get_next_assertion()
    assert e.value.code == CtapStatus.NOT_ALLOWED


def test_get_next_assertion_expires_and_is_dropped_by_other_commands(key) -> None:
    for i in range(2):
        register(key, user_id=bytes([i]), resident="required")
    ctap2 = Ctap2(DirectDevice(key))
    ctap2.get_assertion(RP_ID, CDH)
    ctap2.get_info()
    with pytest.raises(CtapError):
        ctap2.get_next_assertion()
    ctap2.get_assertion(RP_ID, CDH)
    key.env.clock.advance(31)
    with pytest.raises(CtapError) as e:
        ctap2.get_next_assertion()
    assert e.value.code == CtapStatus.NOT_ALLOWED


def test_same_user_replaces_resident_credential(key) -> None:
    register(key, resident="required")
    register(key, resident="required")
    assert len(key.state.residents) == 1


def test_counters_increase_per_credential(key) -> None:
    a = register(key, user_id=b"a").response.attestation_object.auth_data
    b = register(key, user_id=b"b").response.attestation_object.auth_data
    ctap2 = Ctap2(DirectDevice(key))
    ids = [a.credential_data.credential_id, b.credential_data.credential_id]
    seen = {i: [] for i in ids}
    for _ in range(3):
        for cred_id in ids:
            r = ctap2.get_assertion(RP_ID, CDH, [{"type": "public-key", "id": cred_id}])
            seen[cred_id].append(r.auth_data.counter)
    for values in seen.values():
        assert values == sorted(set(values)) and values[0] >= 1


def test_up_false_assertion_is_silent_and_unflagged(key) -> None:
    cred_id = register(key).response.attestation_object.auth_data.credential_data.credential_id
    key.env.presence.requests.clear()
    r = Ctap2(DirectDevice(key)).get_assertion(
        RP_ID, CDH, [{"type": "public-key", "id": cred_id}], options={"up": False}
    )
    assert not r.auth_data.is_user_present()
    assert key.env.presence.requests == []


@pytest.mark.parametrize(
    ("command", "options", "status"),
    [
        ("mc", {"uv": True}, CtapStatus.INVALID_OPTION),
        ("mc", {"up": False}, CtapStatus.INVALID_OPTION),
        ("ga", {"uv": True}, CtapStatus.INVALID_OPTION),
        ("ga", {"rk": True}, CtapStatus.UNSUPPORTED_OPTION),
    ],
)
def test_option_rules(key, command, options, status) -> None:
    register(key, resident="required")
    ctap2 = Ctap2(DirectDevice(key))
    with pytest.raises(CtapError) as e:
        if command == "mc":
            ctap2.make_credential(CDH, RP, USER, ES256, options=options)
        else:
            ctap2.get_assertion(RP_ID, CDH, options=options)
    assert e.value.code == status


def test_uv_option_on_ctap20_is_unsupported() -> None:
    ctap2 = Ctap2(DirectDevice(make_key("ctap20")))
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(CDH, RP, USER, ES256, options={"uv": True})
    assert e.value.code == CtapStatus.UNSUPPORTED_OPTION


def test_zero_length_pin_uv_auth_param_touch_then_pin_not_set(key) -> None:
    key.env.presence.requests.clear()
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(
            CDH, RP, USER, ES256, pin_uv_param=b"", pin_uv_protocol=2
        )
    assert e.value.code == CtapStatus.PIN_NOT_SET
    assert len(key.env.presence.requests) == 1


def test_pin_uv_auth_param_needs_protocol(key) -> None:
    from fido2 import cbor

    req = cbor.encode({1: CDH, 2: RP, 3: USER, 4: ES256, 8: b"\x00" * 32})
    assert key.process(b"\x01" + req) == bytes([CtapStatus.MISSING_PARAMETER])
    req = cbor.encode({1: CDH, 2: RP, 3: USER, 4: ES256, 8: b"\x00" * 32, 9: 7})
    assert key.process(b"\x01" + req) == bytes([CtapStatus.INVALID_PARAMETER])


def test_declined_or_unanswered_touch() -> None:
    key = make_key(presence=Deny())
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(CDH, RP, USER, ES256)
    assert e.value.code == CtapStatus.OPERATION_DENIED
    key = make_key(presence=NeverAnswer(timeout=0.02))
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(CDH, RP, USER, ES256)
    assert e.value.code == CtapStatus.USER_ACTION_TIMEOUT


def test_reset_rules(key) -> None:
    register(key, resident="required")
    ctap2 = Ctap2(DirectDevice(key))
    key.env.clock.advance(11)
    with pytest.raises(CtapError) as e:
        ctap2.reset()
    assert e.value.code == CtapStatus.NOT_ALLOWED
    key.power_cycle()
    key.env.presence = Scripted([False])
    with pytest.raises(CtapError) as e:
        ctap2.reset()
    assert e.value.code == CtapStatus.OPERATION_DENIED
    assert key.state.residents
    key.env.clock.advance(9)
    ctap2.reset()
    assert key.state.residents == []
    with pytest.raises(CtapError) as e:
        ctap2.get_assertion(RP_ID, CDH)
    assert e.value.code == CtapStatus.NO_CREDENTIALS


def test_reset_invalidates_old_non_resident_ids(key) -> None:
    cred_id = register(key).response.attestation_object.auth_data.credential_data.credential_id
    Ctap2(DirectDevice(key)).reset()
    with pytest.raises(ClientError):
        client_for(key).get_assertion(request_options([cred_id]))


def test_selection(key) -> None:
    Ctap2(DirectDevice(key)).selection()
    key.env.presence = Deny()
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).selection()
    assert e.value.code == CtapStatus.OPERATION_DENIED


def test_cancel_while_waiting_for_touch() -> None:
    import threading

    from fido2 import cbor

    from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction

    key = make_key(presence=NeverAnswer(timeout=5))
    tx = Transaction()
    seen = []

    def cancel() -> None:
        while tx.status != KeepaliveStatus.UPNEEDED:
            threading.Event().wait(0.005)
        seen.append(tx.status)
        tx.cancel()

    t = threading.Thread(target=cancel)
    t.start()
    req = b"\x01" + cbor.encode({1: CDH, 2: RP, 3: USER, 4: ES256})
    assert key.process(req, tx) == bytes([CtapStatus.KEEPALIVE_CANCEL])
    t.join()
    assert seen == [KeepaliveStatus.UPNEEDED]


def test_bad_requests_get_status_codes(key) -> None:
    assert key.process(b"") == bytes([CtapStatus.INVALID_LENGTH])
    assert key.process(b"\x55") == bytes([CtapStatus.INVALID_COMMAND])
    assert key.process(b"\x01\xa1\x01") == bytes([CtapStatus.INVALID_CBOR])
    assert key.process(b"\x01\x80") == bytes([CtapStatus.CBOR_UNEXPECTED_TYPE])
    assert key.process(b"\x08") == bytes([CtapStatus.NOT_ALLOWED])
    too_big = b"\x01" + b"\x00" * (key.profile.max_msg_size + 1)
    assert key.process(too_big) == bytes([CtapStatus.REQUEST_TOO_LARGE])


def test_ctap20_and_u2f_only_profiles_refuse_newer_commands() -> None:
    key = make_key("ctap20")
    info = Ctap2(DirectDevice(key)).get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0"] and info.pin_uv_protocols == [1]
    for cmd in (0x0A, 0x0B, 0x0C, 0x0D, 0x41):
        assert key.process(bytes([cmd])) == bytes([CtapStatus.INVALID_COMMAND])
    u2f_only = make_key("u2f-only")
    for cmd in (0x01, 0x02, 0x04, 0x07):
        assert u2f_only.process(bytes([cmd])) == bytes([CtapStatus.INVALID_COMMAND])


def test_touch_policy_waits_for_the_control_interface() -> None:
    import threading

    from fido2 import cbor

    from tokenbench.emulators.ctap.presence import Touch
    from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction

    policy = Touch(timeout=5)
    key = make_key(presence=policy)
    tx = Transaction()

    def touch_when_asked() -> None:
        while tx.status != KeepaliveStatus.UPNEEDED:
            threading.Event().wait(0.005)
        policy.touch()

    t = threading.Thread(target=touch_when_asked)
    t.start()
    out = key.process(b"\x01" + cbor.encode({1: CDH, 2: RP, 3: USER, 4: ES256}), tx)
    t.join()
    assert out[0] == CtapStatus.SUCCESS and tx.status == KeepaliveStatus.PROCESSING


def test_rk_unsupported_and_key_store_full() -> None:
    key = make_key()
    no_rk = dict(key.profile.options)
    no_rk["rk"] = False
    key.profile = key.profile.with_(options=no_rk)
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(CDH, RP, USER, ES256, options={"rk": True})
    assert e.value.code == CtapStatus.UNSUPPORTED_OPTION
    key = make_key()
    key.profile = key.profile.with_(max_resident_credentials=1)
    ctap2 = Ctap2(DirectDevice(key))
    ctap2.make_credential(CDH, RP, USER, ES256, options={"rk": True})
    ctap2.make_credential(CDH, RP, USER, ES256, options={"rk": True})  # same user: replaced
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(CDH, RP, {"id": b"other"}, ES256, options={"rk": True})
    assert e.value.code == CtapStatus.KEY_STORE_FULL
    assert ctap2.get_info().remaining_disc_creds == 0


def test_swapping_the_profile_changes_the_command_set(key) -> None:
    from tokenbench.emulators.ctap.profiles import get_profile

    assert key.process(b"\x0b") == b"\x00"
    key.profile = get_profile("ctap20")
    assert key.process(b"\x0b") == bytes([CtapStatus.INVALID_COMMAND])


def test_global_counter_profile_shares_one_sequence() -> None:
    key = make_key()
    key.profile = key.profile.with_(global_counter=True)
    ctap2 = Ctap2(DirectDevice(key))
    ids = [
        ctap2.make_credential(CDH, RP, {"id": bytes([i])}, ES256).auth_data.credential_data
        for i in range(2)
    ]
    counters = [
        ctap2.get_assertion(
            RP_ID, CDH, [{"type": "public-key", "id": ids[i % 2].credential_id}]
        ).auth_data.counter
        for i in range(4)
    ]
    assert counters == list(range(counters[0], counters[0] + 4))


def test_zero_length_pin_uv_auth_param_on_get_assertion(key) -> None:
    from ctap_testkit import with_pin

    register(key, resident="required")
    ctap2 = Ctap2(DirectDevice(key))
    for expected in (CtapStatus.PIN_NOT_SET, CtapStatus.PIN_INVALID):
        with pytest.raises(CtapError) as e:
            ctap2.get_assertion(RP_ID, CDH, pin_uv_param=b"", pin_uv_protocol=2)
        assert e.value.code == expected
        if not key.client_pin.is_pin_set:
            with_pin(key)
