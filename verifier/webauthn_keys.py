"""Credential public keys: COSE bytes in, a ready-to-use signature check out, parsed once.

A relying party verifies many assertions against few stored keys, so turning the stored
COSE key into a `cryptography` public key (which for P-256 includes an on-curve check) is
done once per key and cached; the per-assertion cost is then one signature verification.
Only the algorithms the relying party accepts are mapped; python-fido2's `CoseKey` is used
to read the COSE map and name its algorithm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from fido2 import cbor
from fido2.cose import (
    ES256,
    ES256K,
    ES384,
    ES512,
    MLDSA44,
    MLDSA65,
    MLDSA87,
    PS256,
    RS256,
    CoseKey,
    EdDSA,
)

# COSE algorithm identifiers this verifier accepts (IANA COSE registry), in the order the
# registration options offer them: the ones every authenticator has first, then the rest.
ALG_ES256 = ES256.ALGORITHM  # -7: ECDSA P-256 with SHA-256
ALG_EDDSA = EdDSA.ALGORITHM  # -8: Ed25519
ALG_RS256 = RS256.ALGORITHM  # -257: RSASSA-PKCS1-v1_5 with SHA-256
ALLOWED_ALGORITHMS: tuple[int, ...] = (
    ALG_ES256,
    ALG_EDDSA,
    ALG_RS256,
    ES384.ALGORITHM,
    ES512.ALGORITHM,
    ES256K.ALGORITHM,
    PS256.ALGORITHM,
    MLDSA44.ALGORITHM,
    MLDSA65.ALGORITHM,
    MLDSA87.ALGORITHM,
)

# COSE key parameters (RFC 9052 section 7, RFC 9053 sections 7.1-7.2, RFC 8230 section 4,
# draft-ietf-cose-dilithium: kty AKP with the raw public key in -1).
_KTY, _ALG, _CRV, _X, _Y, _N, _E, _PUB = 1, 3, -1, -2, -3, -1, -2, -1
_KTY_OKP, _KTY_EC2, _KTY_RSA, _KTY_AKP = 1, 2, 3, 7
_CRV_ED25519 = 6
_MIN_RSA_BITS = 2048

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


@dataclass(frozen=True)
class _EcAlgorithm:
    """An ECDSA algorithm: its COSE curve, the curve, and the hash it signs over."""

    crv: int
    curve: ec.EllipticCurve
    hash: hashes.HashAlgorithm

    @property
    def coordinate_length(self) -> int:
        return (self.curve.key_size + 7) // 8


# RFC 9053 section 7.1 (P-256 1, P-384 2, P-521 3) and RFC 8812 section 3.1 (secp256k1 8).
_EC_ALGORITHMS = {
    ALG_ES256: _EcAlgorithm(1, ec.SECP256R1(), hashes.SHA256()),
    ES384.ALGORITHM: _EcAlgorithm(2, ec.SECP384R1(), hashes.SHA384()),
    ES512.ALGORITHM: _EcAlgorithm(3, ec.SECP521R1(), hashes.SHA512()),
    ES256K.ALGORITHM: _EcAlgorithm(8, ec.SECP256K1(), hashes.SHA256()),
}

_RSA_PADDING: dict[int, padding.AsymmetricPadding] = {
    ALG_RS256: padding.PKCS1v15(),
    # RFC 8230 section 2: MGF1 with SHA-256, salt as long as the hash.
    PS256.ALGORITHM: padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=padding.PSS.DIGEST_LENGTH),
}


# FIPS 204 Table 2: public key sizes.
class _SignatureKey(Protocol):
    def verify(self, signature: bytes, data: bytes) -> None: ...


_MLDSA_KEYS: dict[int, tuple[Callable[[bytes], _SignatureKey], int]] = {
    MLDSA44.ALGORITHM: (mldsa.MLDSA44PublicKey.from_public_bytes, 1312),
    MLDSA65.ALGORITHM: (mldsa.MLDSA65PublicKey.from_public_bytes, 1952),
    MLDSA87.ALGORITHM: (mldsa.MLDSA87PublicKey.from_public_bytes, 2592),
}


def _ec_verifier(key: CoseKey, spec: _EcAlgorithm) -> Verify:
    x, y = key.get(_X), key.get(_Y)
    if key.get(_KTY) != _KTY_EC2 or key.get(_CRV) != spec.crv:
        raise CoseKeyError(
            f"{spec.curve.name} key is not an EC2 key on its curve", unsupported=True
        )
    size = spec.coordinate_length
    if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == size == len(y)):
        raise CoseKeyError(f"{spec.curve.name} key coordinates are not {size} bytes")
    public = ec.EllipticCurvePublicKey.from_encoded_point(spec.curve, b"\x04" + x + y)
    ecdsa = ec.ECDSA(spec.hash)
    return lambda sig, msg: public.verify(sig, msg, ecdsa)


def _eddsa_verifier(key: CoseKey) -> Verify:
    x = key.get(_X)
    if key.get(_KTY) != _KTY_OKP or key.get(_CRV) != _CRV_ED25519:
        raise CoseKeyError("EdDSA key is not an OKP Ed25519 key", unsupported=True)
    if not (isinstance(x, bytes) and len(x) == 32):
        raise CoseKeyError("Ed25519 key is not 32 bytes")
    public = ed25519.Ed25519PublicKey.from_public_bytes(x)
    return lambda sig, msg: public.verify(sig, msg)


def _rsa_verifier(key: CoseKey, pad: padding.AsymmetricPadding) -> Verify:
    n, e = key.get(_N), key.get(_E)
    if key.get(_KTY) != _KTY_RSA or not isinstance(n, bytes) or not isinstance(e, bytes):
        raise CoseKeyError("RSA algorithm with a key that is not an RSA key")
    public = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
    if public.key_size < _MIN_RSA_BITS:
        raise CoseKeyError(f"RSA key of {public.key_size} bits is too short", unsupported=True)
    return lambda sig, msg: public.verify(sig, msg, pad, _SHA256)


def _mldsa_verifier(key: CoseKey) -> Verify:
    load, size = _MLDSA_KEYS[key.ALGORITHM]
    raw = key.get(_PUB)
    if key.get(_KTY) != _KTY_AKP:
        raise CoseKeyError("ML-DSA key is not an AKP key", unsupported=True)
    if not (isinstance(raw, bytes) and len(raw) == size):
        raise CoseKeyError(f"ML-DSA public key is not {size} bytes")
    public = load(raw)
    return lambda sig, msg: public.verify(sig, msg)


def verifier_for(key: CoseKey) -> Verify:
    """A signature check bound to one parsed public key."""
    alg = key.ALGORITHM
    try:
        if alg in _EC_ALGORITHMS:
            return _ec_verifier(key, _EC_ALGORITHMS[alg])
        if alg == ALG_EDDSA:
            return _eddsa_verifier(key)
        if alg in _RSA_PADDING:
            return _rsa_verifier(key, _RSA_PADDING[alg])
        return _mldsa_verifier(key)
    except CoseKeyError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise CoseKeyError("public key is not a valid point/modulus") from None


@lru_cache(maxsize=4096)
def cached_verifier(public_key: bytes) -> tuple[int, Verify]:
    """(algorithm, verify) for a stored COSE key; cached per key bytes (public data only)."""
    key = parse_cose(public_key)
    return key.ALGORITHM, verifier_for(key)
