"""Responses as a browser's `PublicKeyCredential.toJSON()` gives them (WebAuthn Level 3 §5.1).

python-fido2's `dict(RegistrationResponse)` holds what every server needs (clientDataJSON,
attestationObject); browsers add, for servers that skip CBOR parsing, the attestation's
authenticatorData, the credential's algorithm and SubjectPublicKeyInfo, and the transports.
A server under test may read any of them, so they are added here the way browsers do: the
public key in SubjectPublicKeyInfo form for the three algorithms WebAuthn L3 §5.2.1.1 obliges
every browser to understand (ES256, EdDSA, RS256), left out for any other, as a browser may.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fido2.utils import websafe_encode
from fido2.webauthn import AuthenticationResponse, RegistrationResponse

COSE_KTY, COSE_ALG, COSE_CRV, COSE_X, COSE_Y = 1, 3, -1, -2, -3
COSE_RSA_N, COSE_RSA_E = -1, -2
KTY_OKP, KTY_EC2, KTY_RSA = 1, 2, 3
CRV_P256, CRV_ED25519 = 1, 6
ALG_ES256, ALG_EDDSA, ALG_RS256 = -7, -8, -257


def _spki(cose: Mapping[int, Any]) -> bytes | None:
    """DER SubjectPublicKeyInfo of an ES256, EdDSA or RS256 COSE key (None for anything else)."""
    kty, crv, alg = cose.get(COSE_KTY), cose.get(COSE_CRV), cose.get(COSE_ALG)
    if alg == ALG_ES256 and kty == KTY_EC2 and crv == CRV_P256:
        x, y = (int.from_bytes(bytes(cose[c]), "big") for c in (COSE_X, COSE_Y))
        key: Any = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    elif alg == ALG_EDDSA and kty == KTY_OKP and crv == CRV_ED25519:
        key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(cose[COSE_X]))
    elif alg == ALG_RS256 and kty == KTY_RSA:
        n, e = (int.from_bytes(bytes(cose[c]), "big") for c in (COSE_RSA_N, COSE_RSA_E))
        key = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        return None
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def registration_json(response: RegistrationResponse, transports: Sequence[str]) -> dict[str, Any]:
    """RegistrationResponseJSON: python-fido2's members plus the browser's convenience ones."""
    out = dict(response)
    auth_data = response.response.attestation_object.auth_data
    body = dict(out["response"])
    body["authenticatorData"] = websafe_encode(bytes(auth_data))
    body["transports"] = list(transports)
    credential = auth_data.credential_data
    if credential is not None:
        cose = credential.public_key
        body["publicKeyAlgorithm"] = cose.get(COSE_ALG)
        spki = _spki(cose)
        if spki is not None:
            body["publicKey"] = websafe_encode(spki)
    out["response"] = body
    return out


def authentication_json(response: AuthenticationResponse) -> dict[str, Any]:
    """AuthenticationResponseJSON (python-fido2 already has every member browsers send)."""
    return dict(response)
