"""Hostile input: random and mutated responses only ever raise WebAuthnError (or, for an
unsigned "none" registration whose mutation happens to stay valid, succeed)."""

from __future__ import annotations

import json

import pytest
from fido2 import cbor
from hypothesis import given
from hypothesis import strategies as st
from webauthn_factory import ORIGIN, RP_ID, SoftKey, assert_, register

from tokenbench.verifier.webauthn import (
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    verify_assertion,
    verify_registration,
)
from tokenbench.verifier.webauthn_errors import ERROR_CODES

CHALLENGE = b"\x99" * 32
POLICY = RelyingPartyPolicy(RP_ID, frozenset({ORIGIN}))
KEY = SoftKey()
STORED = StoredCredential(KEY.credential_id, KEY.cose_bytes, 0, False, None)
GOOD_ASSERTION = assert_(KEY, CHALLENGE, counter=1)
GOOD_REGISTRATIONS = [
    register(CHALLENGE, "packed-self", key=KEY),
    register(CHALLENGE, "none", key=KEY),
]


def mutate(data: bytes, draw_ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in draw_ops:
        if not buf:
            buf.append(value)
            continue
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (value % 8)
        elif op == "set":
            buf[i] = value
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf.insert(i, value)
    return bytes(buf)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "cut", "insert"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


def registration_survives(client_data_json: bytes, attestation_object: bytes) -> None:
    try:
        verify_registration(POLICY, CHALLENGE, client_data_json, attestation_object)
    except WebAuthnError as exc:
        assert exc.code in ERROR_CODES
        assert "\n" not in str(exc)


def assertion_survives(stored: StoredCredential, cdj: bytes, ad: bytes, sig: bytes) -> None:
    try:
        verify_assertion(POLICY, CHALLENGE, stored, stored.credential_id, cdj, ad, sig, None)
    except WebAuthnError as exc:
        assert exc.code in ERROR_CODES


@given(st.binary(max_size=400), st.binary(max_size=400))
def test_random_registration(cdj: bytes, obj: bytes) -> None:
    registration_survives(cdj, obj)


@given(st.sampled_from(GOOD_REGISTRATIONS), OPS, st.booleans())
def test_mutated_registration(reg, ops, in_client_data: bool) -> None:
    if in_client_data:
        registration_survives(mutate(reg.client_data_json, ops), reg.attestation_object)
    else:
        registration_survives(reg.client_data_json, mutate(reg.attestation_object, ops))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(["type", "challenge", "origin", "crossOrigin", "tokenBinding"]), JSON_VALUES
    )
    | JSON_VALUES
)
def test_structurally_wrong_client_data(body) -> None:
    cdj = json.dumps(body).encode()
    registration_survives(cdj, GOOD_REGISTRATIONS[0].attestation_object)
    assertion_survives(STORED, cdj, GOOD_ASSERTION.authenticator_data, GOOD_ASSERTION.signature)


CBOR_VALUES = st.recursive(
    st.booleans()
    | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.integers(-4, 4) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@given(CBOR_VALUES)
def test_wrong_attestation_object_shapes(value) -> None:
    good = cbor.decode(GOOD_REGISTRATIONS[0].attestation_object)
    for key in ("fmt", "attStmt", "authData"):
        registration_survives(
            GOOD_REGISTRATIONS[0].client_data_json, cbor.encode({**good, key: value})
        )


@given(st.dictionaries(st.integers(-4, 4), CBOR_VALUES, max_size=6) | CBOR_VALUES)
def test_bad_cose_keys(cose) -> None:
    stored = StoredCredential(KEY.credential_id, cbor.encode(cose), 0, False, None)
    assertion_survives(
        stored,
        GOOD_ASSERTION.client_data_json,
        GOOD_ASSERTION.authenticator_data,
        GOOD_ASSERTION.signature,
    )


@given(st.binary(max_size=200), st.binary(max_size=100), st.binary(max_size=100))
def test_random_assertion(ad: bytes, sig: bytes, key: bytes) -> None:
    assertion_survives(STORED, GOOD_ASSERTION.client_data_json, ad, sig)
    stored = StoredCredential(KEY.credential_id, key, 0, False, None)
    assertion_survives(
        stored, GOOD_ASSERTION.client_data_json, GOOD_ASSERTION.authenticator_data, sig
    )


@given(OPS, st.sampled_from(["client_data_json", "authenticator_data", "signature"]))
def test_mutated_assertion_never_accepted(ops, part: str) -> None:
    """Every byte of a signed assertion is covered by the signature (or checked)."""
    fields = {
        "client_data_json": GOOD_ASSERTION.client_data_json,
        "authenticator_data": GOOD_ASSERTION.authenticator_data,
        "signature": GOOD_ASSERTION.signature,
    }
    mutated = mutate(fields[part], ops)
    if mutated == fields[part]:
        return
    fields[part] = mutated
    with pytest.raises(WebAuthnError):
        verify_assertion(
            POLICY,
            CHALLENGE,
            STORED,
            KEY.credential_id,
            fields["client_data_json"],
            fields["authenticator_data"],
            fields["signature"],
            None,
        )


GOOD_CERT = __import__("webauthn_factory").der(
    __import__("webauthn_factory").Pki.self_signed_batch().batch
)
STATEMENT_FIELDS = {
    "alg": st.sampled_from([-7, -8, -257, -65535, 0]) | CBOR_VALUES,
    "sig": st.binary(max_size=80) | CBOR_VALUES,
    "x5c": st.lists(st.just(GOOD_CERT) | st.binary(max_size=60) | CBOR_VALUES, max_size=3),
    "ver": st.just("2.0") | CBOR_VALUES,
    "certInfo": st.binary(max_size=120),
    "pubArea": st.binary(max_size=120),
    "ecdaaKeyId": st.binary(max_size=8),
}


@given(
    st.sampled_from(["packed", "fido-u2f", "tpm", "apple", "android-key", "none"]),
    st.fixed_dictionaries({}, optional=STATEMENT_FIELDS),
)
def test_hostile_statements_for_every_format(fmt: str, statement: dict) -> None:
    good = cbor.decode(GOOD_REGISTRATIONS[0].attestation_object)
    obj = cbor.encode({"fmt": fmt, "attStmt": statement, "authData": good["authData"]})
    registration_survives(GOOD_REGISTRATIONS[0].client_data_json, obj)


@given(st.sampled_from([None, "text", 123, 1.5, [1], {"a": 1}, b"ok", bytearray(b"ok")]))
def test_wrongly_typed_arguments(value) -> None:
    a = GOOD_ASSERTION
    for index in range(4):
        args = [a.credential_id, a.client_data_json, a.authenticator_data, a.signature]
        args[index] = value
        assertion_survives_args(args, value)
    registration_survives_typed(value)


def assertion_survives_args(args, user_handle) -> None:
    try:
        verify_assertion(POLICY, CHALLENGE, STORED, *args, user_handle)
    except WebAuthnError as exc:
        assert exc.code in ERROR_CODES


def registration_survives_typed(value) -> None:
    for args in (
        (value, GOOD_REGISTRATIONS[0].attestation_object),
        (GOOD_REGISTRATIONS[0].client_data_json, value),
    ):
        try:
            verify_registration(POLICY, CHALLENGE, *args)
        except WebAuthnError as exc:
            assert exc.code in ERROR_CODES
