"""The same inputs through py_webauthn (an independent RP library): both must agree.

Each case is a (registration or assertion) response, our policy and py_webauthn's options,
and the expected verdict. If our verifier and py_webauthn disagree with it, one of them
(usually ours) has a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fido2.cose import ES256, RS256, EdDSA
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.structs import AttestationFormat
from webauthn_factory import (
    AT,
    BS,
    ORIGIN,
    RP_ID,
    UP,
    UV,
    Pki,
    SoftKey,
    assert_,
    pem,
    py_webauthn_accepts,
    register,
)

from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import (
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    verify_assertion,
    verify_registration,
)

CHALLENGE = b"\x77" * 32
VENDOR = Pki.create()
STRANGER = Pki.create(vendor="Stranger Root CA")
ROOTS = {
    AttestationFormat.PACKED: [pem(VENDOR.root)],
    AttestationFormat.FIDO_U2F: [pem(VENDOR.root)],
}


@dataclass
class Case:
    name: str
    build: Callable[[], Any]
    accept: bool
    uv_required: bool = False
    trusted_only: bool = False


REGISTRATIONS = [
    Case("packed-self-es256", lambda: register(CHALLENGE), True),
    Case("packed-self-eddsa", lambda: register(CHALLENGE, key=SoftKey(alg=EdDSA.ALGORITHM)), True),
    Case("packed-self-rs256", lambda: register(CHALLENGE, key=SoftKey(alg=RS256.ALGORITHM)), True),
    Case("none", lambda: register(CHALLENGE, "none"), True),
    Case(
        "packed-batch", lambda: register(CHALLENGE, "packed", pki=VENDOR), True, trusted_only=True
    ),
    Case(
        "fido-u2f",
        lambda: register(CHALLENGE, "fido-u2f", pki=VENDOR, flags=UP | AT),
        True,
        trusted_only=True,
    ),
    Case("uv-present", lambda: register(CHALLENGE), True, uv_required=True),
    Case("wrong-challenge", lambda: register(b"\x78" * 32), False),
    Case("wrong-origin", lambda: register(CHALLENGE, origin="https://evil.example"), False),
    Case("wrong-type", lambda: register(CHALLENGE, type_="webauthn.get"), False),
    Case("wrong-rp-id", lambda: register(CHALLENGE, rp_id="evil.example"), False),
    Case("no-user-presence", lambda: register(CHALLENGE, flags=UV | AT), False),
    Case("uv-missing", lambda: register(CHALLENGE, flags=UP | AT), False, uv_required=True),
    Case("bad-self-sig", lambda: register(CHALLENGE, tamper_signature=True), False),
    Case(
        "bad-batch-sig",
        lambda: register(CHALLENGE, "packed", pki=VENDOR, tamper_signature=True),
        False,
    ),
    Case(
        "stranger-batch",
        lambda: register(CHALLENGE, "packed", pki=STRANGER),
        False,
        trusted_only=True,
    ),
    Case("bs-without-be", lambda: register(CHALLENGE, flags=UP | AT | BS), False),
]


def ours_register(case: Case, reg) -> bool:
    policy = RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification="required" if case.uv_required else "preferred",
        trust=TrustStore.from_certificates([VENDOR.root]),
        require_trusted_attestation=case.trusted_only,
    )
    try:
        verify_registration(policy, CHALLENGE, reg.client_data_json, reg.attestation_object)
    except WebAuthnError:
        return False
    return True


def theirs_register(case: Case, reg) -> bool:
    return py_webauthn_accepts(
        verify_registration_response,
        credential=reg.py_webauthn_credential(),
        expected_challenge=CHALLENGE,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=case.uv_required,
        pem_root_certs_bytes_by_fmt=ROOTS if case.trusted_only else None,
    )


@pytest.mark.parametrize("case", REGISTRATIONS, ids=lambda c: c.name)
def test_registration_agrees(case: Case) -> None:
    reg = case.build()
    assert (ours_register(case, reg), theirs_register(case, reg)) == (case.accept, case.accept)


KEYS = {alg: SoftKey(alg=alg) for alg in (ES256.ALGORITHM, EdDSA.ALGORITHM, RS256.ALGORITHM)}
ES = KEYS[ES256.ALGORITHM]
STORED_COUNT = 10

ASSERTIONS = [
    Case("es256", lambda: (ES, assert_(ES, CHALLENGE, counter=11)), True),
    Case("eddsa", lambda: (KEYS[-8], assert_(KEYS[-8], CHALLENGE, counter=11)), True),
    Case("rs256", lambda: (KEYS[-257], assert_(KEYS[-257], CHALLENGE, counter=11)), True),
    Case("uv-present", lambda: (ES, assert_(ES, CHALLENGE, counter=11)), True, uv_required=True),
    Case("wrong-challenge", lambda: (ES, assert_(ES, b"\x01" * 32, counter=11)), False),
    Case(
        "wrong-origin",
        lambda: (ES, assert_(ES, CHALLENGE, 11, origin="https://evil.example")),
        False,
    ),
    Case("wrong-type", lambda: (ES, assert_(ES, CHALLENGE, 11, type_="webauthn.create")), False),
    Case("wrong-rp-id", lambda: (ES, assert_(ES, CHALLENGE, 11, rp_id="evil.example")), False),
    Case("no-user-presence", lambda: (ES, assert_(ES, CHALLENGE, 11, flags=UV)), False),
    Case("uv-missing", lambda: (ES, assert_(ES, CHALLENGE, 11, flags=UP)), False, uv_required=True),
    Case("bad-signature", lambda: (ES, assert_(ES, CHALLENGE, 11, tamper_signature=True)), False),
    Case("counter-equal", lambda: (ES, assert_(ES, CHALLENGE, counter=10)), False),
    Case("counter-lower", lambda: (ES, assert_(ES, CHALLENGE, counter=3)), False),
    Case("bs-without-be", lambda: (ES, assert_(ES, CHALLENGE, 11, flags=UP | BS)), False),
]


def ours_assert(case: Case, key: SoftKey, a) -> bool:
    policy = RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification="required" if case.uv_required else "preferred",
    )
    stored = StoredCredential(key.credential_id, key.cose_bytes, STORED_COUNT, False, None)
    try:
        verify_assertion(policy, CHALLENGE, stored, *a.args())
    except WebAuthnError:
        return False
    return True


def theirs_assert(case: Case, key: SoftKey, a) -> bool:
    return py_webauthn_accepts(
        verify_authentication_response,
        credential=a.py_webauthn_credential(),
        expected_challenge=CHALLENGE,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=key.cose_bytes,
        credential_current_sign_count=STORED_COUNT,
        require_user_verification=case.uv_required,
    )


@pytest.mark.parametrize("case", ASSERTIONS, ids=lambda c: c.name)
def test_assertion_agrees(case: Case) -> None:
    key, a = case.build()
    assert (ours_assert(case, key, a), theirs_assert(case, key, a)) == (case.accept, case.accept)
