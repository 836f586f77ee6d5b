"""Where the key's randomness comes from: the OS, or a seeded stream for reproducible runs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

Rng = Callable[[int], bytes]
"""n -> n random bytes (`os.urandom`, or a `SeededRandom`)."""


class SeededRandom:
    """A reproducible byte stream: SHA-256 in counter mode over the seed (tests only)."""

    def __init__(self, seed: int | bytes) -> None:
        self._seed = seed if isinstance(seed, bytes) else seed.to_bytes(16, "big", signed=True)
        self._counter = 0
        self._buffer = b""
        self._lock = threading.Lock()

    def __call__(self, n: int) -> bytes:
        with self._lock:
            while len(self._buffer) < n:
                block = self._counter.to_bytes(8, "big")
                self._buffer += hashlib.sha256(b"tokenbench-rng" + self._seed + block).digest()
                self._counter += 1
            out, self._buffer = self._buffer[:n], self._buffer[n:]
            return out
