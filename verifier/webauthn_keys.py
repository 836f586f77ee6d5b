"""Credential public keys: COSE bytes in, a ready-to-use signature check out, parsed once.

A relying party verifies many assertions against few stored keys, so turning the stored
COSE key into a `cryptography` public key (which for P-256 includes an on-curve check) is
done once per key and cached; the per-assertion cost is then one signature verification.
Only the algorithms the relying party accepts are mapped; python-fido2's `CoseKey` is used
to read the COSE map and name its algorithm.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from fido2 import cbor
from fido2.cose import ES256, RS256, CoseKey, EdDSA

# COSE algorithm identifiers this verifier accepts (RFC 9053 / IANA COSE registry).
ALG_ES256 = ES256.ALGORITHM  # -7: ECDSA P-256 with SHA-256
ALG_EDDSA = EdDSA.ALGORITHM  # -8: Ed25519
ALG_RS256 = RS256.ALGORITHM  # -257: RSASSA-PKCS1-v1_5 with SHA-256
ALLOWED_ALGORITHMS: tuple[int, ...] = (ALG_ES256, ALG_EDDSA, ALG_RS256)

# COSE key parameters (RFC 9052 section 7, RFC 9053 sections 7.1-7.2).
_KTY, _ALG, _CRV, _X, _Y, _N, _E = 1, 3, -1, -2, -3, -1, -2
_KTY_OKP, _KTY_EC2, _KTY_RSA = 1, 2, 3
_CRV_P256, _CRV_ED25519 = 1, 6
_MIN_RSA_BITS = 2048

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()

Verify = Callable[[bytes, bytes], None]  # (signature, message); raises InvalidSignature


class CoseKeyError(ValueError):
    """The COSE key is malformed or of an algorithm we do not accept."""

    def __init__(self, message: str, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def parse_cose(public_key: bytes) -> CoseKey:
    """Decode a COSE_Key from CBOR; raise CoseKeyError on anything unexpected."""
    try:
        decoded = cbor.decode(public_key)
    except Exception:  # python-fido2's CBOR decoder raises several types
        raise CoseKeyError("public key is not valid CBOR") from None
    if not isinstance(decoded, dict):
        raise CoseKeyError("public key is not a COSE map")
    return to_cose(decoded)


def to_cose(decoded: dict[Any, Any]) -> CoseKey:  # a CBOR map: keys of any type
    alg = decoded.get(_ALG)
    if not isinstance(alg, int) or isinstance(alg, bool):
        raise CoseKeyError("COSE key has no algorithm")
    if alg not in ALLOWED_ALGORITHMS:
        raise CoseKeyError(f"COSE algorithm {alg} is not allowed", unsupported=True)
    return CoseKey.for_alg(alg)(decoded)


def _ec2_key(key: CoseKey) -> ec.EllipticCurvePublicKey:
    x, y = key.get(_X), key.get(_Y)
    if key.get(_KTY) != _KTY_EC2 or key.get(_CRV) != _CRV_P256:
        raise CoseKeyError("ES256 key is not an EC2 P-256 key", unsupported=True)
    if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == 32 and len(y) == 32):
        raise CoseKeyError("ES256 key coordinates are not 32 bytes")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def _okp_key(key: CoseKey) -> ed25519.Ed25519PublicKey:
    x = key.get(_X)
    if key.get(_KTY) != _KTY_OKP or key.get(_CRV) != _CRV_ED25519:
        raise CoseKeyError("EdDSA key is not an OKP Ed25519 key", unsupported=True)
    if not (isinstance(x, bytes) and len(x) == 32):
        raise CoseKeyError("Ed25519 key is not 32 bytes")
    return ed25519.Ed25519PublicKey.from_public_bytes(x)


def _rsa_key(key: CoseKey) -> rsa.RSAPublicKey:
    n, e = key.get(_N), key.get(_E)
    if key.get(_KTY) != _KTY_RSA or not isinstance(n, bytes) or not isinstance(e, bytes):
        raise CoseKeyError("RS256 key is not an RSA key")
    public = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
    if public.key_size < _MIN_RSA_BITS:
        raise CoseKeyError(f"RSA key of {public.key_size} bits is too short", unsupported=True)
    return public


def verifier_for(key: CoseKey) -> Verify:
    """A signature check bound to one parsed public key."""
    try:
        if key.ALGORITHM == ALG_ES256:
            ec_key = _ec2_key(key)
            return lambda sig, msg: ec_key.verify(sig, msg, _ECDSA_SHA256)
        if key.ALGORITHM == ALG_EDDSA:
            ed_key = _okp_key(key)
            return lambda sig, msg: ed_key.verify(sig, msg)
        rsa_key = _rsa_key(key)
        return lambda sig, msg: rsa_key.verify(sig, msg, _PKCS1, _SHA256)
    except CoseKeyError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise CoseKeyError("public key is not a valid point/modulus") from None


@lru_cache(maxsize=4096)
def cached_verifier(public_key: bytes) -> tuple[int, Verify]:
    """(algorithm, verify) for a stored COSE key; cached per key bytes (public data only)."""
    key = parse_cose(public_key)
    return key.ALGORITHM, verifier_for(key)
