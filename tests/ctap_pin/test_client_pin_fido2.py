"""authenticatorClientPIN driven by python-fido2's ClientPin (see conftest: test adapter)."""

from __future__ import annotations

import hashlib

import pytest
from fido2.ctap import CtapError as Fido2CtapError
from fido2.ctap2.pin import ClientPin as Fido2ClientPin
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2

from tokenbench.emulators.ctap.client_pin import PIN_RETRIES_MAX, ClientPin, PinState
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_uv_token import (
    INITIAL_USAGE_TIME_LIMIT,
    MAX_USAGE_TIME_PERIOD,
    USER_PRESENT_TIME_LIMIT,
    Permission,
)

PROTOCOLS = [PinProtocolV2, PinProtocolV1]
PIN = "1234ab"
P = Fido2ClientPin.PERMISSION


def client(ctap, protocol_cls) -> Fido2ClientPin:
    return Fido2ClientPin(ctap, protocol_cls())


def status_of(call) -> int:
    with pytest.raises(Fido2CtapError) as info:
        call()
    return info.value.code


def mac(protocol_cls, token: bytes, message: bytes) -> bytes:
    return protocol_cls().authenticate(token, message)


@pytest.mark.parametrize("proto", PROTOCOLS, ids=["v2", "v1"])
def test_set_pin_then_token_verifies_with_permissions(rig, ctap, proto) -> None:
    pin = client(ctap, proto)
    # Deployed keys answer getPINRetries only once a PIN is set (YubiKey, OpenSK).
    assert status_of(pin.get_pin_retries) == CtapStatus.PIN_NOT_SET
    pin.set_pin(PIN)
    assert rig.state.pin_hash == hashlib.sha256(PIN.encode()).digest()[:16]
    assert rig.state.pin_length == len(PIN)
    assert rig.persisted, "setting the PIN must persist the state"
    token = pin.get_pin_token(PIN, P.MAKE_CREDENTIAL | P.CREDENTIAL_MGMT, "example.com")
    assert len(token) == 32
    cp = rig.client_pin
    assert cp.pin_uv_auth_token_in_use and cp.permissions_rp_id == "example.com"
    cdh = b"c" * 32
    cp.verify_token(proto.VERSION, mac(proto, token, cdh), cdh, Permission.MC, "example.com")
    with pytest.raises(CtapError) as info:  # not granted
        cp.verify_token(proto.VERSION, mac(proto, token, cdh), cdh, Permission.GA, "example.com")
    assert info.value.status == CtapStatus.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as info:  # other RP
        cp.verify_token(proto.VERSION, mac(proto, token, cdh), cdh, Permission.MC, "evil.com")
    assert info.value.status == CtapStatus.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as info:  # wrong MAC
        cp.verify_token(proto.VERSION, mac(proto, token, b"x"), cdh, Permission.MC, "example.com")
    assert info.value.status == CtapStatus.PIN_AUTH_INVALID


def test_token_is_per_protocol(rig, ctap) -> None:
    client(ctap, PinProtocolV2).set_pin(PIN)
    token = client(ctap, PinProtocolV2).get_pin_token(PIN, P.GET_ASSERTION)
    msg = b"m" * 32
    rig.client_pin.verify_token(2, mac(PinProtocolV2, token, msg), msg, Permission.GA, None)
    with pytest.raises(CtapError):
        rig.client_pin.verify_token(1, mac(PinProtocolV1, token, msg), msg, Permission.GA, None)


def test_token_binds_first_rp_and_legacy_token_has_mc_ga(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN)  # no permissions: legacy getPinToken (subCommand 5)
    cp, msg = rig.client_pin, b"h" * 32
    tag = mac(PinProtocolV2, token, msg)
    with pytest.raises(CtapError):
        cp.verify_token(2, tag, msg, Permission.CM, None)
    cp.verify_token(2, tag, msg, Permission.GA, "a.example")
    assert cp.permissions_rp_id == "a.example"
    with pytest.raises(CtapError):
        cp.verify_token(2, tag, msg, Permission.MC, "b.example")
    with pytest.raises(CtapError):  # credMgmt-wide call with an RP-bound token
        cp.verify_token(2, tag, msg, Permission.GA, None, forbid_rp_id=True)


def test_set_pin_twice_is_not_allowed(ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    assert status_of(lambda: pin.set_pin("99999999")) == CtapStatus.NOT_ALLOWED


@pytest.mark.parametrize("proto", PROTOCOLS, ids=["v2", "v1"])
def test_change_pin_replaces_pin_and_invalidates_token(rig, ctap, proto) -> None:
    pin = client(ctap, proto)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, P.GET_ASSERTION)
    pin.change_pin(PIN, "newpin99")
    assert not rig.client_pin.pin_uv_auth_token_in_use
    msg = b"z" * 32
    with pytest.raises(CtapError):
        rig.client_pin.verify_token(proto.VERSION, mac(proto, token, msg), msg, Permission.GA, None)
    assert status_of(lambda: pin.get_pin_token(PIN, P.GET_ASSERTION)) == CtapStatus.PIN_INVALID
    assert len(pin.get_pin_token("newpin99", P.GET_ASSERTION)) == 32
    assert pin.get_pin_retries()[0] == PIN_RETRIES_MAX


def test_change_pin_with_wrong_old_pin_costs_a_retry(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    assert status_of(lambda: pin.change_pin("wrong1", "another1")) == CtapStatus.PIN_INVALID
    assert pin.get_pin_retries() == (PIN_RETRIES_MAX - 1, False)
    assert rig.state.pin_hash == hashlib.sha256(PIN.encode()).digest()[:16]


def test_retries_count_down_then_power_cycle_then_block(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    expected_retries = PIN_RETRIES_MAX
    for _cycle in range(2):
        for attempt in range(3):
            code = status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION))
            expected_retries -= 1
            want = CtapStatus.PIN_AUTH_BLOCKED if attempt == 2 else CtapStatus.PIN_INVALID
            assert code == want
            assert rig.state.retries == expected_retries
        assert pin.get_pin_retries() == (expected_retries, True)
        # blocked until power cycle, even for the right PIN, and without spending a retry
        assert status_of(lambda: pin.get_pin_token(PIN, P.GET_ASSERTION)) == (
            CtapStatus.PIN_AUTH_BLOCKED
        )
        assert rig.state.retries == expected_retries
        rig.client_pin.power_cycle()
    assert status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION)) == (
        CtapStatus.PIN_INVALID
    )
    assert status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION)) == (
        CtapStatus.PIN_BLOCKED
    )
    assert rig.state.retries == 0
    rig.client_pin.power_cycle()
    assert status_of(lambda: pin.get_pin_token(PIN, P.GET_ASSERTION)) == CtapStatus.PIN_BLOCKED
    assert status_of(lambda: pin.change_pin(PIN, "another1")) == CtapStatus.PIN_BLOCKED
    rig.client_pin.reset()
    assert not rig.client_pin.is_pin_set and rig.state.retries == PIN_RETRIES_MAX
    pin.set_pin("fresh-pin")


def test_right_pin_restores_retries(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV1)
    pin.set_pin(PIN)
    status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION))
    status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION))
    assert rig.state.retries == PIN_RETRIES_MAX - 2
    pin.get_pin_token(PIN, P.GET_ASSERTION)
    assert pin.get_pin_retries() == (PIN_RETRIES_MAX, False)
    # and the consecutive counter was cleared: three more failures before a power cycle
    codes = [status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION)) for _ in range(3)]
    assert codes == [CtapStatus.PIN_INVALID] * 2 + [CtapStatus.PIN_AUTH_BLOCKED]


def test_wrong_pin_regenerates_key_agreement(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    before = rig.client_pin.protocol(2).key_agreement_cose()
    status_of(lambda: pin.get_pin_token("badpin", P.GET_ASSERTION))
    assert rig.client_pin.protocol(2).key_agreement_cose() != before


def test_power_cycle_and_reset_regenerate_key_agreement(rig) -> None:
    for action in (rig.client_pin.power_cycle, rig.client_pin.reset):
        before = rig.client_pin.protocol(1).key_agreement_cose()
        action()
        assert rig.client_pin.protocol(1).key_agreement_cose() != before


def test_force_pin_change(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    rig.client_pin.set_min_pin_length(4, force_change=True)
    assert rig.state.force_pin_change
    for request in (
        lambda: pin.get_pin_token(PIN, P.GET_ASSERTION),
        lambda: pin.get_pin_token(PIN),  # legacy getPinToken
    ):
        # The right PIN, but it must be changed first: PIN_INVALID, as OpenSK and the keys
        # python-fido2's device suite is written against answer; the retries are restored.
        assert status_of(request) == CtapStatus.PIN_INVALID
        assert rig.state.retries == PIN_RETRIES_MAX
    assert status_of(lambda: pin.change_pin(PIN, PIN)) == CtapStatus.PIN_POLICY_VIOLATION
    pin.change_pin(PIN, "brand-new")
    assert not rig.state.force_pin_change
    pin.get_pin_token("brand-new", P.GET_ASSERTION)


def test_min_pin_length_in_code_points(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    rig.client_pin.set_min_pin_length(6)
    assert status_of(lambda: pin.set_pin("12345")) == CtapStatus.PIN_POLICY_VIOLATION
    # five code points but ten UTF-8 bytes: still too short
    assert status_of(lambda: pin.set_pin("ääääå")) == CtapStatus.PIN_POLICY_VIOLATION
    pin.set_pin("ääääåå")
    assert rig.state.pin_length == 6
    rig.client_pin.set_min_pin_length(8)  # current PIN now too short -> forced change
    assert rig.state.force_pin_change
    with pytest.raises(CtapError) as info:
        rig.client_pin.set_min_pin_length(7)
    assert info.value.status == CtapStatus.PIN_POLICY_VIOLATION


def test_maximum_pin_is_63_bytes(ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    assert status_of(lambda: pin.set_pin("x" * 64)) == CtapStatus.PIN_POLICY_VIOLATION
    assert status_of(lambda: pin.set_pin("x" * 65)) == CtapStatus.INVALID_PARAMETER
    pin.set_pin("x" * 63)


def test_permission_rules(ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    assert status_of(lambda: pin.get_pin_token(PIN, P(0))) == CtapStatus.INVALID_PARAMETER
    assert status_of(lambda: pin.get_pin_token(PIN, P.BIO_ENROLL)) == (
        CtapStatus.UNAUTHORIZED_PERMISSION
    )
    assert status_of(lambda: pin.get_pin_token(PIN, P.PERSISTENT_CREDENTIAL_MGMT)) == (
        CtapStatus.UNAUTHORIZED_PERMISSION
    )
    every = P.MAKE_CREDENTIAL | P.GET_ASSERTION | P.CREDENTIAL_MGMT | P.LARGE_BLOB_WRITE
    pin.get_pin_token(PIN, every | P.AUTHENTICATOR_CFG)


def test_no_pin_set(ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    assert status_of(lambda: pin.get_pin_token(PIN, P.GET_ASSERTION)) == CtapStatus.PIN_NOT_SET
    assert status_of(lambda: pin.change_pin(PIN, "another1")) == CtapStatus.PIN_NOT_SET


def test_uv_subcommands_are_not_supported(ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    assert status_of(lambda: pin.get_uv_token(P.GET_ASSERTION)) == CtapStatus.INVALID_SUBCOMMAND
    assert status_of(pin.get_uv_retries) == CtapStatus.INVALID_SUBCOMMAND


def test_wrong_protocol_only_when_key_supports_one(make_ctap) -> None:
    _, only_two = make_ctap((2,))
    pin = Fido2ClientPin(only_two, PinProtocolV1())
    assert status_of(lambda: pin.set_pin(PIN)) == CtapStatus.INVALID_PARAMETER
    assert status_of(lambda: pin.get_pin_token(PIN)) == CtapStatus.INVALID_PARAMETER
    Fido2ClientPin(only_two, PinProtocolV2()).set_pin(PIN)


def test_token_usage_timer(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    cp, msg = rig.client_pin, b"t" * 32
    pin.get_pin_token(PIN, P.GET_ASSERTION)
    rig.clock.advance(INITIAL_USAGE_TIME_LIMIT + 1)
    assert not cp.pin_uv_auth_token_in_use  # never used: expired

    token = pin.get_pin_token(PIN, P.GET_ASSERTION)
    cp.verify_token(2, mac(PinProtocolV2, token, msg), msg, Permission.GA, None)
    rig.clock.advance(USER_PRESENT_TIME_LIMIT + 1)
    assert cp.pin_uv_auth_token_in_use  # used once: survives the initial limit
    assert not cp.token_user_present()
    rig.clock.advance(MAX_USAGE_TIME_PERIOD)
    assert not cp.pin_uv_auth_token_in_use
    with pytest.raises(CtapError):
        cp.verify_token(2, mac(PinProtocolV2, token, msg), msg, Permission.GA, None)


def test_flags_and_permission_clearing(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    cp, msg = rig.client_pin, b"f" * 32
    token = pin.get_pin_token(PIN, P.GET_ASSERTION | P.LARGE_BLOB_WRITE)
    assert not cp.token_user_present()  # a PIN token starts without user presence
    tag = mac(PinProtocolV2, token, msg)
    cp.clear_permissions_except_lbw()
    with pytest.raises(CtapError):
        cp.verify_token(2, tag, msg, Permission.GA, None)
    cp.verify_token(2, tag, msg, Permission.LBW, None)
    cp.clear_user_verified()
    with pytest.raises(CtapError):
        cp.verify_token(2, tag, msg, Permission.LBW, None)


def test_secrets_stay_out_of_repr(rig, ctap) -> None:
    pin = client(ctap, PinProtocolV2)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, P.GET_ASSERTION)
    for text in (repr(rig.state), repr(rig.client_pin), str(rig.client_pin)):
        assert rig.state.pin_hash.hex() not in text and token.hex() not in text
        assert PIN not in text and "pin_hash" not in text


def test_pin_state_round_trips_through_json_types(rig, ctap) -> None:
    import json

    client(ctap, PinProtocolV2).set_pin(PIN)
    rig.client_pin.set_min_pin_length(5, force_change=True)
    restored = PinState.from_dict(json.loads(json.dumps(rig.state.to_dict())))
    assert restored == rig.state
    persisted = [PinState.from_dict(d) for d in rig.persisted]
    assert persisted[-1] == rig.state
    with pytest.raises(ValueError):
        PinState.from_dict({**rig.state.to_dict(), "retries": 99})


def test_state_survives_restart_but_token_does_not(rig, ctap) -> None:
    client(ctap, PinProtocolV2).set_pin(PIN)
    state = PinState.from_dict(rig.state.to_dict())
    reloaded = ClientPin(lambda n: b"\x01" * n, lambda: None, state)
    assert reloaded.is_pin_set and not reloaded.pin_uv_auth_token_in_use
