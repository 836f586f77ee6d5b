"""The signature algorithms a credential can have, one entry per COSE algorithm.

A credential's private key is never stored: it is derived from the 32-byte seed sealed in its
credential ID (see credentials.py). So every algorithm here is a deterministic function from
that seed to a key pair, plus the signing rule WebAuthn's verification of that algorithm
expects (RFC 9053, RFC 8230, RFC 8812, and FIPS 204 for ML-DSA). Public keys are encoded as
COSE through python-fido2's key classes, the encoding every client and relying party reads.

RSA needs primes, and a seed gives them the way FIPS 186-5 A.1.3 does with a DRBG: candidates
from a SHAKE-256 stream, probable-prime tests, the first two that pass. It costs ~0.1 s, once
per credential (the wrapper caches derived keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import gcd, lcm, prod
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2.cbor import CborType
from fido2.cose import CoseKey

from tokenbench.emulators.ctap.constants import CoseAlg

Sign = Callable[[bytes], bytes]


@dataclass(frozen=True)
class DerivedKey:
    """A credential's key pair as the core uses it: a signing function and the COSE key."""

    sign: Sign
    cose: dict[int, CborType]
    p256_point: bytes | None = None
    """The uncompressed SEC1 point, for ES256 only (U2F registration carries it raw)."""


def _hkdf(seed: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(seed)


def _cose(alg: CoseAlg, public: PublicKeyTypes) -> dict[int, CborType]:
    return dict(CoseKey.for_alg(int(alg)).from_cryptography_key(public))


# ---- elliptic curves ----------------------------------------------------------------------

# Group orders (SEC 2 v2 §2.4.1, §2.4.2; FIPS 186-5 / SP 800-186 §3.2.1): a scalar is
# reduced into [1, n - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    16,
)
P521_ORDER = int(
    "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F7"
    "09A5D03BB5C9B8899C47AEBB6FB71E91386409",
    16,
)
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class _Curve:
    curve: ec.EllipticCurve
    order: int
    hash: hashes.HashAlgorithm
    label: bytes


def _ec_key(alg: CoseAlg, seed: bytes) -> DerivedKey:
    spec = _CURVES[alg]
    # 8 bytes over the order's length make the modular bias negligible (FIPS 186-5 A.2.1).
    extra = _hkdf(seed, spec.label, (spec.order.bit_length() + 7) // 8 + 8)
    private = ec.derive_private_key(int.from_bytes(extra, "big") % (spec.order - 1) + 1, spec.curve)
    ecdsa = ec.ECDSA(spec.hash)
    public = private.public_key()
    point = None
    if alg == CoseAlg.ES256:
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return DerivedKey(lambda data: private.sign(data, ecdsa), _cose(alg, public), point)


_CURVES = {
    CoseAlg.ES256: _Curve(ec.SECP256R1(), P256_ORDER, hashes.SHA256(), b"tokenbench p256 key"),
    CoseAlg.ES384: _Curve(ec.SECP384R1(), P384_ORDER, hashes.SHA384(), b"tokenbench p384 key"),
    CoseAlg.ES512: _Curve(ec.SECP521R1(), P521_ORDER, hashes.SHA512(), b"tokenbench p521 key"),
    CoseAlg.ES256K: _Curve(
        ec.SECP256K1(), SECP256K1_ORDER, hashes.SHA256(), b"tokenbench secp256k1 key"
    ),
}


def _ed25519_key(alg: CoseAlg, seed: bytes) -> DerivedKey:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(
        _hkdf(seed, b"tokenbench ed25519 key", 32)
    )
    return DerivedKey(private.sign, _cose(alg, private.public_key()))


# ---- ML-DSA (FIPS 204) --------------------------------------------------------------------


class _MlDsaPrivateKey(Protocol):
    def sign(self, data: bytes) -> bytes: ...
    def public_key(self) -> PublicKeyTypes: ...


_MLDSA: dict[CoseAlg, Callable[[bytes], _MlDsaPrivateKey]] = {
    CoseAlg.MLDSA44: mldsa.MLDSA44PrivateKey.from_seed_bytes,
    CoseAlg.MLDSA65: mldsa.MLDSA65PrivateKey.from_seed_bytes,
    CoseAlg.MLDSA87: mldsa.MLDSA87PrivateKey.from_seed_bytes,
}


def _mldsa_key(alg: CoseAlg, seed: bytes) -> DerivedKey:
    # FIPS 204 keys come from a 32-byte seed xi; ours is derived per parameter set.
    xi = _hkdf(seed, b"tokenbench " + alg.name.lower().encode() + b" key", 32)
    private = _MLDSA[alg](xi)
    # Pure ML-DSA with an empty context string, as COSE's ML-DSA (draft-ietf-cose-dilithium)
    # and python-fido2's verifier use it.
    return DerivedKey(private.sign, _cose(alg, private.public_key()))


# ---- RSA ----------------------------------------------------------------------------------

RSA_BITS = 2048
RSA_EXPONENT = 65537
_SMALL_PRIMES_PRODUCT = prod(
    p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))
)
_MILLER_RABIN_ROUNDS = 5  # FIPS 186-5 Table B.1: 1024-bit random candidates, error < 2^-100


def _stream(seed: bytes, label: bytes, size: int) -> Iterator[bytes]:
    counter = 0
    while True:
        yield hashlib.shake_256(seed + label + counter.to_bytes(4, "big")).digest(size)
        counter += 1


def _probable_prime(candidate: int, witnesses: Iterator[bytes]) -> bool:
    if gcd(candidate, _SMALL_PRIMES_PRODUCT) != 1:  # one bignum gcd sieves most candidates
        return False
    d, s = candidate - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(_MILLER_RABIN_ROUNDS):
        a = int.from_bytes(next(witnesses), "big") % (candidate - 3) + 2
        x = pow(a, d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def _rsa_prime(seed: bytes, label: bytes) -> int:
    size = RSA_BITS // 16
    top_bits = 0b11 << (RSA_BITS // 2 - 2)  # so that p * q has exactly RSA_BITS bits
    witnesses = _stream(seed, label + b" witness", size)
    for block in _stream(seed, label, size):
        candidate = int.from_bytes(block, "big") | top_bits | 1
        if gcd(candidate - 1, RSA_EXPONENT) == 1 and _probable_prime(candidate, witnesses):
            return candidate
    raise AssertionError("unreachable: the stream is endless")


def _rsa_private(seed: bytes) -> rsa.RSAPrivateKey:
    p = _rsa_prime(seed, b"tokenbench rsa p")
    q = _rsa_prime(seed, b"tokenbench rsa q")
    if p == q:  # probability ~2^-1000; a distinct stream keeps the function total
        q = _rsa_prime(seed, b"tokenbench rsa q again")
    d = pow(RSA_EXPONENT, -1, lcm(p - 1, q - 1))
    return rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(RSA_EXPONENT, p * q),
    ).private_key()


_SHA256 = hashes.SHA256()
_RSA_PADDING: dict[CoseAlg, padding.AsymmetricPadding] = {
    CoseAlg.RS256: padding.PKCS1v15(),
    # RFC 8230 §2: PS256 uses MGF1 with SHA-256 and a salt as long as the hash.
    CoseAlg.PS256: padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32),
}


def _rsa_key(alg: CoseAlg, seed: bytes) -> DerivedKey:
    private = _rsa_private(seed)
    pad = _RSA_PADDING[alg]
    public = _cose(alg, private.public_key())
    return DerivedKey(lambda data: private.sign(data, pad, _SHA256), public)


# ---- the table ----------------------------------------------------------------------------


_FAMILIES: dict[CoseAlg, Callable[[CoseAlg, bytes], DerivedKey]] = {
    CoseAlg.EDDSA: _ed25519_key,
    **dict.fromkeys(_CURVES, _ec_key),
    **dict.fromkeys(_MLDSA, _mldsa_key),
    **dict.fromkeys(_RSA_PADDING, _rsa_key),
}

ID_CODES: dict[CoseAlg, int] = {
    CoseAlg.ES256: 1,
    CoseAlg.EDDSA: 2,
    CoseAlg.ES384: 3,
    CoseAlg.ES512: 4,
    CoseAlg.ES256K: 5,
    CoseAlg.RS256: 6,
    CoseAlg.PS256: 7,
    CoseAlg.MLDSA44: 8,
    CoseAlg.MLDSA65: 9,
    CoseAlg.MLDSA87: 10,
}
"""The algorithm's byte inside credential IDs; never renumber (IDs already issued carry it)."""
ALGS_BY_ID_CODE: dict[int, CoseAlg] = {code: alg for alg, code in ID_CODES.items()}
SIGNING_ALGORITHMS: tuple[int, ...] = tuple(int(alg) for alg in ID_CODES)


def derive_key(alg: int, seed: bytes) -> DerivedKey:
    """The key pair of algorithm `alg` for a credential seed; ValueError for an unknown alg."""
    try:
        family = _FAMILIES[CoseAlg(alg)]
    except (KeyError, ValueError):
        raise ValueError(f"unsupported algorithm {alg}") from None
    return family(CoseAlg(alg), seed)
