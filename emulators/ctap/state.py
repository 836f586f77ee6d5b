"""The emulated key's persistent state and where it is kept.

One versioned JSON document holds everything a real key keeps in flash: the master secret that
wraps non-resident credential IDs, signature counters, resident credentials, the PIN state,
the authenticatorConfig flags and the large-blob array. A `FileStore` replaces the file
atomically (temp file + fsync + rename + directory fsync), so a crash leaves either the old or
the new state, never a half-written one. Anything that is not our format raises `StateError`.

Signature counters change on every assertion. Rewriting the whole file each time would cost
an fsync per assertion (about 0.75 ms here), so counters are persisted as a reserved
high-water mark: the stored value is ahead of the live counter by up to `counter_block`, and
after a restart (or a crash) every counter continues from its stored mark. Counters therefore
only ever move forward, at the price of a jump after a restart, which the spec allows.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tokenbench.emulators.ctap.client_pin import PinState
from tokenbench.emulators.ctap.credentials import counter_key
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.fingerprint import BioState
from tokenbench.emulators.ctap.randomness import Rng
from tokenbench.emulators.ctap.state_fields import (
    bool_field,
    checked_int,
    int_field,
    list_field,
    mapping_field,
    optional_str_field,
    str_field,
)
from tokenbench.emulators.oath.state import OathState
from tokenbench.emulators.private_file import write_private_file

STATE_FORMAT = "tokenbench-ctap-state"
STATE_VERSION = 1
DEFAULT_COUNTER_BLOCK = 256
COUNTER_MAX = 0xFFFFFFFF  # signature counters are 32 bits
CRED_PROTECT_LEVELS = (1, 3)  # userVerificationOptional .. userVerificationRequired
MAX_STATE_BYTES = 16 * 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class StateStore(Protocol):
    """Where the serialized state lives: `load` returns None for a fresh key."""

    def load(self) -> bytes | None: ...

    def save(self, data: bytes) -> None: ...


class MemoryStore:
    """State kept in memory (tests, throwaway emulated keys)."""

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data
        self.writes = 0

    def load(self) -> bytes | None:
        return self.data

    def save(self, data: bytes) -> None:
        self.data = data
        self.writes += 1


class FileStore:
    """State kept in one file, replaced atomically on every save."""

    def __init__(self, path: str | Path, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self.writes = 0

    def load(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                data = f.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(f"cannot read key state {self.path}: {e.strerror}") from None
        if len(data) > MAX_STATE_BYTES:
            raise StateError(f"key state {self.path} is too large to be ours")
        return data

    def save(self, data: bytes) -> None:
        # A missing directory is an error (likely a typo), not something to create.
        write_private_file(self.path, data, durable=self.durable, make_parents=False)
        self.writes += 1


@dataclass
class ResidentCredential:
    """A discoverable credential. Its private key is derived from the wrapped `id` itself."""

    id: bytes
    rp_id: str
    user_id: bytes
    created: int
    rp_name: str | None = None
    user_name: str | None = None
    user_display_name: str | None = None
    alg: int = -7
    cred_protect: int = 1
    cred_blob: bytes | None = None
    large_blob_key: bytes | None = None
    hmac_secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": b64(self.id),
            "rp_id": self.rp_id,
            "user_id": b64(self.user_id),
            "created": self.created,
            "alg": self.alg,
            "cred_protect": self.cred_protect,
        }
        for name in ("rp_name", "user_name", "user_display_name"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.cred_blob is not None:
            out["cred_blob"] = b64(self.cred_blob)
        if self.large_blob_key is not None:
            out["large_blob_key"] = b64(self.large_blob_key)
        if self.hmac_secret:
            out["hmac_secret"] = True
        return out

    @classmethod
    def from_dict(cls, d: object) -> ResidentCredential:
        """Inverse of `to_dict`; ValueError/TypeError/KeyError on a corrupt record."""
        if not isinstance(d, dict):
            raise ValueError("a resident credential is not an object")
        return cls(
            id=unb64(d["id"]),
            rp_id=str_field(d, "rp_id"),
            user_id=unb64(d["user_id"]),
            created=checked_int(d["created"], "created", low=0),
            rp_name=optional_str_field(d, "rp_name"),
            user_name=optional_str_field(d, "user_name"),
            user_display_name=optional_str_field(d, "user_display_name"),
            alg=int_field(d, "alg", -7),
            cred_protect=int_field(d, "cred_protect", 1, *CRED_PROTECT_LEVELS),
            cred_blob=unb64(d["cred_blob"]) if "cred_blob" in d else None,
            large_blob_key=unb64(d["large_blob_key"]) if "large_blob_key" in d else None,
            hmac_secret=bool_field(d, "hmac_secret", False),
        )


@dataclass
class KeyState:
    """Everything the key remembers across power cycles."""

    master_secret: bytes
    counters: dict[str, int] = field(default_factory=dict)  # counter key -> reserved mark
    residents: list[ResidentCredential] = field(default_factory=list)
    pin: PinState = field(default_factory=PinState)
    always_uv: bool = False
    enterprise_attestation: bool = False
    min_pin_length_rp_ids: list[str] = field(default_factory=list)
    large_blob: bytes | None = None  # None = the initial empty array
    next_created: int = 1
    counter_block: int = DEFAULT_COUNTER_BLOCK
    oath: OathState | None = None  # the OATH applet's accounts (None until first used)
    bio: BioState | None = None  # enrolled fingers and uvRetries (keys with a sensor)

    def to_json(self) -> bytes:
        doc = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "master_secret": b64(self.master_secret),
            "counters": self.counters,
            "residents": [r.to_dict() for r in self.residents],
            "pin": self.pin.to_dict(),
            "always_uv": self.always_uv,
            "enterprise_attestation": self.enterprise_attestation,
            "min_pin_length_rp_ids": self.min_pin_length_rp_ids,
            "large_blob": b64(self.large_blob) if self.large_blob is not None else None,
            "next_created": self.next_created,
            "counter_block": self.counter_block,
        }
        if self.oath is not None:
            doc["oath"] = self.oath.to_dict()
        if self.bio is not None:
            doc["bio"] = self.bio.to_dict()
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> KeyState:
        """The state in `data`; anything else, however malformed, is one-line `StateError`.

        ValueError covers integers past Python's digit limit and RecursionError deep nesting,
        both raised by `json.loads` itself; numbers are range-checked field by field.
        """
        try:
            doc = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
            raise StateError(f"key state is not valid JSON ({e.__class__.__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise StateError("file is not a tokenbench security-key state")
        if doc.get("version") != STATE_VERSION:
            raise StateError(
                f"key state version {doc.get('version')!r} is not supported "
                f"(this build reads version {STATE_VERSION})"
            )
        try:
            secret = unb64(doc["master_secret"])
            if len(secret) != 32:
                raise ValueError("master secret length")
            counters = {
                str(k): checked_int(v, "counter", 0, COUNTER_MAX)
                for k, v in mapping_field(doc, "counters").items()
            }
            rp_ids = list_field(doc, "min_pin_length_rp_ids")
            if not all(isinstance(x, str) for x in rp_ids):
                raise ValueError("min_pin_length_rp_ids holds a non-string")
            blob = doc.get("large_blob")
            oath = doc.get("oath")
            bio = doc.get("bio")
            return cls(
                master_secret=secret,
                counters=counters,
                residents=[ResidentCredential.from_dict(r) for r in list_field(doc, "residents")],
                pin=PinState.from_dict(mapping_field(doc, "pin")),
                always_uv=bool_field(doc, "always_uv", False),
                enterprise_attestation=bool_field(doc, "enterprise_attestation", False),
                min_pin_length_rp_ids=list(rp_ids),
                large_blob=unb64(blob) if blob is not None else None,
                next_created=int_field(doc, "next_created", 1, low=0),
                counter_block=max(
                    1, int_field(doc, "counter_block", DEFAULT_COUNTER_BLOCK, high=COUNTER_MAX)
                ),
                oath=OathState.from_dict(oath) if oath is not None else None,
                bio=BioState.from_dict(mapping_field(doc, "bio")) if bio is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
            raise StateError(f"key state is corrupt ({e.__class__.__name__}: {e})") from None


class StateManager:
    """Loads the state once, keeps it in memory, and writes it back on every change.

    Live signature counters are kept here; the state only records reserved marks (see the
    module docstring), so most assertions cost no write at all.
    """

    def __init__(self, store: StateStore, rng: Rng) -> None:
        self.store = store
        self._rng = rng
        self._lock = threading.RLock()
        self.lock = self._lock  # for the other applets on the key (OATH) that share the state
        data = store.load()
        if data is None:
            self.state = KeyState(master_secret=rng(32))
            self.save()
        else:
            self.state = KeyState.from_json(data)
        self._live: dict[str, int] = {}

    def save(self) -> None:
        with self._lock:
            self.store.save(self.state.to_json())

    def reload(self) -> None:
        """Re-read the stored state (live counters are kept: they never go back)."""
        with self._lock:
            data = self.store.load()
            if data is not None:
                self.state = KeyState.from_json(data)

    def snapshot(self) -> bytes:
        """The state as it is right now, with live counters instead of reserved marks."""
        with self._lock:
            counters = dict(self.state.counters)
            counters.update(self._live)
            doc = KeyState.from_json(self.state.to_json())
            doc.counters = counters
            return doc.to_json()

    def counter(self, key: str) -> int:
        """The current counter value for `key` without advancing it."""
        with self._lock:
            return self._live.get(key, self.state.counters.get(key, 0))

    def next_counter(self, key: str) -> int:
        """Advance and return the counter for `key`, reserving a new block when needed."""
        with self._lock:
            value = self._live.get(key, self.state.counters.get(key, 0)) + 1
            if value > 0xFFFFFFFF:
                value = 0xFFFFFFFF
            self._live[key] = value
            if value > self.state.counters.get(key, 0):
                self.state.counters[key] = min(0xFFFFFFFF, value + self.state.counter_block - 1)
                self.save()
            return value

    def forget_counter_for(self, cred_id: bytes) -> None:
        self.forget_counter(counter_key(cred_id))

    def forget_counter(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)
            self.state.counters.pop(key, None)

    def wipe(self, *, keep_bio: bool = False) -> None:
        """authenticatorReset: new master secret, nothing remembered (PIN handled by caller).

        The OATH applet's accounts stay: a FIDO reset does not touch them on a YubiKey.
        Enrolled fingers go, unless `keep_bio` (the bio-reset-keeps-enrollments fault).
        """
        with self._lock:
            old = self.state
            self.state = KeyState(
                master_secret=self._rng(32),
                pin=old.pin,
                counter_block=old.counter_block,
                oath=old.oath,
                bio=old.bio if keep_bio else None,
            )
            self._live.clear()
            self.save()
