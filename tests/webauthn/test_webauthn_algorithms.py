"""Every signature algorithm of the emulated key, end to end through three relying parties.

The `all-algorithms` profile lists ES256, EdDSA, ES384, ES512, ES256K, RS256, PS256 and
ML-DSA-44/65/87. For each, python-fido2's Fido2Client registers (packed batch attestation)
and signs in twice over CTAPHID, and the responses are judged by this verifier, by
python-fido2's Fido2Server, and by py_webauthn where it implements the algorithm (it has no
ES384 and no ES256K). A bad-signature key must be refused for every algorithm.
"""

from __future__ import annotations

import json

import pytest
import webauthn
from cryptography.hazmat.primitives import serialization
from fido2 import cbor
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.cose import CoseKey
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)
from webauthn.helpers.structs import AttestationFormat

from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.cose_algorithms import SIGNING_ALGORITHMS
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.key import EmulatedKey
from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import (
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    authentication_options,
    new_challenge,
    registration_options,
    verify_assertion,
    verify_registration,
)

ORIGIN = "https://example.com"
RP_ID = "example.com"
PY_WEBAUTHN_ALGS = {-7, -8, -36, -37, -257, -48, -49, -50}
ALG_NAMES = {-7: "ES256", -8: "EdDSA", -35: "ES384", -36: "ES512", -47: "ES256K"}
ALG_NAMES |= {-257: "RS256", -37: "PS256", -48: "ML-DSA-44", -49: "ML-DSA-65", -50: "ML-DSA-87"}
ALGS = [pytest.param(alg, id=ALG_NAMES[alg]) for alg in SIGNING_ALGORITHMS]


def policy() -> RelyingPartyPolicy:
    trust = TrustStore.from_certificates([VendorAuthority.default().root_certificate])
    return RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification="discouraged",
        trust=trust,
        require_trusted_attestation=True,
    )


def client(key: EmulatedKey) -> Fido2Client:
    return Fido2Client(key.hid_device(), client_data_collector=DefaultClientDataCollector(ORIGIN))


def only(alg: int, options: dict) -> dict:
    options["pubKeyCredParams"] = [{"type": "public-key", "alg": alg}]
    return options


def test_the_profile_lists_every_algorithm_the_core_signs_with() -> None:
    assert get_profile("all-algorithms").algorithms == SIGNING_ALGORITHMS
    assert len(SIGNING_ALGORITHMS) == len(ALG_NAMES)
    assert get_profile("default").algorithms == (-7, -8)  # as deployed keys list them


def register(key: EmulatedKey, pol: RelyingPartyPolicy, alg: int) -> StoredCredential:
    challenge = new_challenge()
    opts = only(alg, registration_options(pol, b"user-1", "alice", challenge, []))
    made = client(key).make_credential(PublicKeyCredentialCreationOptions.from_dict(opts))
    cred = verify_registration(
        pol,
        challenge,
        bytes(made.response.client_data),
        bytes(made.response.attestation_object),
    )
    assert cred.attestation_trusted is True
    assert alg == CoseKey.parse(cbor.decode(cred.public_key)).ALGORITHM
    return StoredCredential(
        cred.credential_id, cred.public_key, cred.sign_count, cred.backup_eligible, b"user-1"
    )


def sign_in(key: EmulatedKey, pol: RelyingPartyPolicy, record: StoredCredential) -> int:
    challenge = new_challenge()
    request = authentication_options(pol, challenge, [record.credential_id])
    got = client(key).get_assertion(PublicKeyCredentialRequestOptions.from_dict(request))
    response = got.get_response(0)
    result = verify_assertion(
        pol,
        challenge,
        record,
        response.raw_id,
        bytes(response.response.client_data),
        bytes(response.response.authenticator_data),
        response.response.signature,
        response.response.user_handle,
    )
    record.sign_count = result.new_sign_count
    return result.new_sign_count


@pytest.mark.parametrize("alg", ALGS)
def test_our_verifier_registers_and_signs_in(alg: int) -> None:
    key = EmulatedKey.create(profile="all-algorithms", seed=3)
    pol = policy()
    record = register(key, pol, alg)
    first = sign_in(key, pol, record)
    assert sign_in(key, pol, record) > first


@pytest.mark.parametrize("alg", ALGS)
def test_python_fido2_server_and_py_webauthn_accept(alg: int) -> None:
    key = EmulatedKey.create(profile="all-algorithms", seed=4)
    server = Fido2Server(PublicKeyCredentialRpEntity(name="Example", id=RP_ID))
    create, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=b"user-2", name="bob"), user_verification="discouraged"
    )
    options = dict(create.public_key)
    options["pubKeyCredParams"] = [{"type": "public-key", "alg": alg}]
    fido = client(key)
    made = fido.make_credential(PublicKeyCredentialCreationOptions.from_dict(options))
    auth_data = server.register_complete(state, made)
    public_key = auth_data.credential_data.public_key
    assert alg == public_key.ALGORITHM

    request, state = server.authenticate_begin(
        [auth_data.credential_data], user_verification="discouraged"
    )
    got = fido.get_assertion(request.public_key).get_response(0)
    server.authenticate_complete(state, [auth_data.credential_data], got)

    if alg not in PY_WEBAUTHN_ALGS:
        return
    pem = key.env.attestation.root_certificate.public_bytes(serialization.Encoding.PEM)
    verified = webauthn.verify_registration_response(
        credential=json.dumps(dict(made)),
        expected_challenge=bytes(create.public_key.challenge),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        pem_root_certs_bytes_by_fmt={AttestationFormat.PACKED: [pem]},
        supported_pub_key_algs=[webauthn.helpers.cose.COSEAlgorithmIdentifier(alg)],
    )
    webauthn.verify_authentication_response(
        credential=json.dumps(dict(got)),
        expected_challenge=bytes(request.public_key.challenge),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        credential_public_key=verified.credential_public_key,
        credential_current_sign_count=verified.sign_count,
    )


@pytest.mark.parametrize("alg", ALGS)
def test_a_bad_signature_is_refused_for_every_algorithm(alg: int) -> None:
    """The same key (same seed, so the same credentials) with its signatures broken."""
    pol = policy()
    record = register(EmulatedKey.create(profile="all-algorithms", seed=5), pol, alg)
    broken = EmulatedKey.create(profile="all-algorithms", seed=5, faults="bad-signature")
    with pytest.raises(WebAuthnError, match="signature") as refused:
        sign_in(broken, pol, record)
    assert refused.value.code == "signature-invalid"
    assert sign_in(EmulatedKey.create(profile="all-algorithms", seed=5), pol, record) > 0
