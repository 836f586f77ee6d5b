"""Sealing a token's seed for its state file: AES-256-GCM under a key kept in another file.

A sealed seed names its key by a short fingerprint, so a wrong key is told apart from a
tampered file. The associated data binds the seed to the token's serial and OTP parameters:
a sealed seed moved into another token's file, or a state file whose digits were edited,
does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenbench.emulators.totp.errors import SealError
from tokenbench.emulators.totp.storage import write_private_file

SEALING_KEY_BYTES = 32
SEALING_KEY_FILE = "sealing.key"
SEAL_ALGORITHM = "AES-256-GCM"
NONCE_BYTES = 12
_KEY_ID_LABEL = b"tokenbench sealing key id"
_HEX_KEY = re.compile(rf"[0-9a-fA-F]{{{SEALING_KEY_BYTES * 2}}}")


def key_id(key: bytes) -> str:
    """A fingerprint that names a sealing key without revealing it."""
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]


def write_sealing_key(path: str | os.PathLike[str], key: bytes) -> None:
    """Store a sealing key as hex text, mode 0600."""
    check_sealing_key(key)
    write_private_file(path, key.hex().encode("ascii") + b"\n")


def read_sealing_key(path: str | os.PathLike[str]) -> bytes:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SealError(f"no sealing key at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SealError(f"cannot read sealing key {path}: {exc}") from None
    if not _HEX_KEY.fullmatch(text):
        raise SealError(f"{path} is not a sealing key ({SEALING_KEY_BYTES * 2} hex digits)")
    return bytes.fromhex(text)


def check_sealing_key(key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) != SEALING_KEY_BYTES:
        raise SealError(f"a sealing key is {SEALING_KEY_BYTES} bytes")
    return key


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> dict[str, str]:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(check_sealing_key(key)).encrypt(nonce, plaintext, associated_data)
    return {
        "algorithm": SEAL_ALGORITHM,
        "key_id": key_id(key),
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }


def unseal(key: bytes, sealed: Any, associated_data: bytes) -> bytes:
    """The plaintext of `seal`'s output; `SealError` for a wrong key or any tampering."""
    check_sealing_key(key)
    if not isinstance(sealed, dict) or sealed.get("algorithm") != SEAL_ALGORITHM:
        raise SealError("the sealed seed is missing or of an unknown kind")
    if sealed.get("key_id") != key_id(key):
        raise SealError("the seed was sealed under a different sealing key")
    try:
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidTag):
        raise SealError("the sealed seed does not open: the state file was altered") from None
