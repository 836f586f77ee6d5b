"""The token factory: mints batches of hardware TOTP tokens and writes their PSKC seed file.

Every token gets the next serial (vendor prefix + 8 digits), a fresh seed as long as its hash
output (20 bytes SHA1, 32 SHA256, 64 SHA512), a crystal with its own manufacturing drift
(uniform within +-`max_drift_ppm` unless forced) and a battery good for about
`battery_life` seconds of running (+-5 %). Randomness is injectable: a seeded
`random.Random` (or a function returning n bytes) makes a batch reproducible; the default is
the operating system's generator.

With a `state_dir` the factory persists what must outlive one run: the next serial of each
prefix (`factory.json`, updated under a lock, so serials stay unique across batches and
processes) and its sealing key (`sealing.key`, mode 0600), which seals the seeds in the
tokens' state files.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tokenbench.emulators.clock import Clock
from tokenbench.emulators.totp.errors import TokenStateError, TotpError
from tokenbench.emulators.totp.otp import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD,
    check_parameters,
)
from tokenbench.emulators.totp.provisioning import write_pskc
from tokenbench.emulators.totp.sealing import (
    SEALING_KEY_BYTES,
    SEALING_KEY_FILE,
    read_sealing_key,
    write_sealing_key,
)
from tokenbench.emulators.totp.storage import field_of, read_json_document, write_private_json
from tokenbench.emulators.totp.token import (
    DEFAULT_BATTERY_LIFE,
    DEFAULT_MANUFACTURER,
    HardwareTotpToken,
)

SERIAL_DIGITS = 8
MAX_SERIAL_NUMBER = 10**SERIAL_DIGITS - 1
SEED_BYTES = {"SHA1": 20, "SHA256": 32, "SHA512": 64}
DEFAULT_MAX_DRIFT_PPM = 30.0
BATTERY_SPREAD = 0.05
MAX_BATCH = 100_000
REGISTRY_FILE = "factory.json"
REGISTRY_LOCK_FILE = "factory.lock"
REGISTRY_FORMAT = "tokenbench-totp-factory"
REGISTRY_VERSION = 1
_PREFIX = re.compile(r"[A-Z0-9]{1,8}")
_UNIFORM_BYTES = 7  # 56 random bits per uniform draw from a byte source
_UNIFORM_SCALE = 1 << (8 * _UNIFORM_BYTES)

RandomSource = random.Random | Callable[[int], bytes] | None


class _Entropy:
    """Random bytes and uniform floats from a `random.Random` or a bytes source."""

    def __init__(self, source: RandomSource) -> None:
        self._source = random.SystemRandom() if source is None else source

    def bytes(self, count: int) -> bytes:
        if isinstance(self._source, random.Random):
            return self._source.randbytes(count)
        data = self._source(count)
        if not isinstance(data, bytes) or len(data) != count:
            raise TotpError(f"the random source returned something other than {count} bytes")
        return data

    def uniform(self, low: float, high: float) -> float:
        if isinstance(self._source, random.Random):
            return self._source.uniform(low, high)
        fraction = int.from_bytes(self.bytes(_UNIFORM_BYTES), "big") / _UNIFORM_SCALE
        return low + (high - low) * fraction


class TokenFactory:
    """Mints tokens on `base_clock` (true time); see the module docstring."""

    def __init__(
        self,
        base_clock: Clock,
        prefix: str = "GAHT",
        rng: RandomSource = None,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        max_drift_ppm: float = DEFAULT_MAX_DRIFT_PPM,
        battery_life: float = DEFAULT_BATTERY_LIFE,
        manufacturer: str = DEFAULT_MANUFACTURER,
    ) -> None:
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise TotpError(f"serial prefix {prefix!r} must be 1-8 capital letters or digits")
        if not (math.isfinite(max_drift_ppm) and max_drift_ppm >= 0):
            raise TotpError("max_drift_ppm must be a non-negative number")
        self.base_clock = base_clock
        self.prefix = prefix
        self.max_drift_ppm = float(max_drift_ppm)
        self.battery_life = float(battery_life)
        self.manufacturer = manufacturer
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._entropy = _Entropy(rng)
        self._next_in_memory = 1
        self._sealing_key = self._load_or_create_sealing_key()

    def __repr__(self) -> str:
        return f"TokenFactory(prefix={self.prefix!r}, state_dir={self.state_dir!s})"

    @property
    def sealing_key(self) -> bytes:
        """The key that seals the seeds in this factory's token state files."""
        return self._sealing_key

    @property
    def sealing_key_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / SEALING_KEY_FILE

    def _load_or_create_sealing_key(self) -> bytes:
        path = self.sealing_key_path
        if path is None:
            return self._entropy.bytes(SEALING_KEY_BYTES)
        with self._registry_lock():
            if path.exists():
                return read_sealing_key(path)
            key = self._entropy.bytes(SEALING_KEY_BYTES)
            write_sealing_key(path, key)
            return key

    # -- serials ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _registry_lock(self) -> Iterator[None]:
        assert self.state_dir is not None
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.state_dir / REGISTRY_LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reserve_serials(self, count: int) -> list[str]:
        if self.state_dir is None:
            first = self._next_in_memory
            self._check_serial_space(first, count)
            self._next_in_memory += count
        else:
            registry_path = self.state_dir / REGISTRY_FILE
            with self._registry_lock():
                next_serials = self._read_registry(registry_path)
                first = next_serials.get(self.prefix, 1)
                self._check_serial_space(first, count)
                next_serials[self.prefix] = first + count
                write_private_json(
                    registry_path,
                    {
                        "format": REGISTRY_FORMAT,
                        "version": REGISTRY_VERSION,
                        "next_serial": next_serials,
                    },
                )
        return [
            f"{self.prefix}{number:0{SERIAL_DIGITS}d}" for number in range(first, first + count)
        ]

    def _check_serial_space(self, first: int, count: int) -> None:
        if first + count - 1 > MAX_SERIAL_NUMBER:
            raise TotpError(f"serials for prefix {self.prefix} are used up")

    @staticmethod
    def _read_registry(path: Path) -> dict[str, int]:
        if not path.exists():
            return {}
        document = read_json_document(
            path,
            kind=REGISTRY_FORMAT,
            version=REGISTRY_VERSION,
            error=TokenStateError,
            what="token factory registry",
        )
        next_serials = field_of(
            document, "next_serial", dict, error=TokenStateError, where=str(path)
        )
        for prefix, number in next_serials.items():
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise TokenStateError(f"{path}: bad next serial for prefix {prefix!r}")
        return dict(next_serials)

    # -- minting ---------------------------------------------------------------------------

    def mint(
        self,
        count: int,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period: int = DEFAULT_PERIOD,
        drift_ppm: float | None = None,
    ) -> list[HardwareTotpToken]:
        """A batch of `count` new tokens, made now (`base_clock`)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
            raise TotpError(f"a batch is 1 to {MAX_BATCH} tokens, not {count}")
        algorithm = check_parameters(algorithm, digits, period)
        if drift_ppm is not None and not math.isfinite(drift_ppm):
            raise TotpError(f"drift must be a finite number of ppm, not {drift_ppm}")
        serials = self._reserve_serials(count)
        made_at = self.base_clock.now()
        tokens = []
        for serial in serials:
            seed = self._entropy.bytes(SEED_BYTES[algorithm])
            if drift_ppm is None:
                ppm = self._entropy.uniform(-self.max_drift_ppm, self.max_drift_ppm)
            else:
                ppm = drift_ppm
            battery = self.battery_life * (
                1 + self._entropy.uniform(-BATTERY_SPREAD, BATTERY_SPREAD)
            )
            tokens.append(
                HardwareTotpToken(
                    serial,
                    seed,
                    self.base_clock,
                    sealing_key=self._sealing_key,
                    algorithm=algorithm,
                    digits=digits,
                    period=period,
                    drift_ppm=ppm,
                    manufactured_at=made_at,
                    battery_life=battery,
                    manufacturer=self.manufacturer,
                )
            )
        return tokens

    def write_pskc(
        self,
        tokens: Sequence[HardwareTotpToken],
        path: str | os.PathLike[str],
        *,
        psk: bytes | None = None,
        password: str | None = None,
    ) -> None:
        """The batch's seed file (RFC 6030), encrypted with `psk` or `password`."""
        write_pskc(tokens, path, psk=psk, password=password)
