"""The authenticator side of PIN/UV auth protocols one and two (CTAP 2.1 §6.5.6, §6.5.7).

Both protocols agree a shared secret with the platform by ECDH on P-256; they differ in how
the secret becomes keys and how messages are encrypted and authenticated:

- protocol one: secret = SHA-256(Z); AES-256-CBC with an all-zero IV; HMAC-SHA-256 cut to
  16 bytes;
- protocol two: secret = HKDF(Z, "CTAP2 HMAC key") || HKDF(Z, "CTAP2 AES key"); AES-256-CBC
  with a random IV sent in front of the ciphertext; the full 32-byte HMAC-SHA-256.

Key pairs and IVs come from the injected `rng`, so a seeded emulator is reproducible. The
private key lives only in memory: `regenerate()` is called on power-up, on reset and after
a wrong PIN, as the spec requires.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import ClassVar, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.randomness import Rng

# COSE_Key labels and values of the key-agreement key (RFC 9053, CTAP 2.1 §6.5.6)
COSE_KTY = 1
COSE_ALG = 3
COSE_EC2_CRV = -1
COSE_EC2_X = -2
COSE_EC2_Y = -3
COSE_KTY_EC2 = 2
COSE_CRV_P256 = 1
COSE_ALG_ECDH_ES_HKDF_256 = -25
"""Announced in getPublicKey "although this is NOT the algorithm actually used" (§6.5.6)."""

P256_COORDINATE_LENGTH = 32
AES_BLOCK = 16
ZERO_IV = b"\x00" * AES_BLOCK
V1_MAC_LENGTH = 16
V2_HKDF_SALT = b"\x00" * 32
V2_HKDF_INFO_HMAC = b"CTAP2 HMAC key"
V2_HKDF_INFO_AES = b"CTAP2 AES key"
V2_KEY_LENGTH = 32


class PinUvAuthProtocol(Protocol):
    """What the client PIN machinery and hmac-secret need from a PIN/UV auth protocol."""

    version: int

    def key_agreement_cose(self) -> dict[int, CborType]: ...
    def decapsulate(self, peer_cose: object) -> bytes: ...
    def encrypt(self, shared: bytes, plaintext: bytes) -> bytes: ...
    def decrypt(self, shared: bytes, ciphertext: bytes) -> bytes: ...
    def authenticate(self, key: bytes, message: bytes) -> bytes: ...
    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool: ...
    def regenerate(self) -> None: ...


def _private_key_from(rng: Rng) -> ec.EllipticCurvePrivateKey:
    """A P-256 key whose scalar comes from `rng` (reproducible under a seeded rng).

    Reducing 48 random bytes modulo n-1 keeps the bias negligible (< 2^-128).
    """
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(rng(48), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def parse_peer_key(peer_cose: object) -> ec.EllipticCurvePublicKey:
    """The platform's key-agreement key, or CtapError(INVALID_PARAMETER) if it is not a P-256
    point in the COSE_Key form getPublicKey uses."""
    if not isinstance(peer_cose, Mapping):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "keyAgreement is not a COSE_Key map")
    if peer_cose.get(COSE_KTY) != COSE_KTY_EC2 or peer_cose.get(COSE_EC2_CRV) != COSE_CRV_P256:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "keyAgreement is not an EC2 P-256 key")
    if COSE_ALG in peer_cose and peer_cose[COSE_ALG] != COSE_ALG_ECDH_ES_HKDF_256:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "keyAgreement has a foreign alg")
    x, y = _coordinate(peer_cose, COSE_EC2_X), _coordinate(peer_cose, COSE_EC2_Y)
    try:
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        return numbers.public_key()
    except ValueError:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "keyAgreement not on P-256") from None


def _coordinate(peer_cose: Mapping[object, object], label: int) -> bytes:
    value = peer_cose.get(label)
    if not isinstance(value, bytes) or len(value) != P256_COORDINATE_LENGTH:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "keyAgreement coordinate malformed")
    return value


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class PinProtocolOne:
    """PIN/UV auth protocol one (§6.5.6)."""

    version: ClassVar[int] = 1

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self._key = _private_key_from(rng)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(version={self.version})"

    def regenerate(self) -> None:
        """A fresh key-agreement key pair; secrets agreed with the old key stop working."""
        self._key = _private_key_from(self._rng)

    def key_agreement_cose(self) -> dict[int, CborType]:
        numbers = self._key.public_key().public_numbers()
        return {
            COSE_KTY: COSE_KTY_EC2,
            COSE_ALG: COSE_ALG_ECDH_ES_HKDF_256,
            COSE_EC2_CRV: COSE_CRV_P256,
            COSE_EC2_X: numbers.x.to_bytes(P256_COORDINATE_LENGTH, "big"),
            COSE_EC2_Y: numbers.y.to_bytes(P256_COORDINATE_LENGTH, "big"),
        }

    def decapsulate(self, peer_cose: object) -> bytes:
        z = self._key.exchange(ec.ECDH(), parse_peer_key(peer_cose))
        return self.kdf(z)

    def kdf(self, z: bytes) -> bytes:
        return hashlib.sha256(z).digest()

    def encrypt(self, shared: bytes, plaintext: bytes) -> bytes:
        _require_blocks(plaintext)
        return _aes_cbc(shared, ZERO_IV, plaintext, encrypt=True)

    def decrypt(self, shared: bytes, ciphertext: bytes) -> bytes:
        _require_blocks(ciphertext)
        return _aes_cbc(shared, ZERO_IV, ciphertext, encrypt=False)

    def authenticate(self, key: bytes, message: bytes) -> bytes:
        return _hmac_sha256(key, message)[:V1_MAC_LENGTH]

    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.authenticate(key, message), bytes(signature))


class PinProtocolTwo(PinProtocolOne):
    """PIN/UV auth protocol two (§6.5.7): HKDF-separated keys, random IVs, full MACs."""

    version: ClassVar[int] = 2

    def kdf(self, z: bytes) -> bytes:
        return _hkdf(z, V2_HKDF_INFO_HMAC) + _hkdf(z, V2_HKDF_INFO_AES)

    def encrypt(self, shared: bytes, plaintext: bytes) -> bytes:
        _require_blocks(plaintext)
        iv = self._rng(AES_BLOCK)
        return iv + _aes_cbc(_aes_key(shared), iv, plaintext, encrypt=True)

    def decrypt(self, shared: bytes, ciphertext: bytes) -> bytes:
        if len(ciphertext) < AES_BLOCK:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "ciphertext shorter than its IV")
        iv, body = ciphertext[:AES_BLOCK], ciphertext[AES_BLOCK:]
        _require_blocks(body)
        return _aes_cbc(_aes_key(shared), iv, body, encrypt=False)

    def authenticate(self, key: bytes, message: bytes) -> bytes:
        # With a 64-byte shared secret only its HMAC half is used; a token is 32 bytes.
        return _hmac_sha256(key[:V2_KEY_LENGTH], message)


def _hkdf(z: bytes, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=V2_KEY_LENGTH, salt=V2_HKDF_SALT, info=info)
    return hkdf.derive(z)


def _aes_key(shared: bytes) -> bytes:
    """The AES half of a protocol-two shared secret (a 32-byte key is used as is)."""
    return shared[V2_KEY_LENGTH:] if len(shared) > V2_KEY_LENGTH else shared


def _require_blocks(data: bytes) -> None:
    if len(data) % AES_BLOCK:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "data is not a whole number of AES blocks")


PROTOCOL_CLASSES: dict[int, type[PinProtocolOne]] = {1: PinProtocolOne, 2: PinProtocolTwo}


def make_protocol(version: int, rng: Rng) -> PinProtocolOne:
    """The authenticator side of protocol `version`; ValueError if there is no such protocol."""
    try:
        return PROTOCOL_CLASSES[version](rng)
    except KeyError:
        raise ValueError(f"no PIN/UV auth protocol {version}") from None
