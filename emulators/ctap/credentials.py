"""Credential keys and credential IDs.

Every credential ID (resident, non-resident and U2F key handle alike) is an AES-256-GCM
encryption, under a key derived from the key's master secret, of a 32-byte key seed plus the
few facts the key needs to use it (algorithm, credProtect level, flags, credBlob), with the
RP ID hash as associated data. So a non-resident credential needs no storage, an ID from
another key or for another RP does not decrypt (treated as "not found"), and the private key
is never stored anywhere: it is derived from the seed when needed.

Layout: version(1) || nonce(12) || GCM(alg(1) || credProtect(1) || flags(1) || seed(32) ||
credBlob(0..32)) || tag(16).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import CoseAlg
from tokenbench.emulators.ctap.cose_algorithms import ALGS_BY_ID_CODE, ID_CODES, derive_key
from tokenbench.emulators.ctap.randomness import Rng

CRED_ID_VERSION = 0x01
NONCE_LEN = 12
SEED_LEN = 32
TAG_LEN = 16
HEADER_LEN = 3
MIN_CRED_ID_LEN = 1 + NONCE_LEN + HEADER_LEN + SEED_LEN + TAG_LEN
MAX_CRED_BLOB = 32
MAX_CRED_ID_LEN = MIN_CRED_ID_LEN + MAX_CRED_BLOB

FLAG_RESIDENT = 0x01
FLAG_HMAC_SECRET = 0x02
FLAG_CRED_BLOB = 0x04
FLAG_THIRD_PARTY_PAYMENT = 0x08


def hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode("utf-8")).digest()


def counter_key(cred_id: bytes) -> str:
    """The name under which a credential's signature counter is stored."""
    return hashlib.sha256(cred_id).hexdigest()[:24]


@dataclass(frozen=True)
class CredentialSecret:
    """What a credential ID carries inside its encryption."""

    alg: int
    seed: bytes
    cred_protect: int = 1
    resident: bool = False
    hmac_secret: bool = False
    cred_blob: bytes | None = None
    third_party_payment: bool = False
    """Made with CTAP 2.2's thirdPartyPayment: the RP may let others use it for payments."""


class CredentialKey:
    """A credential's key pair, derived deterministically from its seed."""

    def __init__(self, alg: int, seed: bytes) -> None:
        self.alg = alg
        self._derived = derive_key(alg, seed)

    def sign(self, data: bytes) -> bytes:
        return self._derived.sign(data)

    def cose_public_key(self) -> dict[int, CborType]:
        return dict(self._derived.cose)

    def raw_p256_public(self) -> bytes:
        """Uncompressed SEC1 point (U2F registration uses it)."""
        if self._derived.p256_point is None:
            raise ValueError("U2F needs a P-256 credential")
        return self._derived.p256_point


def cred_random(seed: bytes, with_uv: bool) -> bytes:
    """hmac-secret's CredRandom: one value used with UV, another without (CTAP 2.1 §12.5)."""
    return hkdf(seed, b"tokenbench credRandom " + (b"uv" if with_uv else b"no-uv"))


class CredentialWrapper:
    """Makes and opens credential IDs under one key's master secret."""

    CACHE_SIZE = 512

    def __init__(self, master_secret: bytes, rng: Rng) -> None:
        self._aead = AESGCM(hkdf(master_secret, b"tokenbench credential wrap v1"))
        self._rng = rng
        self._keys: OrderedDict[bytes, CredentialKey] = OrderedDict()

    def wrap(self, rp_hash: bytes, secret: CredentialSecret) -> bytes:
        flags = (
            (FLAG_RESIDENT if secret.resident else 0)
            | (FLAG_HMAC_SECRET if secret.hmac_secret else 0)
            | (FLAG_CRED_BLOB if secret.cred_blob is not None else 0)
            | (FLAG_THIRD_PARTY_PAYMENT if secret.third_party_payment else 0)
        )
        plain = (
            bytes([ID_CODES[CoseAlg(secret.alg)], secret.cred_protect, flags])
            + secret.seed
            + (secret.cred_blob or b"")
        )
        nonce = self._rng(NONCE_LEN)
        return bytes([CRED_ID_VERSION]) + nonce + self._aead.encrypt(nonce, plain, rp_hash)

    def unwrap(self, rp_hash: bytes, cred_id: bytes) -> CredentialSecret | None:
        """The secret inside `cred_id`, or None if it is not one of ours for this RP."""
        if (
            not isinstance(cred_id, bytes)
            or not MIN_CRED_ID_LEN <= len(cred_id) <= MAX_CRED_ID_LEN
            or cred_id[0] != CRED_ID_VERSION
        ):
            return None
        nonce, body = cred_id[1 : 1 + NONCE_LEN], cred_id[1 + NONCE_LEN :]
        try:
            plain = self._aead.decrypt(nonce, body, rp_hash)
        except InvalidTag:
            return None
        alg_code, protect, flags = plain[0], plain[1], plain[2]
        if alg_code not in ALGS_BY_ID_CODE or not 1 <= protect <= 3:
            return None
        seed = plain[HEADER_LEN : HEADER_LEN + SEED_LEN]
        blob = plain[HEADER_LEN + SEED_LEN :]
        return CredentialSecret(
            alg=int(ALGS_BY_ID_CODE[alg_code]),
            seed=seed,
            cred_protect=protect,
            resident=bool(flags & FLAG_RESIDENT),
            hmac_secret=bool(flags & FLAG_HMAC_SECRET),
            cred_blob=blob if flags & FLAG_CRED_BLOB else None,
            third_party_payment=bool(flags & FLAG_THIRD_PARTY_PAYMENT),
        )

    def key(self, cred_id: bytes, secret: CredentialSecret) -> CredentialKey:
        """The key pair for a credential, cached: deriving costs a multiply (EC), a key
        expansion (ML-DSA) or a prime search (RSA, ~0.1 s)."""
        cached = self._keys.get(cred_id)
        if cached is not None:
            self._keys.move_to_end(cred_id)
            return cached
        key = CredentialKey(secret.alg, secret.seed)
        self._keys[cred_id] = key
        if len(self._keys) > self.CACHE_SIZE:
            self._keys.popitem(last=False)
        return key

    def new_secret(
        self,
        alg: int,
        *,
        cred_protect: int = 1,
        resident: bool = False,
        hmac_secret: bool = False,
        cred_blob: bytes | None = None,
        third_party_payment: bool = False,
    ) -> CredentialSecret:
        """A fresh credential secret with a random seed."""
        return CredentialSecret(
            alg=alg,
            seed=self._rng(SEED_LEN),
            cred_protect=cred_protect,
            resident=resident,
            hmac_secret=hmac_secret,
            cred_blob=cred_blob,
            third_party_payment=third_party_payment,
        )
