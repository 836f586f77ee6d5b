"""What the OATH applet keeps in the key's state file.

The applet's part of the state is one JSON object under "oath" in the key state
(`emulators.ctap.state.KeyState.oath`), written with the rest of the state, atomically, on every
change (so it survives SIGKILL the way the FIDO state does). Like the FIDO credentials, whose
private keys exist on disk only inside IDs sealed under the key's master secret, the OATH
secrets (every credential's HMAC key and the access key derived from the password) are stored
sealed: AES-256-GCM (`emulators.totp.sealing`) under a key derived from the applet's own
32-byte secret, each bound to the credential's random id, so a sealed seed moved to another
record, or any edited byte, refuses to open. The applet secret is separate from the FIDO
master secret because a FIDO reset must not touch the OATH accounts (nor an OATH reset the
FIDO credentials), as on a YubiKey.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from tokenbench.emulators.ctap.credentials import hkdf
from tokenbench.emulators.ctap.state_fields import (
    bool_field,
    checked_int,
    int_field,
    list_field,
)
from tokenbench.emulators.totp.sealing import seal, unseal

SECRET_BYTES = 32
SALT_BYTES = 8  # the SELECT answer's name tag: the salt of the password's PBKDF2
ID_BYTES = 8
SEAL_INFO = b"tokenbench oath seal v1"
SEAL_LABEL = b"tokenbench oath "
MAX_NAME = 64

COUNTER_MAX = 2**64 - 1  # the HOTP moving factor is 8 bytes (RFC 4226 §5.2)
DIGITS = (6, 7, 8)
ACCESS_ID = b"access-key"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, name: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{name} is not a string")
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class OathCredential:
    """One account: its name as the applet stores it (period prefix and issuer included)."""

    id: bytes
    name: bytes
    kind: int  # OATH type (high nibble) | hash algorithm (low nibble), as LIST reports it
    digits: int
    sealed_key: dict[str, str]
    touch: bool = False
    counter: int = 0  # HOTP: the next moving factor

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": _b64(self.id),
            "name": _b64(self.name),
            "kind": self.kind,
            "digits": self.digits,
            "key": self.sealed_key,
            "touch": self.touch,
            "counter": self.counter,
        }

    @classmethod
    def from_dict(cls, d: object) -> OathCredential:
        if not isinstance(d, dict):
            raise ValueError("an OATH credential is not an object")
        name = _unb64(d["name"], "name")
        if not 0 < len(name) <= MAX_NAME:
            raise ValueError("OATH credential name length")
        sealed = d["key"]
        if not isinstance(sealed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in sealed.items()
        ):
            raise ValueError("OATH credential key is not a sealed object")
        return cls(
            id=_unb64(d["id"], "id"),
            name=name,
            kind=checked_int(d["kind"], "kind", 0, 0xFF),
            digits=checked_int(d["digits"], "digits", min(DIGITS), max(DIGITS)),
            sealed_key=dict(sealed),
            touch=bool_field(d, "touch", False),
            counter=int_field(d, "counter", 0, 0, COUNTER_MAX) if "counter" in d else 0,
        )


@dataclass
class OathState:
    secret: bytes
    salt: bytes
    credentials: list[OathCredential] = field(default_factory=list)
    access_key: dict[str, str] | None = None  # sealed PBKDF2-derived key, None = no password
    access_kind: int = 0x21  # TOTP | HMAC-SHA1, as ykman sets it

    @classmethod
    def fresh(cls, rng: Any) -> OathState:
        return cls(secret=rng(SECRET_BYTES), salt=rng(SALT_BYTES))

    # -- sealing -------------------------------------------------------------------------------

    def _sealing_key(self) -> bytes:
        return hkdf(self.secret, SEAL_INFO)

    def seal(self, record_id: bytes, plaintext: bytes) -> dict[str, str]:
        return seal(self._sealing_key(), plaintext, SEAL_LABEL + record_id)

    def unseal(self, record_id: bytes, sealed: dict[str, str]) -> bytes:
        return unseal(self._sealing_key(), sealed, SEAL_LABEL + record_id)

    def key_of(self, credential: OathCredential) -> bytes:
        return self.unseal(credential.id, credential.sealed_key)

    def access(self) -> bytes | None:
        if self.access_key is None:
            return None
        return self.unseal(ACCESS_ID, self.access_key)

    def set_access(self, key: bytes | None, kind: int = 0x21) -> None:
        self.access_key = None if key is None else self.seal(ACCESS_ID, key)
        self.access_kind = kind

    def find(self, name: bytes) -> OathCredential | None:
        for credential in self.credentials:
            if credential.name == name:
                return credential
        return None

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "secret": _b64(self.secret),
            "salt": _b64(self.salt),
            "credentials": [c.to_dict() for c in self.credentials],
        }
        if self.access_key is not None:
            out["access_key"] = self.access_key
            out["access_kind"] = self.access_kind
        return out

    @classmethod
    def from_dict(cls, d: object) -> OathState:
        """Inverse of `to_dict`; ValueError/TypeError/KeyError on a corrupt object."""
        if not isinstance(d, dict):
            raise ValueError("oath state is not an object")
        secret = _unb64(d["secret"], "secret")
        salt = _unb64(d["salt"], "salt")
        if len(secret) != SECRET_BYTES or len(salt) != SALT_BYTES:
            raise ValueError("oath secret or salt length")
        credentials = [OathCredential.from_dict(c) for c in list_field(d, "credentials")]
        names = [c.name for c in credentials]
        if len(set(names)) != len(names):
            raise ValueError("two OATH credentials with one name")
        access = d.get("access_key")
        if access is not None and (
            not isinstance(access, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in access.items())
        ):
            raise ValueError("oath access key is not a sealed object")
        kind = int_field(d, "access_kind", 0x21, 0, 0xFF)
        return cls(secret, salt, credentials, dict(access) if access else None, kind)
