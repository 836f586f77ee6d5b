"""The browser's convenience `publicKey` (SubjectPublicKeyInfo) in a registration response.

WebAuthn L3 §5.2.1.1: `getPublicKey()` must work for ES256, EdDSA and RS256; for any other
algorithm a browser may answer null, so the member is left out. The SPKI given must be the
credential's own key: the same one the COSE key in the attestation object carries.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fido2.cose import CoseKey
from fido2.utils import websafe_decode
from fido2.webauthn import AttestationObject

from tokenbench.bench.webauthn import SoftwareAuthenticator

ORIGIN = "https://example.com"


def options(alg: int) -> str:
    return json.dumps(
        {
            "rp": {"id": "example.com", "name": "Example"},
            "user": {"id": "dXNlcg", "name": "user", "displayName": "User"},
            "challenge": "AAAAAAAAAAAAAAAAAAAAAA",
            "pubKeyCredParams": [{"type": "public-key", "alg": alg}],
        }
    )


@pytest.mark.parametrize("alg", [-7, -8, -257, -35, -49], ids=str)
def test_public_key_is_the_credentials_own_where_browsers_must_give_it(alg: int) -> None:
    response = SoftwareAuthenticator(ORIGIN, target="emu:profile=all-algorithms").create(
        options(alg)
    )
    body = response["response"]
    assert body["publicKeyAlgorithm"] == alg
    attestation = AttestationObject(websafe_decode(body["attestationObject"]))
    cose = attestation.auth_data.credential_data.public_key
    if alg not in (-7, -8, -257):
        assert "publicKey" not in body
        return
    spki = load_der_public_key(websafe_decode(body["publicKey"]))
    assert CoseKey.for_alg(alg).from_cryptography_key(spki) == cose
