"""android-key (our verifier; python-fido2 has none), apple (python-fido2's, plus the
credential-key check it leaves out) and tpm (python-fido2's), each cross-checked with
py_webauthn."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from webauthn import verify_registration_response
from webauthn.helpers.structs import AttestationFormat
from webauthn_factory import ORIGIN, RP_ID, Pki, pem, py_webauthn_accepts
from webauthn_formats_factory import (
    android_key_registration,
    apple_registration,
    authorization_list,
    other_key,
    tpm_registration,
)

from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import RelyingPartyPolicy, WebAuthnError, verify_registration
from tokenbench.verifier.webauthn_android import KeyDescription

CHALLENGE = b"\x42" * 32
PKI = Pki.create(vendor="Test Android/Apple Root")
POLICY = RelyingPartyPolicy(
    RP_ID,
    frozenset({ORIGIN}),
    trust=TrustStore.from_certificates([PKI.root]),
    require_trusted_attestation=True,
)


def ours(reg) -> str:
    try:
        cred = verify_registration(POLICY, CHALLENGE, reg.client_data_json, reg.attestation_object)
    except WebAuthnError as exc:
        return exc.code
    assert cred.attestation_trusted
    return "ok"


def theirs(reg, fmt: AttestationFormat) -> bool:
    return py_webauthn_accepts(
        verify_registration_response,
        credential=reg.py_webauthn_credential(),
        expected_challenge=CHALLENGE,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        pem_root_certs_bytes_by_fmt={fmt: [pem(PKI.root)]},
    )


ANDROID_CASES = {
    "valid": ({}, "ok"),
    "software-enforced-fields": (
        {"tee": authorization_list(purpose=None, origin=None), "software": authorization_list()},
        "malformed",  # only teeEnforced counts
    ),
    "wrong-challenge": ({"challenge_in_cert": b"\x00" * 32}, "malformed"),
    "all-applications": ({"tee": authorization_list(all_applications=True)}, "malformed"),
    "imported-key": ({"tee": authorization_list(origin=2)}, "malformed"),
    "no-sign-purpose": ({"tee": authorization_list(purpose=(0, 1))}, "malformed"),
    "extra-purpose": ({"tee": authorization_list(purpose=(2, 3))}, "malformed"),
    "foreign-cert-key": ({"cert_key": other_key()}, "signature-invalid"),
    "bad-signature": ({"tamper_signature": True}, "signature-invalid"),
}


def test_android_key_untrusted_root() -> None:
    reg = android_key_registration(CHALLENGE, Pki.create(vendor="Somebody Else"))
    assert ours(reg) == "untrusted-attestation"


def test_key_description_parser_rejects_garbage() -> None:
    for junk in (b"", b"\x30", b"\x30\x05\x02\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"):
        with pytest.raises((ValueError, IndexError)):
            KeyDescription.parse(junk)


APPLE_CASES = {
    "valid": ({}, "ok"),
    "wrong-nonce": ({"wrong_nonce": True}, "malformed"),
    "foreign-cert-key": ({"cert_key": other_key()}, "malformed"),
}


@given(st.binary(max_size=200))
def test_key_description_parser_random(data: bytes) -> None:
    with contextlib.suppress(ValueError, IndexError):
        KeyDescription.parse(data)


VALID_ANDROID = android_key_registration(CHALLENGE, PKI)
VALID_APPLE = apple_registration(CHALLENGE, PKI)


@given(st.sampled_from([VALID_ANDROID, VALID_APPLE]), st.integers(0, 10_000), st.integers(1, 255))
def test_mutated_android_and_apple_only_raise_webauthn_error(reg, position: int, xor: int) -> None:
    data = bytearray(reg.attestation_object)
    data[position % len(data)] ^= xor
    with contextlib.suppress(WebAuthnError):
        verify_registration(POLICY, CHALLENGE, reg.client_data_json, bytes(data))


AIK = rsa.generate_private_key(65537, 2048)
TPM_CASES = {
    "valid": ({}, "ok"),
    "signs-other-data": ({"sign_other_data": True}, "signature-invalid"),
    "pub-area-of-another-key": ({"pub_area_key": other_key()}, "signature-invalid"),
    "bad-signature": ({"tamper_signature": True}, "signature-invalid"),
    "aik-with-subject": ({"with_subject": True}, "malformed"),
}


FORMATS = {
    AttestationFormat.ANDROID_KEY: (
        lambda **kw: android_key_registration(CHALLENGE, PKI, **kw),
        ANDROID_CASES,
    ),
    AttestationFormat.APPLE: (lambda **kw: apple_registration(CHALLENGE, PKI, **kw), APPLE_CASES),
    AttestationFormat.TPM: (lambda **kw: tpm_registration(CHALLENGE, PKI, AIK, **kw), TPM_CASES),
}


@pytest.mark.parametrize(
    ("fmt", "name"), [(fmt, name) for fmt, (_, cases) in FORMATS.items() for name in cases]
)
def test_format_agrees_with_py_webauthn(fmt: AttestationFormat, name: str) -> None:
    build, cases = FORMATS[fmt]
    kwargs, expected = cases[name]
    reg = build(**kwargs)
    assert ours(reg) == expected
    assert theirs(reg, fmt) is (expected == "ok")
