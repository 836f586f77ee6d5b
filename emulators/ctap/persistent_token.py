"""The persistent pinUvAuthToken of CTAP 2.2 (PPUAT) and the getInfo members it unlocks.

A platform that holds a PPUAT (granted with the `pcmr` permission, alone) can list the key's
discoverable credentials without asking for the PIN again, across power cycles: the token
lives in the key's state file, not in RAM, until the PIN changes or the key is reset. It is
good for the read-only credential management subCommands only.

With a PPUAT issued, getInfo carries two members encrypted to it (CTAP 2.2 §6.4):
encIdentifier, a device identifier stable until reset, and encCredStoreState, which changes
whenever a discoverable credential is created, updated or deleted, so the platform knows when
its cached list is stale. Both are IV || AES-128-CBC(HKDF-SHA-256(PPUAT, salt = 32 zero
bytes, info = the member's name), value) over a 16-byte value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENC_IDENTIFIER_INFO = b"encIdentifier"
ENC_CRED_STORE_STATE_INFO = b"encCredStoreState"
VALUE_LENGTH = 16
"""Both encrypted values are one AES block (no padding needed)."""
IV_LENGTH = 16
_HKDF_SALT = b"\x00" * 32
_IDENTIFIER_LABEL = b"tokenbench device identifier"


def encrypt_to_token(token: bytes, info: bytes, value: bytes, iv: bytes) -> bytes:
    """IV || AES-128-CBC(key, IV, value), key = HKDF-SHA-256(token, zero salt, `info`)."""
    if len(value) % VALUE_LENGTH or len(iv) != IV_LENGTH:
        raise ValueError("encrypted getInfo values are whole AES blocks under a 16-byte IV")
    key = HKDF(algorithm=hashes.SHA256(), length=16, salt=_HKDF_SALT, info=info).derive(token)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(value) + encryptor.finalize()


def device_identifier(master_secret: bytes) -> bytes:
    """16 bytes that name this key until it is reset (the master secret changes then)."""
    return hmac.new(master_secret, _IDENTIFIER_LABEL, hashlib.sha256).digest()[:VALUE_LENGTH]


def cred_store_state(credentials: Iterable[tuple[bytes, str | None, str | None]]) -> bytes:
    """16 bytes that change whenever a discoverable credential is added, updated or deleted.

    A digest of every (credential ID, user name, displayName), in ID order: stateless, so it
    needs no counter in the state file, and credential IDs are random, so deleting a
    credential and making another never brings an old value back.
    """
    digest = hashlib.sha256()
    for cred_id, name, display_name in sorted(credentials, key=lambda c: c[0]):
        digest.update(_framed(cred_id) + _framed(name) + _framed(display_name))
    return digest.digest()[:VALUE_LENGTH]


def _framed(part: bytes | str | None) -> bytes:
    """Length-prefixed, so no two different lists hash alike; None is not the empty string."""
    if part is None:
        return b"\xff" * 4
    raw = part.encode() if isinstance(part, str) else part
    return len(raw).to_bytes(4, "big") + raw
