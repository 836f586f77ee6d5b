"""Hardware-token seeds: import (PSKC, CSV) and encryption at rest.

Seeds never leave this module in plaintext except into a `TotpKey`. At rest they are sealed with
AES-256-GCM under a key-encryption key (KEK); the associated data binds each ciphertext to its
device serial, so a sealed seed copied onto another serial's row does not open.

An import is all or nothing: every key package is decrypted, MAC-checked and validated before
anything is stored, and the first problem ends the import with one `SeedImportError` that says
which package and why. Errors never include secret material.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenbench.verifier.errors import VerifierError
from tokenbench.verifier.pskc_integrity import PskcFileError, open_pskc
from tokenbench.verifier.totp import DIGIT_CHOICES, TotpParams, normalize_algorithm

if TYPE_CHECKING:
    from pskc import PSKC
    from pskc.key import Key

KEK_ENV = "TOKENBENCH_KEK"
KEK_BYTES = 32
NONCE_BYTES = 12
SEAL_VERSION = b"\x01"
AAD_PREFIX = b"tokenbench-seed-v1|"
PSKC_TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
PSKC_HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
MIN_SEED_BYTES = 10  # RFC 4226 requires at least 128 bits; 80 bits is the historic floor
SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{8,63}")  # 9-64: IAM wants >= 9
CSV_FIELDS = ("serial", "seed", "type", "digits", "period")
BASE32_PREFIX = "base32:"


class SeedError(VerifierError):
    """A seed could not be sealed or opened (wrong KEK, tampered row, bad key file)."""


class SeedImportError(VerifierError):
    """A seed file was refused; nothing from it was imported."""


# --- key-encryption key -------------------------------------------------------------------


def _decode_kek(text: str, origin: str) -> bytes:
    text = text.strip()
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == KEK_BYTES:
            return raw
    raise SeedError(f"{origin} must hold a {KEK_BYTES}-byte key as hex or base64")


def load_kek(
    kek_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    default_file: str | os.PathLike[str] = "tokenbench-iam.kek",
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> bytes:
    """The KEK from `kek_file`, else $TOKENBENCH_KEK, else `default_file`.

    A missing key file is created with a fresh random key, readable by its owner only (0600);
    an existing key file that others can read or write is refused rather than trusted.
    """
    env = os.environ if environ is None else environ
    if kek_file is None and env.get(KEK_ENV):
        return _decode_kek(env[KEK_ENV], f"${KEK_ENV}")
    path = Path(kek_file if kek_file is not None else default_file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_kek_file(path)
    except OSError as exc:
        raise SeedError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(rng(KEK_BYTES).hex() + "\n")
    return _decode_kek(path.read_text(encoding="ascii"), f"key file {path}")


def _read_kek_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SeedError(f"key file {path} is accessible to others (mode {mode:o}); use 0600")
    return _decode_kek(path.read_text(encoding="ascii", errors="replace"), f"key file {path}")


class SeedCipher:
    """Seals and opens seeds under the KEK; the device serial is the associated data."""

    def __init__(self, kek: bytes, rng: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if len(kek) != KEK_BYTES:
            raise SeedError(f"the key-encryption key must be {KEK_BYTES} bytes")
        self._aead = AESGCM(kek)
        self._rng = rng
        # Keys for other purposes (the console's cookie signing) come from the KEK through
        # HMAC-SHA-256 with a label, so every worker of a server derives the same ones and
        # none of them can open a seed.
        self._derivation_root = hmac.digest(kek, b"tokenbench derived keys", "sha256")

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for `label`'s purpose, stable for this KEK."""
        return hmac.digest(self._derivation_root, label.encode("utf-8"), "sha256")

    @staticmethod
    def _aad(serial: str) -> bytes:
        return AAD_PREFIX + serial.encode("utf-8")

    def seal(self, serial: str, seed: bytes) -> bytes:
        nonce = self._rng(NONCE_BYTES)
        return SEAL_VERSION + nonce + self._aead.encrypt(nonce, bytes(seed), self._aad(serial))

    def open(self, serial: str, sealed: bytes) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != SEAL_VERSION:
            raise SeedError(f"the stored seed of {serial} is damaged")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._aad(serial))
        except InvalidTag:
            raise SeedError(
                f"the stored seed of {serial} does not open: wrong key-encryption key or tampered"
            ) from None


# --- imported records ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedSeed:
    """One token from a seed file. `repr` hides the secret so it cannot end up in a log."""

    serial: str
    secret: bytes
    params: TotpParams
    manufacturer: str | None = None

    def __repr__(self) -> str:
        return (
            f"ImportedSeed(serial={self.serial!r}, params={self.params!r}, "
            f"manufacturer={self.manufacturer!r}, secret=<{len(self.secret)} bytes hidden>)"
        )


def check_serial(serial: object) -> str:
    if not isinstance(serial, str) or not SERIAL_RE.fullmatch(serial):
        raise ValueError("serial must be 9-64 letters, digits or _.:- starting alphanumeric")
    return serial


def _check_unique(seeds: list[ImportedSeed]) -> list[ImportedSeed]:
    if not seeds:
        raise SeedImportError("the file holds no keys")
    seen: set[str] = set()
    for seed in seeds:
        if seed.serial in seen:
            raise SeedImportError(f"serial {seed.serial} appears twice in the file")
        seen.add(seed.serial)
    return seeds


# --- PSKC (RFC 6030) ------------------------------------------------------------------------


def read_pskc(
    source: str | os.PathLike[str] | bytes,
    *,
    password: str | None = None,
    psk: bytes | None = None,
    allow_hotp: bool = False,
) -> list[ImportedSeed]:
    """Every TOTP key of a PSKC file, decrypted and MAC-checked, or one SeedImportError.

    `allow_hotp` exists so tests can read the RFC's HOTP examples; an import refuses HOTP,
    since an IAM hardware MFA device is time-based.
    """
    try:  # parse, decrypt, and refuse the whole file unless every secret is encrypted + MAC'd
        container = open_pskc(source, password=password, psk=psk)
    except PskcFileError as exc:
        raise SeedImportError(str(exc)) from None
    seeds = []
    for index, key in enumerate(container.keys, start=1):
        seeds.append(_pskc_key(index, key, container, allow_hotp, password, psk))
    return _check_unique(seeds)


def _pskc_key(
    index: int,
    key: Key,
    container: PSKC,
    allow_hotp: bool,
    password: str | None,
    psk: bytes | None,
) -> ImportedSeed:
    from pskc.exceptions import PSKCError

    where = f"key package {index}"
    if isinstance(key.serial, str) and SERIAL_RE.fullmatch(key.serial):
        where = f"{where} (serial {key.serial})"
    try:
        secret = key.secret
        interval = key.time_interval
        key.check()
    except PSKCError as exc:
        reason = _one_line(exc)
        if container.encryption.is_encrypted and password is None and psk is None:
            reason = "the file is encrypted: give the password or the pre-shared key"
        elif reason == "MAC value does not match":
            reason = "MAC check failed: wrong password or key, or the file was altered"
        elif reason == "Invalid padding":
            reason = "decryption failed: wrong password or key, or the file was altered"
        raise SeedImportError(f"{where}: {reason}") from None
    except (ValueError, TypeError) as exc:
        raise SeedImportError(f"{where}: {_one_line(exc)}") from None
    if container.mac.algorithm is None and container.encryption.is_encrypted:
        raise SeedImportError(f"{where}: encrypted without a MAC method; refusing unverified data")
    try:
        serial = check_serial(key.serial or key.id)
    except ValueError as exc:
        raise SeedImportError(f"{where}: {exc}") from None
    where = f"key package {index} (serial {serial})"
    if not secret:
        raise SeedImportError(f"{where}: no secret")
    if len(secret) < MIN_SEED_BYTES:
        raise SeedImportError(f"{where}: secret shorter than {MIN_SEED_BYTES} bytes")
    algorithm = key.algorithm or ""
    if algorithm != PSKC_TOTP and not (allow_hotp and algorithm == PSKC_HOTP):
        raise SeedImportError(f"{where}: algorithm {algorithm or 'missing'} is not TOTP")
    try:
        params = TotpParams(
            algorithm=_pskc_hash(key.algorithm_suite),
            digits=key.response_length or 6,
            period=interval if interval is not None else 30,
        )
    except ValueError as exc:
        raise SeedImportError(f"{where}: {exc}") from None
    return ImportedSeed(serial, bytes(secret), params, key.manufacturer)


def _pskc_hash(suite: str | None) -> str:
    return normalize_algorithm(suite) if suite else "SHA1"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- CSV --------------------------------------------------------------------------------------


def read_csv(text: str) -> list[ImportedSeed]:
    """`serial,seed,type,digits,period[,algorithm]` rows; a header row is optional.

    The seed is hex (what token vendors ship in CSV); base32 is accepted when written with a
    `base32:` prefix, so the two can never be confused. `type` must be TOTP.
    """
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [row for row in reader if row and any(map(str.strip, row))]
    except csv.Error as exc:
        raise SeedImportError(f"not a valid CSV file: {_one_line(exc)}") from None
    if rows and [c.strip().lower() for c in rows[0][: len(CSV_FIELDS)]] == list(CSV_FIELDS):
        rows = rows[1:]
    return _check_unique([_csv_row(number, row) for number, row in enumerate(rows, start=1)])


def _csv_row(number: int, row: list[str]) -> ImportedSeed:
    where = f"row {number}"
    cells = [c.strip() for c in row]
    if len(cells) not in (5, 6):
        raise SeedImportError(f"{where}: expected 5 or 6 fields, found {len(cells)}")
    serial, seed_text, kind, digits, period = cells[:5]
    try:
        check_serial(serial)
    except ValueError as exc:
        raise SeedImportError(f"{where}: {exc}") from None
    where = f"{where} (serial {serial})"
    if kind.upper() != "TOTP":
        raise SeedImportError(f"{where}: type {kind!r} is not TOTP")
    secret = _decode_seed(seed_text, where)
    if not digits.isdigit() or int(digits) not in DIGIT_CHOICES:
        raise SeedImportError(f"{where}: digits must be 6 or 8")
    if not period.isdigit() or int(period) <= 0:
        raise SeedImportError(f"{where}: period must be a positive whole number of seconds")
    try:
        params = TotpParams(cells[5] if len(cells) == 6 else "SHA1", int(digits), int(period))
    except ValueError as exc:
        raise SeedImportError(f"{where}: {exc}") from None
    return ImportedSeed(serial, secret, params)


def _decode_seed(text: str, where: str) -> bytes:
    try:
        if text.lower().startswith(BASE32_PREFIX):
            body = text[len(BASE32_PREFIX) :].upper().replace(" ", "")
            secret = base64.b32decode(body + "=" * (-len(body) % 8))
        else:
            if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
                raise ValueError
            secret = bytes.fromhex(text)
    except (ValueError, binascii.Error):
        raise SeedImportError(f"{where}: the seed is neither hex nor base32:...") from None
    if len(secret) < MIN_SEED_BYTES:
        raise SeedImportError(f"{where}: seed shorter than {MIN_SEED_BYTES} bytes")
    return secret


def read_seed_file(
    path: str | os.PathLike[str], *, password: str | None = None, psk: bytes | None = None
) -> list[ImportedSeed]:
    """PSKC or CSV by content (PSKC files are XML)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SeedImportError(f"cannot read {path}: {exc.strerror}") from None
    if data.lstrip().startswith(b"<"):
        return read_pskc(data, password=password, psk=psk)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SeedImportError("neither PSKC (XML) nor UTF-8 CSV") from None
    return read_csv(text)
