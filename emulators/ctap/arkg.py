"""ARKG-P256, the authenticator's half (draft-bradleylundberg-cfrg-arkg, the instance
python-fido2 2.2.1 derives public keys with).

A relying party holding the seed public key (pk_bl, pk_kem) derives, without the key, any
number of public keys and a key handle for each; the key, given a key handle, derives the
matching private key: it decapsulates the KEM ciphertext (checking its 128-bit HMAC tag, so a
forged or mistyped handle is refused rather than signed with), turns the shared secret into the
blinding factor tau, and adds tau to sk_bl. That is ARKG-Derive-Secret-Key; python-fido2 has
only the public side, so this module is the independent other half.

Parameters: BL is EC addition on secp256r1 with hash_to_field of P256_XMD:SHA-256_SSWU_RO_
(RFC 9380 §5, L = 48), DST_ext "ARKG-P256"; the KEM is ECDH on secp256r1 wrapped in HMAC-SHA-256
(DST_ext "ARKG-ECDH.ARKG-P256").
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tokenbench.emulators.ctap.cose_algorithms import P256_ORDER

CURVE = ec.SECP256R1()
BL_DST_EXT = b"ARKG-P256"
KEM_DST_EXT = b"ARKG-ECDH.ARKG-P256"
MAX_CTX_LEN = 64
TAG_LEN = 16
POINT_LEN = 65  # an uncompressed SEC1 P-256 point
KEY_HANDLE_LEN = TAG_LEN + POINT_LEN
FIELD_L = 48  # RFC 9380 §8.2: L for P256_XMD:SHA-256_SSWU_RO_
_SHA256_BLOCK = 64
_SHA256_LEN = 32


class ArkgError(ValueError):
    """The key handle or context cannot give a private key (the RP's arguments are wrong)."""


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-256."""
    blocks = -(-length // _SHA256_LEN)
    if blocks > 255 or length > 0xFFFF or len(dst) > 255:
        raise ArkgError("expand_message_xmd: output or DST too long")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(
        bytes(_SHA256_BLOCK) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    ).digest()
    out, previous = b"", bytes(_SHA256_LEN)
    for i in range(1, blocks + 1):
        chained = bytes(x ^ y for x, y in zip(b0, previous, strict=True))
        previous = hashlib.sha256(chained + bytes([i]) + dst_prime).digest()
        out += previous
    return out[:length]


def hash_to_scalar(msg: bytes, dst: bytes) -> int:
    """hash_to_field(msg, 1) over GF(n), n the P-256 group order (RFC 9380 §5.2, m = 1)."""
    return int.from_bytes(expand_message_xmd(msg, dst, FIELD_L), "big") % P256_ORDER


def _hkdf(ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(ikm)


def _contexts(ctx: bytes) -> tuple[bytes, bytes]:
    """(ctx_bl, ctx_kem) of ARKG-Derive-Secret-Key."""
    if len(ctx) > MAX_CTX_LEN:
        raise ArkgError("ARKG context longer than 64 bytes")
    prefixed = bytes([len(ctx)]) + ctx
    return b"ARKG-Derive-Key-BL." + prefixed, b"ARKG-Derive-Key-KEM." + prefixed


def _kem_decaps(sk_kem: ec.EllipticCurvePrivateKey, kh: bytes, ctx_kem: bytes) -> bytes:
    """KEM-Decaps of the HMAC-wrapped ECDH KEM: the shared secret, once the tag verifies."""
    if len(kh) != KEY_HANDLE_LEN:
        raise ArkgError("ARKG key handle has the wrong length")
    tag, point = kh[:TAG_LEN], kh[TAG_LEN:]
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
    except ValueError:
        raise ArkgError("ARKG key handle holds no P-256 point") from None
    # Sub-Kem-Decaps: ECDH's x-coordinate; its ctx (ctx_sub) does not enter ECDH.
    shared = sk_kem.exchange(ec.ECDH(), ephemeral)
    mac_key = _hkdf(shared, b"ARKG-KEM-HMAC-mac." + KEM_DST_EXT + ctx_kem, _SHA256_LEN)
    expected = hmac.new(mac_key, point, hashlib.sha256).digest()[:TAG_LEN]
    if not hmac.compare_digest(tag, expected):
        raise ArkgError("ARKG key handle tag does not verify")
    return _hkdf(shared, b"ARKG-KEM-HMAC-shared." + KEM_DST_EXT + ctx_kem, len(shared))


@dataclass(frozen=True)
class ArkgSeed:
    """An ARKG-P256 seed key pair: the blinding and the KEM private scalars."""

    sk_bl: ec.EllipticCurvePrivateKey
    sk_kem: ec.EllipticCurvePrivateKey

    @classmethod
    def from_scalars(cls, bl: int, kem: int) -> ArkgSeed:
        return cls(ec.derive_private_key(bl, CURVE), ec.derive_private_key(kem, CURVE))

    def derive_private_key(self, kh: bytes, ctx: bytes) -> ec.EllipticCurvePrivateKey:
        """ARKG-Derive-Secret-Key: sk' = sk_bl + tau (mod n); ArkgError for a bad handle."""
        ctx_bl, ctx_kem = _contexts(ctx)
        ikm_tau = _kem_decaps(self.sk_kem, kh, ctx_kem)
        tau = hash_to_scalar(ikm_tau, b"ARKG-BL-EC." + BL_DST_EXT + ctx_bl)
        scalar = (self.sk_bl.private_numbers().private_value + tau) % P256_ORDER
        if scalar == 0:  # probability 2^-256; a zero key would sign with the identity
            raise ArkgError("ARKG derived a zero private key")
        return ec.derive_private_key(scalar, CURVE)
