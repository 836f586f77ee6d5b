"""Built-in UV with the emulated fingerprint sensor (profile ctap22-bio).

Through python-fido2's own classes (FPBioEnrollment, ClientPin, Fido2Client): getInfo's live
`uv`/`bioEnroll`, enrollment with sample statuses, names and removal under the `be`
permission, tokens from built-in UV (subCommand 6) with the uvRetries counter and its
lockout (subCommand 7), the "uv" option of makeCredential/getAssertion, persistence and
reset, the control channel's finger words; each fault shown to break what it names, and
malformed bioEnrollment maps answered with a CTAP status, never an internal error.
"""

from __future__ import annotations

import hashlib

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
from fido2.ctap import CtapError
from fido2.ctap2 import AttestationResponse, ClientPin, Ctap2
from fido2.ctap2.bio import CaptureError, FPBioEnrollment
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.bench.keytools.info import explain, uv_modality_text
from tokenbench.emulators.ctap.attestation import metadata_statement
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.bio_enrollment import BioSub
from tokenbench.emulators.ctap.builtin_uv import MAX_UV_ATTEMPTS_PER_REQUEST
from tokenbench.emulators.ctap.constants import CtapCommand, CtapStatus
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.fingerprint import (
    MAX_TEMPLATE_FRIENDLY_NAME,
    MAX_TEMPLATES,
    SAMPLES_FOR_ENROLL,
    UV_RETRIES_MAX,
    BioState,
    Enrollment,
    Finger,
    Reading,
    SampleStatus,
)
from tokenbench.emulators.ctap.presence import AutoApprove
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.ctap.state import MemoryStore
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.control import (
    ControlError,
    ControlSocket,
    UdpControlClient,
    run_control_command,
)

BE = ClientPin.PERMISSION.BIO_ENROLL
MC = ClientPin.PERMISSION.MAKE_CREDENTIAL
GA = ClientPin.PERMISSION.GET_ASSERTION
PERMISSION_OF_PIN_RP = "example.com"
NOMATCH = Reading(Finger.OTHER)
STATUS_VALUES = {int(s) for s in CtapStatus}


def bio_key(*faults: str, store: MemoryStore | None = None) -> Authenticator:
    env = Env.for_tests(0, faults=FaultSet.parse(list(faults)))
    if store is not None:
        env = env.with_(store=store)
    return Authenticator(env, get_profile("ctap22-bio"))


def bio_of(key: Authenticator, permissions: ClientPin.PERMISSION = BE) -> FPBioEnrollment:
    cp, tok = token(key, permissions)
    return FPBioEnrollment(cp.ctap, cp.protocol, tok)


def enroll(key: Authenticator) -> bytes:
    """A finger enrolled through python-fido2 (PIN set first if needed)."""
    if not key.client_pin.is_pin_set:
        with_pin(key)
    context = bio_of(key).enroll()
    template_id = None
    while template_id is None:
        template_id = context.capture()
    return template_id


def options(key: Authenticator) -> dict[str, bool]:
    return dict(Ctap2(DirectDevice(key)).get_info().options)


def cdh(label: str = "") -> bytes:
    return hashlib.sha256(label.encode()).digest()


def make(key: Authenticator, **opts: bool) -> AttestationResponse:
    ctap2 = Ctap2(DirectDevice(key))
    return ctap2.make_credential(
        cdh("mc"),
        {"id": "example.com"},
        {"id": b"u", "name": "u"},
        [{"type": "public-key", "alg": -7}],
        options=opts,
    )


# ---- getInfo ----------------------------------------------------------------------------------


def test_get_info_claims_a_sensor_without_fingers_then_uv_once_enrolled() -> None:
    key = bio_key()
    info = Ctap2(DirectDevice(key)).get_info()
    assert info.options["uv"] is False and info.options["bioEnroll"] is False
    assert info.options["uvBioEnroll"] is True and info.options["uvToken"] is True
    assert info.uv_modality == 0x02  # USER_VERIFY_FINGERPRINT_INTERNAL
    assert info.preferred_platform_uv_attempts == 3
    enroll(key)
    assert options(key)["uv"] is True and options(key)["bioEnroll"] is True


@pytest.mark.parametrize("profile", ["default", "ctap22"])
def test_keys_without_a_sensor_claim_none(profile: str) -> None:
    key = make_key(profile)
    info = Ctap2(DirectDevice(key)).get_info()
    assert "bioEnroll" not in info.options and "uv" not in info.options
    raw = cbor.decode(key.process(bytes([CtapCommand.GET_INFO]))[1:])
    assert isinstance(raw, dict)
    assert 0x11 not in raw and 0x12 not in raw  # preferredPlatformUvAttempts, uvModality
    body = cbor.encode({1: 1, 2: BioSub.GET_FINGERPRINT_SENSOR_INFO})
    answer = key.process(bytes([CtapCommand.BIO_ENROLLMENT]) + body)
    assert answer == bytes([CtapStatus.INVALID_COMMAND])
    with pytest.raises(CtapError) as e:
        pin_client(key).get_uv_retries()
    assert e.value.code == CtapError.ERR.INVALID_SUBCOMMAND


# ---- authenticatorBioEnrollment ---------------------------------------------------------------


def test_sensor_info_and_modality_need_no_token() -> None:
    ctap2 = Ctap2(DirectDevice(bio_key()))
    bio = FPBioEnrollment(ctap2, None, None)  # type: ignore[arg-type]
    assert bio.get_modality() == 1
    info = bio.get_fingerprint_sensor_info()
    assert info[2] == 1 and info[3] == SAMPLES_FOR_ENROLL and info[8] == MAX_TEMPLATE_FRIENDLY_NAME


def test_enroll_takes_the_claimed_number_of_good_samples() -> None:
    key = with_pin(bio_key())
    context = bio_of(key).enroll()
    remaining = []
    while context.capture() is None:
        remaining.append(context.remaining)
    assert remaining == list(range(SAMPLES_FOR_ENROLL - 1, 0, -1))
    assert list(bio_of(key).enumerate_enrollments()) == [context.template_id]


def test_a_bad_sample_is_reported_and_does_not_count() -> None:
    key = with_pin(bio_key())
    key.sensor.present(Reading(sample=SampleStatus.FP_TOO_FAST))
    context = bio_of(key).enroll()
    with pytest.raises(CaptureError) as e:
        context.capture()
    assert e.value.code == SampleStatus.FP_TOO_FAST
    assert context.remaining == SAMPLES_FOR_ENROLL
    assert context.capture() is None and context.remaining == SAMPLES_FOR_ENROLL - 1


def test_no_finger_times_out() -> None:
    key = with_pin(bio_key())
    key.sensor.present(Reading(Finger.NONE))
    with pytest.raises(CtapError) as e:
        bio_of(key).enroll_begin()
    assert e.value.code == CtapError.ERR.USER_ACTION_TIMEOUT


def test_another_command_cancels_the_enrollment_in_progress() -> None:
    key = with_pin(bio_key())
    bio = bio_of(key)
    template_id, _, _ = bio.enroll_begin()
    bio.ctap.get_info()
    with pytest.raises(CtapError) as e:
        bio.enroll_capture_next(template_id)
    assert e.value.code == CtapError.ERR.NOT_ALLOWED


def test_capture_for_another_template_is_refused_and_cancel_ends_it() -> None:
    key = with_pin(bio_key())
    bio = bio_of(key)
    template_id, _, _ = bio.enroll_begin()
    with pytest.raises(CtapError) as e:
        bio.enroll_capture_next(b"\xff\xff")
    assert e.value.code == CtapError.ERR.INVALID_PARAMETER
    bio.enroll_begin()
    bio.enroll_cancel()
    with pytest.raises(CtapError) as e:
        bio.enroll_capture_next(template_id)
    assert e.value.code == CtapError.ERR.NOT_ALLOWED


def test_names_removal_and_unknown_templates() -> None:
    key = bio_key()
    template_id = enroll(key)
    bio = bio_of(key)
    assert bio.enumerate_enrollments() == {template_id: ""}
    bio.set_name(template_id, "n" * MAX_TEMPLATE_FRIENDLY_NAME)
    assert bio.enumerate_enrollments() == {template_id: "n" * MAX_TEMPLATE_FRIENDLY_NAME}
    for template, name, code in [
        (template_id, "n" * (MAX_TEMPLATE_FRIENDLY_NAME + 1), "INVALID_PARAMETER"),
        (b"\x00\x01", "x", "INVALID_OPTION"),
    ]:
        with pytest.raises(CtapError) as e:
            bio.set_name(template, name)
        assert e.value.code == CtapError.ERR[code]
    with pytest.raises(CtapError) as e:
        bio.remove_enrollment(b"\x00\x01")
    assert e.value.code == CtapError.ERR.INVALID_OPTION
    bio.remove_enrollment(template_id)
    assert bio.enumerate_enrollments() == {}
    assert options(key)["uv"] is False


def test_the_database_fills_up() -> None:
    key = bio_key()
    for _ in range(MAX_TEMPLATES):
        enroll(key)
    with pytest.raises(CtapError) as e:
        bio_of(key).enroll_begin()
    assert e.value.code == CtapError.ERR.FP_DATABASE_FULL


def test_management_needs_a_token_with_be() -> None:
    key = with_pin(bio_key())
    ctap2 = Ctap2(DirectDevice(key))
    with pytest.raises(CtapError) as e:
        ctap2.bio_enrollment(modality=1, sub_cmd=BioSub.ENUMERATE_ENROLLMENTS)
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED
    with pytest.raises(CtapError) as e:
        bio_of(key, MC | GA).enumerate_enrollments()
    assert e.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_fault_bio_enroll_ignores_permission() -> None:
    key = with_pin(bio_key("bio-enroll-ignores-permission"))
    assert bio_of(key, MC | GA).enumerate_enrollments() == {}


def test_the_prototype_command_is_the_same_command() -> None:
    key = bio_key()
    enroll(key)
    body = cbor.encode({1: 1, 2: BioSub.GET_FINGERPRINT_SENSOR_INFO})
    assert key.process(bytes([CtapCommand.BIO_ENROLLMENT_PRE]) + body) == key.process(
        bytes([CtapCommand.BIO_ENROLLMENT]) + body
    )


def test_a_wrong_modality_is_refused() -> None:
    body = cbor.encode({1: 2, 2: BioSub.GET_FINGERPRINT_SENSOR_INFO})
    answer = bio_key().process(bytes([CtapCommand.BIO_ENROLLMENT]) + body)
    assert answer == bytes([CtapStatus.INVALID_PARAMETER])


# ---- tokens from built-in UV, uvRetries -------------------------------------------------------


def test_uv_token_only_once_a_finger_is_enrolled() -> None:
    key = with_pin(bio_key())
    with pytest.raises(CtapError) as e:
        pin_client(key).get_uv_token(MC, "example.com")
    assert e.value.code == CtapError.ERR.NOT_ALLOWED
    enroll(key)
    assert len(pin_client(key).get_uv_token(MC | GA | BE, "example.com")) == 32


def test_uv_token_permissions() -> None:
    key = bio_key()
    enroll(key)
    cp = pin_client(key)
    with pytest.raises(CtapError) as e:
        cp.get_uv_token(ClientPin.PERMISSION.AUTHENTICATOR_CFG)  # no uvAcfg
    assert e.value.code == CtapError.ERR.UNAUTHORIZED_PERMISSION
    with pytest.raises(CtapError) as e:
        cp.ctap.client_pin(2, 6, key_agreement=cp._get_shared_secret()[0], permissions=0)
    assert e.value.code == CtapError.ERR.INVALID_PARAMETER


def test_wrong_fingers_count_down_then_block_and_the_pin_unblocks() -> None:
    key = bio_key()
    enroll(key)
    cp = pin_client(key)
    assert cp.get_uv_retries() == UV_RETRIES_MAX
    key.sensor.present(NOMATCH)  # subCommand 6: one attempt, the platform retries
    with pytest.raises(CtapError) as e:
        cp.get_uv_token(MC, "example.com")
    assert e.value.code == CtapError.ERR.UV_INVALID
    assert cp.get_uv_retries() == UV_RETRIES_MAX - 1
    key.sensor.present(NOMATCH, NOMATCH, NOMATCH)  # mc: internal retries on the same finger
    for expected, left in (("UV_INVALID", 4), ("UV_INVALID", 1), ("UV_BLOCKED", 0)):
        with pytest.raises(CtapError) as e:
            make(key, uv=True)
        assert e.value.code == CtapError.ERR[expected]
        assert cp.get_uv_retries() == left
    assert key.sensor.queued == 0 and UV_RETRIES_MAX - 1 - 2 * MAX_UV_ATTEMPTS_PER_REQUEST == 1
    with pytest.raises(CtapError) as e:  # even the right finger is not read any more
        cp.get_uv_token(MC, "example.com")
    assert e.value.code == CtapError.ERR.UV_BLOCKED
    cp.get_pin_token(PIN, MC, "example.com")
    assert cp.get_uv_retries() == UV_RETRIES_MAX


def test_a_match_restores_the_retries() -> None:
    key = bio_key()
    enroll(key)
    cp = pin_client(key)
    key.sensor.present(NOMATCH)
    with pytest.raises(CtapError):
        cp.get_uv_token(MC, "example.com")
    assert cp.get_uv_retries() < UV_RETRIES_MAX
    cp.get_uv_token(MC, "example.com")
    assert cp.get_uv_retries() == UV_RETRIES_MAX


def test_fault_uv_retries_not_decremented() -> None:
    key = bio_key("uv-retries-not-decremented")
    enroll(key)
    cp = pin_client(key)
    key.sensor.present(NOMATCH)
    with pytest.raises(CtapError):
        cp.get_uv_token(MC, "example.com")
    assert cp.get_uv_retries() == UV_RETRIES_MAX


def test_a_named_finger_must_be_enrolled() -> None:
    key = bio_key()
    template_id = enroll(key)
    cp = pin_client(key)
    key.sensor.present(Reading(template_id=b"\x99\x99"))
    with pytest.raises(CtapError):
        cp.get_uv_token(MC, "example.com")
    key.sensor.present(Reading(template_id=template_id))
    cp.get_uv_token(MC, "example.com")


# ---- the "uv" option of makeCredential / getAssertion -----------------------------------------


def test_uv_option_before_enrollment_is_invalid() -> None:
    with pytest.raises(CtapError) as e:
        make(bio_key(), uv=True)
    assert e.value.code == CtapError.ERR.INVALID_OPTION


def test_uv_option_verifies_with_the_sensor_and_counts_as_presence() -> None:
    presence = AutoApprove()
    key = Authenticator(Env.for_tests(0, presence=presence), get_profile("ctap22-bio"))
    enroll(key)
    asked = len(presence.requests)
    response = make(key, uv=True, rk=True)
    assert response.auth_data.flags & 0x05 == 0x05  # UP and UV
    assert len(presence.requests) == asked
    assertion = Ctap2(DirectDevice(key)).get_assertion(
        "example.com", cdh("ga"), options={"uv": True}
    )
    assert assertion.auth_data.flags & 0x05 == 0x05
    assert assertion.user is not None and assertion.user.get("name") == "u"  # identified with UV


def test_uv_option_fails_on_a_wrong_finger() -> None:
    key = bio_key()
    enroll(key)
    key.sensor.present(NOMATCH)
    with pytest.raises(CtapError) as e:
        make(key, uv=True)
    assert e.value.code == CtapError.ERR.UV_INVALID


def test_enrolled_finger_protects_discoverable_credentials() -> None:
    key = bio_key()
    enroll(key)
    key.client_pin.reset()  # no PIN: the finger alone protects the key
    with pytest.raises(CtapError) as e:
        make(key, rk=True)
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED


def test_webauthn_client_uses_the_uv_token() -> None:
    key = bio_key()
    enroll(key)
    client = client_for(key)
    created = client.make_credential(creation_options(uv="required", resident="required"))
    assert created.response.attestation_object.auth_data.is_user_verified()
    got = client.get_assertion(request_options(uv="required")).get_response(0)
    assert got.response.authenticator_data.is_user_verified()


# ---- state: persistence and reset -------------------------------------------------------------


def test_enrollments_persist_and_reset_removes_them() -> None:
    store = MemoryStore()
    key = bio_key(store=store)
    template_id = enroll(key)
    reopened = bio_key(store=store)
    assert reopened.state.bio is not None and reopened.state.bio.template_ids == [template_id]
    Ctap2(DirectDevice(reopened)).reset()
    assert options(reopened)["uv"] is False
    assert bio_key(store=store).state.bio is None


def test_fault_bio_reset_keeps_enrollments() -> None:
    key = bio_key("bio-reset-keeps-enrollments")
    enroll(key)
    Ctap2(DirectDevice(key)).reset()
    assert options(key)["uv"] is True


def test_bio_state_round_trips_and_refuses_corruption() -> None:
    state = BioState([Enrollment(b"\x01\x02", "thumb"), Enrollment(b"\x03\x04")], 5)
    assert BioState.from_dict(state.to_dict()) == state
    for bad in (
        {"enrollments": [{"template_id": ""}]},
        {"enrollments": [{"template_id": "zz"}]},
        {"enrollments": ["x"]},
        {"enrollments": [], "uv_retries": 99},
        {"enrollments": [{"template_id": "01", "friendly_name": 3}]},
    ):
        with pytest.raises((ValueError, TypeError, KeyError)):
            BioState.from_dict(bad)


# ---- the control channel's finger words -------------------------------------------------------


def test_reading_words() -> None:
    assert Reading.parse("nomatch") == Reading(Finger.OTHER)
    assert Reading.parse("match=0a0b") == Reading(Finger.ENROLLED, b"\x0a\x0b")
    assert Reading.parse("absent") == Reading(Finger.NONE)
    assert Reading.parse("sample=too-fast").sample is SampleStatus.FP_TOO_FAST
    assert Reading.parse("sample=NO_USER_ACTIVITY").sample is SampleStatus.NO_USER_ACTIVITY
    for bad in ("thumb", "sample=sticky", "nomatch=01", "match=xyz"):
        with pytest.raises(ValueError):
            Reading.parse(bad)


def test_control_channel_queues_fingers() -> None:
    with EmulatedKey.create(profile="ctap22-bio", seed=3) as key:
        answer = run_control_command(key, "finger nomatch absent")
        assert answer["ok"] and answer["taken"] is True
        assert answer["status"]["sensor"]["queued"] == 2
        assert not run_control_command(key, "finger thumb")["ok"]
    with EmulatedKey.create(profile="ctap22", seed=3) as key:
        answer = run_control_command(key, "finger nomatch")
        assert answer["ok"] and answer["taken"] is False and "sensor" not in answer["status"]


# ---- malformed requests -----------------------------------------------------------------------

CBOR_VALUES = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=8) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.integers(0, 8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 8) | st.text(max_size=3),
        CBOR_VALUES | st.integers(0, 8),
        max_size=6,
    )
)
def test_malformed_bio_enrollment_maps_get_a_ctap_status(request_map: dict[object, object]) -> None:
    key = bio_key()
    key.client_pin.reset()
    answer = key.process(bytes([CtapCommand.BIO_ENROLLMENT]) + cbor.encode(request_map))
    assert answer[0] in STATUS_VALUES and answer[0] != CtapStatus.OTHER
    if answer[0] == CtapStatus.SUCCESS:  # only the subCommands that need no token succeed
        assert request_map.get(6) is True or request_map.get(2) in (3, 7)


def test_a_corrupt_bio_record_is_a_state_error() -> None:
    store = MemoryStore()
    enroll(bio_key(store=store))
    assert store.data is not None
    broken = store.data.replace(b'"uv_retries":8', b'"uv_retries":"8"')
    assert broken != store.data
    with pytest.raises(StateError):
        bio_key(store=MemoryStore(broken))


# ---- tokens from built-in UV: presence, pcmr, cancellation ------------------------------------


def test_a_uv_token_carries_the_touch() -> None:
    presence = AutoApprove()
    key = Authenticator(Env.for_tests(0, presence=presence), get_profile("ctap22-bio"))
    enroll(key)
    cp = pin_client(key)
    uv_token = cp.get_uv_token(MC, "example.com")
    asked = len(presence.requests)
    param = cp.protocol.authenticate(uv_token, cdh("mc"))
    response = Ctap2(DirectDevice(key)).make_credential(
        cdh("mc"),
        {"id": "example.com"},
        {"id": b"u", "name": "u"},
        [{"type": "public-key", "alg": -7}],
        pin_uv_param=param,
        pin_uv_protocol=2,
    )
    assert response.auth_data.flags & 0x05 == 0x05
    assert len(presence.requests) == asked


def test_a_persistent_token_from_built_in_uv() -> None:
    key = bio_key()
    enroll(key)
    persistent = pin_client(key).get_uv_token(ClientPin.PERMISSION.PERSISTENT_CREDENTIAL_MGMT)
    assert key.client_pin.state.persistent_token == persistent


def test_a_cancelled_request_reads_no_finger() -> None:
    key = bio_key()
    enroll(key)
    transaction = Transaction()
    transaction.cancel()
    request = {1: cdh("mc"), 2: {"id": "example.com"}, 3: {"id": b"u", "name": "u"}}
    request[4] = [{"type": "public-key", "alg": -7}]
    request[7] = {"uv": True}
    readings = key.sensor.readings
    answer = key.process(bytes([CtapCommand.MAKE_CREDENTIAL]) + cbor.encode(request), transaction)
    assert answer == bytes([CtapStatus.KEEPALIVE_CANCEL])
    assert key.sensor.readings == readings


def test_key_info_names_the_uv_modality() -> None:
    assert uv_modality_text(0x2) == "0x2 (fingerprint)"
    assert uv_modality_text(0x12) == "0x12 (fingerprint, faceprint)"
    assert uv_modality_text(0x802) == "0x802 (fingerprint, 0x800)"
    info = Ctap2(DirectDevice(bio_key())).get_info()
    meanings = {o["name"]: o["meaning"] for o in explain(info)["options"]}
    assert "unknown" not in meanings["uvToken"] and "unknown" not in meanings["uvBioEnroll"]


def test_udp_control_client_presents_fingers() -> None:
    with EmulatedKey.create(profile="ctap22-bio", seed=4) as key:
        control = ControlSocket(key, ("127.0.0.1", 0)).start()
        try:
            client = UdpControlClient(control.address)
            assert client.present_finger("nomatch match") is True
            assert key.authenticator.sensor.queued == 2
            with pytest.raises(ControlError):
                client.present_finger("thumb")
        finally:
            control.close()


def test_fault_no_presence_also_withholds_the_finger_touch() -> None:
    key = bio_key("no-presence")
    enroll(key)
    response = make(key, uv=True)
    assert response.auth_data.flags & 0x05 == 0x04  # UV without UP


def test_the_metadata_statement_lists_the_fingerprint() -> None:
    def methods(key: Authenticator) -> list[list[str]]:
        statement = metadata_statement(
            key.profile.aaguid, "k", key.get_info_map(), key.env.attestation.root_certificate
        )
        details = statement["userVerificationDetails"]
        assert isinstance(details, list)
        return [[m["userVerificationMethod"] for m in combo] for combo in details]

    assert ["fingerprint_internal"] in methods(bio_key())
    assert ["fingerprint_internal"] not in methods(make_key("ctap22"))
