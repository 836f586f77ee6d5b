"""TOTP verification (RFC 6238): windows around a learned drift, replay refusal, lockout.

Everything here is a pure function over records, so the same decision runs in memory (tests,
benchmarks) and in front of the store (which then applies the result atomically). `TotpKey`
precomputes what a code check needs: the RFC 2104 inner and outer hash states with the padded
key already absorbed, so each step costs two hash-state copies instead of a fresh HMAC set-up;
with the centre step tried first, that is what makes a check cheaper than pyotp's `verify`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import struct
from dataclasses import dataclass
from hmac import compare_digest
from typing import NamedTuple

ALGORITHMS: dict[str, str] = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
DIGIT_CHOICES = (6, 8)
DEFAULT_PERIOD = 30
DEFAULT_WINDOW = 1
DEFAULT_RESYNC_WINDOW = 240  # steps either side: two hours at 30 s, > 2 years at +50 ppm
DEFAULT_LOCKOUT_LIMIT = 5
DEFAULT_LOCKOUT_COOLDOWN = 300.0  # seconds
_COUNTER = struct.Struct(">q")  # RFC 4226: the counter as 8 big-endian bytes
_DYNAMIC_TRUNCATION_MASK = 0x7FFFFFFF
_IPAD = 0x36
_OPAD = 0x5C
# Built once: a sign-in makes a TotpKey per request, and XOR-ing the padded key byte by byte in
# Python (plus `hashlib.new` looking the name up) was most of that key's set-up cost.
_XOR_IPAD = bytes(b ^ _IPAD for b in range(256))
_XOR_OPAD = bytes(b ^ _OPAD for b in range(256))
_HASHES = {name: getattr(hashlib, digest) for name, digest in ALGORITHMS.items()}
_BLOCK_SIZES = {name: new().block_size for name, new in _HASHES.items()}


def normalize_algorithm(name: str) -> str:
    """`sha-256`, `HMAC-SHA256`, `sha256` -> `SHA256`; anything else is a ValueError."""
    key = name.upper().replace("HMAC-", "").replace("-", "")
    if key not in ALGORITHMS:
        raise ValueError(f"unsupported TOTP algorithm {name!r} (SHA1, SHA256 or SHA512)")
    return key


@dataclass(frozen=True)
class TotpParams:
    """How a device makes codes."""

    algorithm: str = "SHA1"
    digits: int = 6
    period: int = DEFAULT_PERIOD
    t0: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", normalize_algorithm(self.algorithm))
        if self.digits not in DIGIT_CHOICES:
            raise ValueError(f"TOTP digits must be 6 or 8, not {self.digits}")
        if not isinstance(self.period, int) or self.period <= 0:
            raise ValueError(f"TOTP period must be a positive whole number, not {self.period}")


def is_code_shaped(code: object, digits: int) -> bool:
    """True when `code` is exactly `digits` ASCII digits (what a device can display)."""
    return isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()


class TotpKey:
    """A device secret with everything a code check needs precomputed."""

    __slots__ = ("_digits", "_inner", "_modulus", "_outer", "params")

    def __init__(self, secret: bytes, params: TotpParams | None = None) -> None:
        if not secret:
            raise ValueError("a TOTP secret cannot be empty")
        self.params = params or TotpParams()
        new = _HASHES[self.params.algorithm]
        block = _BLOCK_SIZES[self.params.algorithm]
        key = bytes(secret)
        if len(key) > block:
            key = new(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = new(key.translate(_XOR_IPAD))
        self._outer = new(key.translate(_XOR_OPAD))
        self._modulus = 10**self.params.digits
        self._digits = self.params.digits

    def step_at(self, now: float) -> int:
        """The RFC 6238 time step T for Unix time `now`."""
        return math.floor((now - self.params.t0) / self.params.period)

    def code_at_step(self, step: int) -> str:
        """RFC 4226 HOTP of the step counter, dynamic truncation, zero-padded."""
        inner = self._inner.copy()
        inner.update(_COUNTER.pack(step))
        outer = self._outer.copy()
        outer.update(inner.digest())
        mac = outer.digest()
        offset = mac[-1] & 0x0F
        value = (int.from_bytes(mac[offset : offset + 4], "big") & _DYNAMIC_TRUNCATION_MASK) % (
            self._modulus
        )
        return str(value).zfill(self._digits)

    def first_consecutive(self, code1: str, code2: str, first: int, last: int) -> int | None:
        """The step s in [first, last] nearest the middle with code1 at s and code2 at s + 1."""
        middle = (first + last) // 2
        ordered = sorted(range(first, last + 1), key=lambda s: (abs(s - middle), s))
        codes: dict[int, str] = {}
        for step in ordered:
            if step not in codes:
                codes[step] = self.code_at_step(step)
            if not hmac.compare_digest(codes[step], code1):
                continue
            nxt = codes.get(step + 1) or self.code_at_step(step + 1)
            codes[step + 1] = nxt
            if hmac.compare_digest(nxt, code2):
                return step
        return None


class TotpState(NamedTuple):
    """What the verifier remembers about a device between checks (a NamedTuple: cheap to make,
    and one is made on every check)."""

    drift_steps: int = 0
    last_step: int | None = None
    failed_attempts: int = 0
    locked_until: float | None = None


@dataclass(frozen=True)
class VerifyPolicy:
    """Tunable limits; defaults follow common practice (±1 step, 5 tries, 5 minutes)."""

    window: int = DEFAULT_WINDOW
    resync_window: int = DEFAULT_RESYNC_WINDOW
    lockout_limit: int = DEFAULT_LOCKOUT_LIMIT
    lockout_cooldown: float = DEFAULT_LOCKOUT_COOLDOWN

    def __post_init__(self) -> None:
        if self.window < 0 or self.resync_window < 0:
            raise ValueError("windows cannot be negative")
        if self.lockout_limit < 1 or self.lockout_cooldown < 0:
            raise ValueError("lockout limit must be >= 1 and cool-down >= 0")


DEFAULT_POLICY = VerifyPolicy()


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    REPLAYED = "replayed"
    LOCKED = "locked"


class Verdict(NamedTuple):
    """The decision: on ACCEPTED, `step` is the step to record and `drift_steps` the new drift."""

    outcome: Outcome
    step: int | None = None
    drift_steps: int | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


_ACCEPTED = Outcome.ACCEPTED
_INVALID = Verdict(Outcome.INVALID)
_LOCKED = Verdict(Outcome.LOCKED)
_REPLAYED = Verdict(Outcome.REPLAYED)


def is_locked(state: TotpState, now: float) -> bool:
    return state.locked_until is not None and now < state.locked_until


def effective_failures(state: TotpState, now: float) -> int:
    """Failures that still count: a lock whose cool-down has passed starts a fresh count."""
    if state.locked_until is not None and now >= state.locked_until:
        return 0
    return state.failed_attempts


def verify(
    key: TotpKey, state: TotpState, code: str, now: float, policy: VerifyPolicy = DEFAULT_POLICY
) -> Verdict:
    """One code, ±window steps around the learned drift, refusing steps already used.

    This is the hot path of every sign-in, so the lock and shape checks are inlined."""
    locked_until = state.locked_until
    if locked_until is not None and now < locked_until:
        return _LOCKED
    params = key.params
    if not (
        code.__class__ is str and len(code) == params.digits and code.isascii() and code.isdigit()
    ):
        return _INVALID
    current = math.floor((now - params.t0) / params.period)
    center = current + state.drift_steps
    last = state.last_step
    code_at = key.code_at_step
    # Nearest the centre first: a device in step costs one HMAC.
    matched_any = compare_digest(code_at(center), code)
    if matched_any and (last is None or center > last):
        return Verdict(_ACCEPTED, center, center - current)
    for distance in range(1, policy.window + 1):
        for step in (center - distance, center + distance):
            if compare_digest(code_at(step), code):
                if last is None or step > last:
                    return Verdict(_ACCEPTED, step, step - current)
                matched_any = True
    return _REPLAYED if matched_any else _INVALID


def verify_consecutive(
    key: TotpKey,
    state: TotpState,
    code1: str,
    code2: str,
    now: float,
    policy: VerifyPolicy = DEFAULT_POLICY,
) -> Verdict:
    """Two consecutive codes in the wide resync window (enable and resync).

    The window is centred on the learned drift, so a token that keeps drifting can be resynced
    again and again. The recorded step is the second code's, so neither code can be replayed.
    """
    if is_locked(state, now):
        return _LOCKED
    digits = key.params.digits
    if not (is_code_shaped(code1, digits) and is_code_shaped(code2, digits)):
        return _INVALID
    current = key.step_at(now)
    center = current + state.drift_steps
    step = key.first_consecutive(
        code1, code2, center - policy.resync_window, center + policy.resync_window
    )
    if step is None:
        return _INVALID
    second = step + 1
    if state.last_step is not None and second <= state.last_step:
        return _REPLAYED
    return Verdict(Outcome.ACCEPTED, second, second - current)


def after_success(state: TotpState, verdict: Verdict) -> TotpState:
    """The state to store after an accepted code (in-memory twin of the store's update)."""
    return TotpState(verdict.drift_steps or 0, verdict.step, 0, None)


def after_failure(state: TotpState, now: float, policy: VerifyPolicy = DEFAULT_POLICY) -> TotpState:
    """Count a failure; reaching the limit locks the device for the cool-down."""
    failures = effective_failures(state, now) + 1
    locked_until = state.locked_until if is_locked(state, now) else None
    if failures >= policy.lockout_limit:
        locked_until = now + policy.lockout_cooldown
    return state._replace(failed_attempts=failures, locked_until=locked_until)


class InMemoryVerifier:
    """A single device checked in memory: the benchmark's subject and a reference for tests."""

    def __init__(self, key: TotpKey, policy: VerifyPolicy = DEFAULT_POLICY) -> None:
        self.key = key
        self.policy = policy
        self.state = TotpState()

    def check(self, code: str, now: float) -> bool:
        verdict = verify(self.key, self.state, code, now, self.policy)
        if verdict.accepted:
            self.state = after_success(self.state, verdict)
            return True
        self.state = after_failure(self.state, now, self.policy)
        return False
