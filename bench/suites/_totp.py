"""Helpers for the `totp` suite: seeds from the vendor's PSKC file, step search, offsets.

The suite knows a token only as the bench's `TotpSource` (serial, button, display) plus the
PSKC file the vendor shipped; the reference codes come from the seed in that file and the
bench's true time, computed with pyotp (RFC 6238).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyotp

SEARCH_STEPS = 120  # how far (in periods) a token's clock may be off and still be found
ALGORITHMS = {"HMAC-SHA1": "sha1", "HMAC-SHA256": "sha256", "HMAC-SHA512": "sha512"}


class SteppableToken(Protocol):
    """What `refine_offset` needs of the bench's `TotpSource` (the suites import no bench)."""

    def read_code(self) -> str | None: ...
    def now(self) -> float: ...
    def wait(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SeedRecord:
    serial: str
    digits: int
    period: int
    digest: str
    secret: bytes = field(repr=False)

    def totp(self) -> pyotp.TOTP:
        import hashlib

        return pyotp.TOTP(
            base64.b32encode(self.secret).decode(),
            digits=self.digits,
            interval=self.period,
            digest=getattr(hashlib, self.digest),
        )

    def code_at_step(self, step: int) -> str:
        return self.totp().generate_otp(step)


def read_seeds(access: Any) -> dict[str, SeedRecord]:
    """serial -> seed record, from the PSKC file the target names (python-pskc)."""
    import pskc

    container = pskc.PSKC(str(access.path))
    if access.psk is not None:
        container.encryption.key = access.psk
    elif access.password is not None:
        container.encryption.derive_key(access.password)
    records = {}
    for key in container.keys:
        if key.secret is None:
            continue  # no seed to check against: the suite reports the token as missing one
        suite = (key.algorithm_suite or "HMAC-SHA1").upper()
        records[str(key.serial)] = SeedRecord(
            serial=str(key.serial),
            digits=int(key.response_length or 6),
            period=int(key.time_interval or 30),
            digest=ALGORITHMS.get(suite, "sha1"),
            secret=bytes(key.secret),
        )
    return records


def find_step_offset(seed: SeedRecord, code: str, when: float) -> int | None:
    """The k such that `code` is the seed's code at true step(when) + k (smallest |k|)."""
    step = int(when // seed.period)
    for distance in range(SEARCH_STEPS + 1):
        for k in (distance, -distance) if distance else (0,):
            if seed.code_at_step(step + k) == code:
                return k
    return None


def refine_offset(token: SteppableToken, seed: SeedRecord, max_reads: int) -> float | None:
    """The token's clock offset in seconds (±1 s): step forward until the code changes.

    Only for tokens whose time can be stepped cheaply (emulated); a person would have to
    read the display every second for up to a period.
    """
    code = token.read_code()
    if code is None:
        return None
    k = find_step_offset(seed, code, token.now())
    if k is None:
        return None
    token_step = int(token.now() // seed.period) + k
    for _ in range(max_reads):
        token.wait(1.0)
        shown = token.read_code()
        if shown is None:
            return None
        if shown != code:
            # The token's clock reached (token_step + 1) * period at about this true time.
            return (token_step + 1) * seed.period - token.now()
    return None
