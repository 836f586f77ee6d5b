"""The core's signature algorithms: derivation, credential IDs, attestation and refusal.

End-to-end acceptance by three relying parties is in tests/webauthn/test_webauthn_algorithms.py;
here the core's own rules: a seed always gives the same key, every algorithm survives a
credential ID round trip, self attestation signs with the credential's own algorithm, a
resident ML-DSA-87 credential (the largest key) is enumerated whole, and a profile refuses an
algorithm it does not list.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from ctap_testkit import (
    DirectDevice,
    client_for,
    creation_options,
    make_key,
    request_options,
    root_verifier,
    token,
    with_pin,
)
from fido2.cose import CoseKey
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, CredentialManagement, Ctap2

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.cose_algorithms import (
    P256_ORDER,
    P384_ORDER,
    P521_ORDER,
    SECP256K1_ORDER,
    SIGNING_ALGORITHMS,
    derive_key,
)
from tokenbench.emulators.ctap.credentials import CredentialWrapper, rp_id_hash
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile

ALL = "all-algorithms"


@pytest.mark.parametrize(
    ("curve", "order"),
    [
        (ec.SECP256R1(), P256_ORDER),
        (ec.SECP384R1(), P384_ORDER),
        (ec.SECP521R1(), P521_ORDER),
        (ec.SECP256K1(), SECP256K1_ORDER),
    ],
    ids=["P-256", "P-384", "P-521", "secp256k1"],
)
def test_the_group_orders_are_the_curves_own(curve: ec.EllipticCurve, order: int) -> None:
    """(n - 1)·G = -G, and n itself is refused: a wrong constant fails one of the two."""
    generator = ec.derive_private_key(1, curve).public_key().public_numbers()
    minus = ec.derive_private_key(order - 1, curve).public_key().public_numbers()
    assert (minus.x, minus.y) != (generator.x, generator.y) and minus.x == generator.x
    with pytest.raises(ValueError):
        ec.derive_private_key(order, curve)


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_a_seed_gives_one_key_and_its_signatures_verify(alg: int) -> None:
    first, again = derive_key(alg, b"\x11" * 32), derive_key(alg, b"\x11" * 32)
    other = derive_key(alg, b"\x22" * 32)
    assert first.cose == again.cose != other.cose
    public = CoseKey.parse(first.cose)
    assert alg == public.ALGORITHM
    public.verify(b"message", first.sign(b"message"))
    with pytest.raises(Exception):  # noqa: B017 - each family raises its own InvalidSignature
        public.verify(b"message", other.sign(b"message"))


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported algorithm -53"):
        derive_key(-53, b"\x00" * 32)


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_credential_ids_carry_the_algorithm(alg: int) -> None:
    wrapper = CredentialWrapper(b"\x05" * 32, lambda n: b"\x07" * n)
    secret = wrapper.new_secret(alg, resident=True)
    cred_id = wrapper.wrap(rp_id_hash("example.com"), secret)
    assert wrapper.unwrap(rp_id_hash("example.com"), cred_id) == secret
    assert wrapper.unwrap(rp_id_hash("example.org"), cred_id) is None


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_self_attestation_signs_with_the_credentials_own_algorithm(alg: int) -> None:
    key = Authenticator(Env.for_tests(), replace(get_profile(ALL), attestation="self"))
    made = client_for(key).make_credential(creation_options(algs=(alg,)))
    attestation = made.response.attestation_object
    assert attestation.fmt == "packed" and attestation.att_stmt["alg"] == alg
    assert "x5c" not in attestation.att_stmt
    root_verifier(key).verify_attestation(attestation, made.response.client_data.hash)


def test_the_platforms_preference_order_picks_the_algorithm() -> None:
    key = make_key(ALL)
    made = client_for(key).make_credential(creation_options(algs=(-49, -7)))
    public = made.response.attestation_object.auth_data.credential_data.public_key
    assert public.ALGORITHM == -49


def test_a_profile_refuses_what_it_does_not_list() -> None:
    key = make_key("default")
    with pytest.raises(CtapError) as refused:
        Ctap2(DirectDevice(key)).make_credential(
            b"\x01" * 32,
            {"id": "example.com", "name": "Example"},
            {"id": b"user-1", "name": "alice"},
            [{"type": "public-key", "alg": -49}],
        )
    assert refused.value.code == CtapError.ERR.UNSUPPORTED_ALGORITHM


def test_a_resident_ml_dsa_87_credential_is_enumerated_whole() -> None:
    """The largest public key (2,592 bytes) comes back whole in credMgmt and verifies."""
    key = with_pin(make_key(ALL))
    made = client_for(key, pin="4321abcd").make_credential(
        creation_options(algs=(-50,), resident="required")
    )
    created = made.response.attestation_object.auth_data.credential_data.public_key
    cp, pin_token = token(key, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    management = CredentialManagement(Ctap2(DirectDevice(key)), cp.protocol, pin_token)
    rp = management.enumerate_rps()[0]
    (listed,) = management.enumerate_creds(rp[CredentialManagement.RESULT.RP_ID_HASH])
    assert listed[CredentialManagement.RESULT.PUBLIC_KEY] == created
    assert len(created[-1]) == 2592
    got = client_for(key, pin="4321abcd").get_assertion(request_options())
    response = got.get_response(0)
    created.verify(
        bytes(response.response.authenticator_data) + response.response.client_data.hash,
        response.response.signature,
    )
