"""The seed file a token vendor ships with a batch: RFC 6030 PSKC, through python-pskc.

Each token becomes one KeyPackage: DeviceInfo (Manufacturer, SerialNo, Model, StartDate = the
day it was made), a Key with the TOTP algorithm URN, its hash as the algorithm Suite, a
decimal ResponseFormat of the token's length, Data with Time (T0 = 0) and TimeInterval, and
an OTP KeyUsage policy. The secrets are encrypted AES-128-CBC, with an HMAC-SHA1 MAC over
each value, under either a pre-shared transport key or a PBKDF2 password.
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pskc
from pskc.exceptions import DecryptionError, PSKCError

from tokenbench.emulators.totp.errors import PskcError
from tokenbench.emulators.totp.storage import write_private_file
from tokenbench.emulators.totp.token import HardwareTotpToken

TOTP_ALGORITHM_URN = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
ENCRYPTION_ALGORITHM = "aes128-cbc"
MAC_ALGORITHM = "hmac-sha1"
PSK_BYTES = 16  # AES-128
PSK_KEY_NAME = "Pre-shared-key"
PASSWORD_KEY_NAME = "Batch password"
PBKDF2_ITERATIONS = 100_000
KEY_USAGE_OTP = "OTP"
RESPONSE_ENCODING = "DECIMAL"


def write_pskc(
    tokens: Sequence[HardwareTotpToken],
    path: str | os.PathLike[str],
    *,
    psk: bytes | None = None,
    password: str | None = None,
) -> None:
    """Write the tokens' seeds to `path` (atomically, mode 0600), encrypted one of two ways."""
    if (psk is None) == (password is None):
        raise PskcError("a PSKC file needs exactly one of a pre-shared key and a password")
    if psk is not None and len(psk) != PSK_BYTES:
        raise PskcError(f"the pre-shared key must be {PSK_BYTES} bytes (AES-128), not {len(psk)}")
    if password is not None and not password:
        raise PskcError("the PSKC password is empty")
    if not tokens:
        raise PskcError("no tokens to write")
    container = pskc.PSKC()
    for token in tokens:
        entry = container.add_key(
            id=token.serial,
            algorithm=TOTP_ALGORITHM_URN,
            secret=token._provisioning_secret(),
            manufacturer=token.manufacturer,
            serial=token.serial,
            model=token.model,
            start_date=datetime.datetime.fromtimestamp(token.manufactured_at, datetime.UTC),
            algorithm_suite=f"HMAC-{token.algorithm}",
            response_encoding=RESPONSE_ENCODING,
            response_length=token.digits,
            time_offset=0,
            time_interval=token.period,
        )
        entry.policy.key_usage = [KEY_USAGE_OTP]  # a list: add_key's keywords are typed scalar
    if psk is not None:
        container.encryption.setup_preshared_key(
            key=psk, algorithm=ENCRYPTION_ALGORITHM, key_name=PSK_KEY_NAME
        )
    else:
        assert password is not None  # exactly one of psk and password, checked above
        container.encryption.setup_pbkdf2(
            password,
            algorithm=ENCRYPTION_ALGORITHM,
            key_name=PASSWORD_KEY_NAME,
            iterations=PBKDF2_ITERATIONS,
        )
    container.mac.setup(algorithm=MAC_ALGORITHM)
    buffer = io.BytesIO()
    container.write(buffer)
    write_private_file(path, buffer.getvalue())


@dataclass(frozen=True)
class PskcKeyInfo:
    """What a PSKC file says about one key, without its secret."""

    serial: str | None
    manufacturer: str | None
    model: str | None
    algorithm: str | None
    suite: str | None
    digits: int | None
    period: int | None
    secret_bytes: int


def inspect_pskc(
    path: str | os.PathLike[str], *, psk: bytes | None = None, password: str | None = None
) -> list[PskcKeyInfo]:
    """Open a PSKC file, decrypt every key; describe the keys (no secrets).

    python-pskc checks a ValueMAC only where one is present: this is not the tamper check.
    That is `tokenbench.verifier.pskc_integrity`, which `totp pskc` and the import run.
    """
    if not os.path.isfile(path):
        raise PskcError(f"no such PSKC file: {path}")
    try:
        container = pskc.PSKC(os.fspath(path))
        if password is not None:
            container.encryption.derive_key(password)
        elif psk is not None:
            container.encryption.key = psk
        keys = []
        for key in container.keys:
            secret = key.secret
            keys.append(
                PskcKeyInfo(
                    serial=key.serial,
                    manufacturer=key.manufacturer,
                    model=key.model,
                    algorithm=key.algorithm,
                    suite=key.algorithm_suite,
                    digits=key.response_length,
                    period=key.time_interval,
                    secret_bytes=len(secret or b""),
                )
            )
    except OSError as exc:
        raise PskcError(f"cannot read {path}: {exc.strerror or exc}") from None
    except DecryptionError as exc:
        raise PskcError(
            f"{path} does not decrypt: wrong key or password, or the file was altered ({exc})"
        ) from None
    except (PSKCError, ValueError) as exc:  # python-pskc raises ValueError for bad numbers
        raise PskcError(f"{path} is not a usable PSKC file: {exc}") from None
    if not keys:
        raise PskcError(f"{path} holds no keys")
    return keys
