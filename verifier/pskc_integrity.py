"""Opening a PSKC (RFC 6030) seed file so that a tampered one is refused as a whole.

python-pskc checks a ValueMAC only where one is present and never for a PlainValue, so a
file in which one package's EncryptedValue was swapped for a PlainValue, or its ValueMAC
deleted, opens with the attacker's seed. Here an encrypted file must be intact: a MACMethod
with an encrypted MACKey, and every key's secret (and any other encrypted value) encrypted
with a ValueMAC that we check ourselves, per RFC 6030 section 6.1.1: HMAC over the
CipherValue (IV || ciphertext) under the decrypted MAC key. One implementation, used by the
verifier's import and by the `totp pskc` vendor-side check; it imports nothing from emulators.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
from typing import TYPE_CHECKING, Any

from tokenbench.verifier.errors import VerifierError

if TYPE_CHECKING:
    from pskc import PSKC
    from pskc.key import Key

# python-pskc keeps each Data field in the attribute "_<name>": bytes/int when plain, an
# EncryptedValue when encrypted (pskc.key.DataTypeProperty). We check what it will decrypt.
DATA_FIELDS = ("secret", "counter", "time_offset", "time_interval", "time_drift")
_HMAC_RE = re.compile(r"(?:^|#)hmac-(sha1|sha224|sha256|sha384|sha512)$")
_SAFE_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
RETRY_HINT = "wrong password or key, or the file was altered"


class PskcFileError(VerifierError):
    """A PSKC file was refused as a whole: unreadable, not decryptable or not intact."""


def open_pskc(
    source: str | os.PathLike[str] | bytes, *, password: str | None = None, psk: bytes | None = None
) -> PSKC:
    """The parsed container with its key set, checked intact and every value read once.

    After this returns, reading any key's secret or numbers cannot fail; before, any
    problem is one `PskcFileError` line and the caller keeps nothing from the file.
    """
    import pskc  # local: only seed files need it
    from pskc.exceptions import PSKCError

    try:
        container = pskc.PSKC(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (PSKCError, ValueError, TypeError) as exc:
        raise PskcFileError(f"not a valid PSKC file: {_one_line(exc)}") from None
    except OSError as exc:
        raise PskcFileError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        if psk is not None:
            container.encryption.key = bytes(psk)
        elif password is not None:
            container.encryption.derive_key(password)
    except (PSKCError, ValueError, TypeError) as exc:
        raise PskcFileError(f"cannot derive the decryption key: {_one_line(exc)}") from None
    if not container.keys:
        raise PskcFileError("the file holds no keys")
    check_intact(container, keyed=password is not None or psk is not None)
    for index, key in enumerate(container.keys, start=1):
        try:
            for field in DATA_FIELDS:
                getattr(key, field)
        except (PSKCError, ValueError, TypeError) as exc:
            raise PskcFileError(f"{package_name(index, key)}: {_one_line(exc)}") from None
    return container


def package_name(index: int, key: Key) -> str:
    """`key package N (serial S)`, or `(Id I)`; a name that is not plainly safe is left out."""
    for label, value in (("serial", key.serial), ("Id", key.id)):
        if isinstance(value, str) and _SAFE_NAME_RE.fullmatch(value):
            return f"key package {index} ({label} {value})"
    return f"key package {index}"


def is_encrypted(container: PSKC) -> bool:
    """Whether anything in the file claims protection: then all of it must be protected."""
    from pskc.key import EncryptedValue

    encryption = container.encryption
    if encryption.algorithm or encryption.key_names or encryption.derivation.algorithm:
        return True
    if container.mac.algorithm or getattr(container.mac, "_key", None) is not None:
        return True
    return any(
        isinstance(_stored(key, field), EncryptedValue)
        for key in container.keys
        for field in DATA_FIELDS
    )


def check_intact(container: PSKC, *, keyed: bool) -> None:
    """Refuse the file unless every key's secret is encrypted under a verified ValueMAC.

    `keyed` says the caller gave a password or key: then a file with no encryption at all is
    refused too, or an attacker could strip it and hand over plain seeds of their own.
    """
    if not is_encrypted(container):
        if keyed:
            raise PskcFileError(
                "the file is not encrypted, but a password or key was given: refusing unprotected"
                " seeds"
            )
        return
    if container.encryption.key is None:
        raise PskcFileError("the file is encrypted: give the password or the pre-shared key")
    if container.encryption.iv:
        raise PskcFileError("the file carries a separate IV that no MAC covers; refusing it")
    mac_key = _mac_key(container)
    digest = _hmac_hash(container.mac.algorithm)
    for index, key in enumerate(container.keys, start=1):
        for field in DATA_FIELDS:
            problem = _field_problem(_stored(key, field), field, mac_key, digest)
            if problem:
                raise PskcFileError(f"{package_name(index, key)}: {problem}; refusing the file")


def _stored(key: Key, field: str) -> Any:
    return vars(key).get(f"_{field}")


def _mac_key(container: PSKC) -> bytes:
    from pskc.exceptions import PSKCError
    from pskc.key import EncryptedValue

    if not container.mac.algorithm or not isinstance(
        getattr(container.mac, "_key", None), EncryptedValue
    ):
        raise PskcFileError("no MACMethod with an encrypted MACKey: the values cannot be verified")
    try:
        key = container.mac.key
    except (PSKCError, ValueError, TypeError):
        raise PskcFileError(f"the MAC key does not decrypt: {RETRY_HINT}") from None
    if not key:
        raise PskcFileError("the MAC key is empty")
    return key


def _hmac_hash(algorithm: str | None) -> str:
    match = _HMAC_RE.search((algorithm or "").lower())
    if match is None:
        raise PskcFileError(f"unsupported MAC algorithm {_one_line_text(str(algorithm))}")
    return match.group(1)


def _field_problem(value: Any, field: str, mac_key: bytes, digest: str) -> str | None:
    """What is wrong with one stored Data value of an encrypted file, or None."""
    from pskc.key import EncryptedValue

    name = "the secret" if field == "secret" else f"its {field.replace('_', ' ')}"
    if value is None:
        return "no secret" if field == "secret" else None
    if not isinstance(value, EncryptedValue):
        if field != "secret":
            return None  # RFC 6030 lets counters and intervals travel in the clear
        return f"{name} is not encrypted (a plain value in an encrypted file)"
    if not value.mac_value:
        return f"{name} has no ValueMAC"
    expected = hmac.new(mac_key, value.cipher_value, getattr(hashlib, digest)).digest()
    if not hmac.compare_digest(expected, value.mac_value):
        return f"MAC check failed for {name}: {RETRY_HINT}"
    return None


def _one_line(exc: BaseException) -> str:
    return _one_line_text(str(exc)) or type(exc).__name__


def _one_line_text(text: str) -> str:
    text = text.strip()
    first = text.splitlines()[0] if text else ""
    return "".join(c if c.isprintable() else "?" for c in first)[:200]
