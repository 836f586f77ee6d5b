"""Our authenticator-side PIN/UV auth protocols against python-fido2's client side."""

from __future__ import annotations

import os

import pytest
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_protocols import PinProtocolOne, PinProtocolTwo

PAIRS = [(PinProtocolOne, PinProtocolV1), (PinProtocolTwo, PinProtocolV2)]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["v1", "v2"])
def test_shared_secret_and_round_trips(ours, theirs) -> None:
    auth, client = ours(os.urandom), theirs()
    platform_key, client_secret = client.encapsulate(auth.key_agreement_cose())
    secret = auth.decapsulate(platform_key)
    assert secret == client_secret
    assert len(secret) == (32 if ours.version == 1 else 64)

    plaintext = os.urandom(64)
    assert auth.decrypt(secret, client.encrypt(client_secret, plaintext)) == plaintext
    assert client.decrypt(client_secret, auth.encrypt(secret, plaintext)) == plaintext

    message = os.urandom(40)
    tag = client.authenticate(client_secret, message)
    assert auth.authenticate(secret, message) == tag
    assert auth.verify(secret, message, tag)
    assert not auth.verify(secret, message + b"x", tag)
    assert not auth.verify(secret, message, tag[:-1])
    assert len(tag) == (16 if ours.version == 1 else 32)


def test_protocol_one_is_deterministic_zero_iv_and_two_is_randomised() -> None:
    v1, v2 = PinProtocolOne(os.urandom), PinProtocolTwo(os.urandom)
    key = os.urandom(64)
    assert v1.encrypt(key[:32], b"a" * 16) == v1.encrypt(key[:32], b"a" * 16)
    first, second = v2.encrypt(key, b"a" * 16), v2.encrypt(key, b"a" * 16)
    assert first != second and len(first) == 32
    assert v2.decrypt(key, first) == v2.decrypt(key, second) == b"a" * 16


@pytest.mark.parametrize("cls", [PinProtocolOne, PinProtocolTwo])
def test_regenerate_changes_the_key_and_breaks_old_secrets(cls) -> None:
    auth = cls(os.urandom)
    client = (PinProtocolV1 if cls.version == 1 else PinProtocolV2)()
    platform_key, client_secret = client.encapsulate(auth.key_agreement_cose())
    before = auth.key_agreement_cose()
    auth.regenerate()
    assert auth.key_agreement_cose() != before
    assert auth.decapsulate(platform_key) != client_secret


@pytest.mark.parametrize("cls", [PinProtocolOne, PinProtocolTwo])
def test_bad_ciphertext_lengths_are_ctap_errors(cls) -> None:
    auth = cls(os.urandom)
    for bad in (b"x" * 15, b"x" * 17, b"" if cls.version == 2 else b"x" * 33):
        with pytest.raises(CtapError) as info:
            auth.decrypt(os.urandom(64), bad)
        assert info.value.status == CtapStatus.INVALID_PARAMETER


def _good_peer() -> dict:
    return PinProtocolTwo(os.urandom).key_agreement_cose()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: k.update({1: 1}),  # OKP, not EC2
        lambda k: k.update({-1: 2}),  # P-384
        lambda k: k.update({3: -7}),  # foreign alg
        lambda k: k.update({-2: k[-2][:31]}),  # short x
        lambda k: k.update({-3: "not bytes"}),
        lambda k: k.update({-3: bytes(32)}),  # not on the curve
        lambda k: k.pop(-2),
        lambda k: k.clear(),
    ],
)
def test_malformed_peer_keys_are_invalid_parameter(mutate) -> None:
    peer = _good_peer()
    mutate(peer)
    with pytest.raises(CtapError) as info:
        PinProtocolOne(os.urandom).decapsulate(peer)
    assert info.value.status == CtapStatus.INVALID_PARAMETER


def test_non_map_peer_key_is_invalid_parameter() -> None:
    with pytest.raises(CtapError) as info:
        PinProtocolTwo(os.urandom).decapsulate([1, 2])  # type: ignore[arg-type]
    assert info.value.status == CtapStatus.INVALID_PARAMETER
