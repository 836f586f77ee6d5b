"""One OTP account (its secret and parameters) and the code arithmetic, through pyotp.

`OtpAccount` is the shared model of the URI parser, the migration codec, the virtual app and
the hardware tokens. Constructing one validates it, so an account that exists is usable:
every bad parameter is an `OtpauthError` at the point where it enters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyotp

from tokenbench.emulators.totp.errors import OtpauthError

TOTP = "totp"
HOTP = "hotp"
KINDS = (TOTP, HOTP)

ALGORITHMS: dict[str, Any] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}
DEFAULT_ALGORITHM = "SHA1"
MIN_DIGITS = 6
MAX_DIGITS = 8
DEFAULT_DIGITS = 6
DEFAULT_PERIOD = 30
MAX_PERIOD = 2**31 - 1
MAX_COUNTER = 2**63 - 1  # the migration format carries the counter as a signed int64
MIN_SECRET_BITS = 80  # 16 Base32 characters: the shortest secret real services hand out
LABEL_SEPARATOR = ":"

_BASE32_ALPHABET = re.compile(r"[A-Z2-7]*")
_VALID_UNPADDED_LENGTHS = {0, 2, 4, 5, 7}  # Base32 length mod 8 that a whole byte count gives


class _Hotp(pyotp.HOTP):
    """pyotp's HOTP with the 80-bit secret floor that authenticator apps accept."""

    min_secret_length_bits: ClassVar[int] = MIN_SECRET_BITS


def decode_base32(text: str, what: str = "secret") -> bytes:
    """Decode a Base32 secret: case-insensitive, spaces and `=` padding optional."""
    compact = "".join(text.split()).upper().rstrip("=")
    if not compact:
        raise OtpauthError(f"{what} is empty")
    if not _BASE32_ALPHABET.fullmatch(compact):
        raise OtpauthError(f"{what} is not Base32 (letters A-Z and digits 2-7 only)")
    if len(compact) % 8 not in _VALID_UNPADDED_LENGTHS:
        raise OtpauthError(f"{what} has an impossible Base32 length ({len(compact)} characters)")
    padded = compact + "=" * (-len(compact) % 8)
    try:
        return base64.b32decode(padded)
    except binascii.Error as exc:  # unreachable after the checks above; kept as a guard
        raise OtpauthError(f"{what} is not Base32: {exc}") from None


def encode_base32(secret: bytes) -> str:
    """Base32 without padding, as otpauth URIs carry it."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def normalize_algorithm(name: str) -> str:
    """`sha256`, `SHA-256`, `HMAC-SHA256` -> `SHA256`; anything else is an `OtpauthError`."""
    key = name.strip().upper().replace("HMAC-", "").replace("-", "")
    if key not in ALGORITHMS:
        raise OtpauthError(f"unsupported algorithm {name!r} (SHA1, SHA256 or SHA512)")
    return key


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise OtpauthError(f"{what} must be text")
    value = value.strip()
    if LABEL_SEPARATOR in value:
        raise OtpauthError(f"{what} {value!r} must not contain ':'")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise OtpauthError(f"{what} is not valid Unicode text") from None
    return value


def _check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OtpauthError(f"{what} must be a whole number")
    if not low <= value <= high:
        raise OtpauthError(f"{what} must be between {low} and {high}, not {value}")
    return value


def check_parameters(algorithm: object, digits: object, period: object) -> str:
    """Check the code parameters an account or token is made with; the normalised algorithm."""
    if not isinstance(algorithm, str):
        raise OtpauthError("algorithm must be text")
    _check_int(digits, "digits", MIN_DIGITS, MAX_DIGITS)
    _check_int(period, "period", 1, MAX_PERIOD)
    return normalize_algorithm(algorithm)


@dataclass(frozen=True)
class OtpAccount:
    """An OTP account as an authenticator holds it. The secret never shows in `repr`.

    Names are stripped of surrounding spaces and may not contain ':' (Google's Key Uri
    Format reserves it to separate issuer and account). A TOTP account's counter is 0.
    """

    secret: bytes = field(repr=False)
    issuer: str = ""
    account: str = ""
    kind: str = TOTP
    algorithm: str = DEFAULT_ALGORITHM
    digits: int = DEFAULT_DIGITS
    period: int = DEFAULT_PERIOD
    counter: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes | bytearray):
            raise OtpauthError("secret must be bytes")
        if len(self.secret) * 8 < MIN_SECRET_BITS:
            raise OtpauthError(
                f"secret is too short: {len(self.secret) * 8} bits, at least {MIN_SECRET_BITS}"
            )
        if self.kind not in KINDS:
            raise OtpauthError(f"unknown OTP type {self.kind!r} (totp or hotp)")
        set_ = object.__setattr__  # normalising a frozen dataclass at construction
        set_(self, "secret", bytes(self.secret))
        set_(self, "issuer", _check_name(self.issuer, "issuer"))
        set_(self, "account", _check_name(self.account, "account name"))
        set_(self, "algorithm", check_parameters(self.algorithm, self.digits, self.period))
        _check_int(self.counter, "counter", 0, MAX_COUNTER)
        if self.kind == TOTP:
            set_(self, "counter", 0)

    @property
    def label(self) -> str:
        """`Issuer:account`, or just the account name when there is no issuer."""
        if self.issuer:
            return f"{self.issuer}{LABEL_SEPARATOR}{self.account}"
        return self.account

    @property
    def secret_base32(self) -> str:
        return encode_base32(self.secret)

    def otp(self, counter: int) -> str:
        """The RFC 4226 code for one moving-factor value (a HOTP counter or a TOTP step)."""
        generator = _Hotp(self.secret_base32, digits=self.digits, digest=ALGORITHMS[self.algorithm])
        return generator.at(counter)

    def time_step(self, when: float) -> int:
        """RFC 6238's T = floor(unix time / period), with T0 = 0."""
        if not math.isfinite(when) or when < 0:
            raise OtpauthError(f"time must be a non-negative number of seconds, not {when}")
        return math.floor(when) // self.period

    def code_at(self, when: float) -> str:
        """The code shown at Unix time `when` (TOTP), or at the current counter (HOTP)."""
        if self.kind == HOTP:
            return self.otp(self.counter)
        return self.otp(self.time_step(when))

    def seconds_left(self, when: float) -> int | None:
        """Whole seconds until the TOTP code changes (1..period); None for HOTP."""
        if self.kind == HOTP:
            return None
        return self.period - math.floor(when) % self.period
