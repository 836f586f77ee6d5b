"""Malformed authenticatorClientPIN requests get the spec's status, never another exception."""

from __future__ import annotations

import contextlib
import os

import pytest
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.emulators.ctap.client_pin import PIN_RETRIES_MAX, ClientPin, PinState, pin_hash
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_uv_token import Permission, supported_permissions_for


def fresh(pin_set: bool = False) -> ClientPin:
    state = PinState()
    cp = ClientPin(os.urandom, lambda: None, state)
    if pin_set:
        state.pin_hash, state.pin_length = pin_hash(b"1234"), 4
    return cp


def status(cp: ClientPin, params) -> CtapStatus:
    with pytest.raises(CtapError) as info:
        cp.handle(params, lambda: None)
    return info.value.status


def platform_key(cp: ClientPin) -> tuple[dict, bytes]:
    return PinProtocolV2().encapsulate(cp.protocol(2).key_agreement_cose())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, CtapStatus.MISSING_PARAMETER),
        ({1: 2}, CtapStatus.MISSING_PARAMETER),
        ({2: 2}, CtapStatus.MISSING_PARAMETER),  # getKeyAgreement without a protocol
        ({1: 3, 2: 2}, CtapStatus.INVALID_PARAMETER),
        ({1: 2, 2: 0x08}, CtapStatus.INVALID_SUBCOMMAND),
        ({1: 2, 2: 0x42}, CtapStatus.INVALID_SUBCOMMAND),
        ({1: "2", 2: 2}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: True, 2: 2}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: 2, 2: -1}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: 2, 2: 3, 3: [1]}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: 2, 2: 3, 3: {}, 4: "x", 5: b""}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: 2, 2: 9, 10: b"rp"}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: 2, 2: 3, 3: {}, 4: b""}, CtapStatus.MISSING_PARAMETER),  # no newPinEnc
        ({1: 2, 2: 3, 3: {}, 4: b"", 5: b""}, CtapStatus.INVALID_PARAMETER),  # bad key
        ({1: 2, 2: 9, 3: {}, 6: b""}, CtapStatus.MISSING_PARAMETER),  # no permissions
    ],
)
def test_request_validation(params, expected) -> None:
    assert status(fresh(), params) == expected


def test_get_pin_retries_and_key_agreement_answer() -> None:
    cp = fresh()
    with pytest.raises(CtapError) as no_pin:
        cp.handle({1: 2, 2: 1}, lambda: None)
    assert no_pin.value.status == CtapStatus.PIN_NOT_SET  # retries only once a PIN is set
    key = cp.handle({1: 1, 2: 2}, lambda: None)[1]
    assert key[1] == 2 and key[3] == -25 and key[-1] == 1
    assert len(key[-2]) == len(key[-3]) == 32


def test_set_pin_with_bad_mac_is_pin_auth_invalid() -> None:
    cp = fresh()
    key, secret = platform_key(cp)
    enc = PinProtocolV2().encrypt(secret, b"1234".ljust(64, b"\0"))
    params = {1: 2, 2: 3, 3: key, 4: b"\0" * 32, 5: enc}
    assert status(cp, params) == CtapStatus.PIN_AUTH_INVALID
    assert not cp.is_pin_set


def test_set_pin_with_undecryptable_pin_is_pin_auth_invalid() -> None:
    cp = fresh()
    key, secret = platform_key(cp)
    enc = b"\1" * 8  # shorter than the IV, but correctly MACed
    params = {1: 2, 2: 3, 3: key, 4: PinProtocolV2().authenticate(secret, enc), 5: enc}
    assert status(cp, params) == CtapStatus.PIN_AUTH_INVALID


def test_legacy_get_pin_token_refuses_permissions() -> None:
    cp = fresh(pin_set=True)
    key, secret = platform_key(cp)
    params = {1: 2, 2: 5, 3: key, 6: PinProtocolV2().encrypt(secret, b"\0" * 16), 9: 1}
    assert status(cp, params) == CtapStatus.INVALID_PARAMETER
    assert cp.state.retries == PIN_RETRIES_MAX


def test_undecryptable_pin_hash_spends_a_retry() -> None:
    cp = fresh(pin_set=True)
    key, _ = platform_key(cp)
    assert status(cp, {1: 2, 2: 9, 3: key, 6: b"\0" * 5, 9: 2}) == CtapStatus.PIN_INVALID
    assert cp.state.retries == PIN_RETRIES_MAX - 1


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=80)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.integers(-4, 10), inner, max_size=5)
    ),
    max_leaves=12,
)
subcommands = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9]) | st.integers(0, 300)
request_maps = st.fixed_dictionaries(
    {},
    optional={
        1: st.sampled_from([1, 2]) | cbor_values,
        2: subcommands | cbor_values,
        3: cbor_values,
        4: st.binary(max_size=40) | cbor_values,
        5: st.binary(max_size=96) | cbor_values,
        6: st.binary(max_size=40) | cbor_values,
        9: st.integers(0, 0x7F) | cbor_values,
        10: st.text(max_size=10) | cbor_values,
    },
)


@settings(max_examples=150)
@given(request=request_maps, pin_set=st.booleans())
def test_random_requests_only_raise_ctap_errors(request, pin_set) -> None:
    cp = fresh(pin_set)
    try:
        response = cp.handle(request, lambda: None)
    except CtapError:
        return
    assert isinstance(response, dict)


@settings(max_examples=50)
@given(request=cbor_values)
def test_non_map_requests_only_raise_ctap_errors(request) -> None:
    with contextlib.suppress(CtapError):
        fresh().handle(request, lambda: None)


def test_ctap20_key_knows_only_the_legacy_subcommands() -> None:
    state = PinState(pin_hash=pin_hash(b"1234"), pin_length=4)
    cp = ClientPin(os.urandom, lambda: None, state, (1,), pin_uv_auth_token=False)
    key, secret = PinProtocolV1().encapsulate(cp.protocol(1).key_agreement_cose())
    request = {1: 1, 2: 9, 3: key, 6: PinProtocolV1().encrypt(secret, pin_hash(b"1234")), 9: 3}
    assert status(cp, request) == CtapStatus.INVALID_SUBCOMMAND
    # a CTAP 2.0 key ignores the 2.1 parameters on getPinToken
    token_enc = cp.handle({**request, 2: 5}, lambda: None)[2]
    assert len(PinProtocolV1().decrypt(secret, token_enc)) == 32


def test_permissions_follow_the_features_in_get_info() -> None:
    granted = supported_permissions_for({"credMgmt": True, "largeBlobs": False, "authnrCfg": True})
    assert granted == Permission.MC | Permission.GA | Permission.CM | Permission.ACFG
    assert Permission.BE in supported_permissions_for({"bioEnroll": False})
    state = PinState(pin_hash=pin_hash(b"1234"), pin_length=4)
    cp = ClientPin(os.urandom, lambda: None, state, supported_permissions=granted)
    key, secret = platform_key(cp)
    request = {1: 2, 2: 9, 3: key, 6: PinProtocolV2().encrypt(secret, pin_hash(b"1234"))}
    assert status(cp, {**request, 9: Permission.LBW}) == CtapStatus.UNAUTHORIZED_PERMISSION
    assert cp.state.retries == PIN_RETRIES_MAX  # refused before the PIN is even looked at
    assert 2 in cp.handle({**request, 9: Permission.ACFG}, lambda: None)


def test_ctap20_token_serves_any_rp_until_power_cycle() -> None:
    state = PinState(pin_hash=pin_hash(b"1234"), pin_length=4)
    cp = ClientPin(os.urandom, lambda: None, state, (1,), pin_uv_auth_token=False)
    key, secret = PinProtocolV1().encapsulate(cp.protocol(1).key_agreement_cose())
    request = {1: 1, 2: 5, 3: key, 6: PinProtocolV1().encrypt(secret, pin_hash(b"1234"))}
    token = PinProtocolV1().decrypt(secret, cp.handle(request, lambda: None)[2])
    tag = PinProtocolV1().authenticate(token, b"c" * 32)
    for rp in ("a.example", "b.example"):
        cp.verify_token(1, tag, b"c" * 32, Permission.MC, rp)
        cp.clear_user_verified()
    with pytest.raises(CtapError):
        cp.verify_token(1, tag, b"c" * 32, Permission.MC | Permission.CM, "a.example")
    cp.power_cycle()
    with pytest.raises(CtapError):
        cp.verify_token(1, tag, b"c" * 32, Permission.MC, "a.example")


@settings(max_examples=80)
@given(
    sub=st.sampled_from([3, 4, 5, 9]),
    version=st.sampled_from([1, 2]),
    param=st.binary(max_size=40),
    new_pin_enc=st.binary(max_size=96),
    pin_hash_enc=st.binary(max_size=48),
    permissions=st.integers(0, 0x7F),
    pin_set=st.booleans(),
)
def test_random_payloads_under_a_valid_key_agreement(
    sub, version, param, new_pin_enc, pin_hash_enc, permissions, pin_set
) -> None:
    """Past the key agreement: random ciphertexts and MACs still end in a CtapError, and the
    PIN state stays consistent (retries within 0..8, hash unchanged unless a PIN was set)."""
    cp = fresh(pin_set)
    before = cp.state.pin_hash
    client = PinProtocolV1() if version == 1 else PinProtocolV2()
    key, _ = client.encapsulate(cp.protocol(version).key_agreement_cose())
    request = {1: version, 2: sub, 3: key, 4: param, 5: new_pin_enc, 6: pin_hash_enc}
    if sub == 9:
        request[9] = permissions
    with contextlib.suppress(CtapError):
        cp.handle(request, lambda: None)
    assert 0 <= cp.state.retries <= PIN_RETRIES_MAX
    assert cp.state.pin_hash == before  # random bytes never verify, so nothing was set
