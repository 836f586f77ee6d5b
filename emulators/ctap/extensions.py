"""CTAP 2.1 extensions (§12): credProtect, hmac-secret, credBlob, largeBlobKey, minPinLength.

Each extension is only honoured when the device profile lists it; an extension the profile
does not list is ignored, like a real key that does not know it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenbench.emulators.ctap.constants import CredProtect, CtapStatus, Ext
from tokenbench.emulators.ctap.credentials import CredentialSecret, cred_random
from tokenbench.emulators.ctap.errors import CtapError

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator

HMAC_KEY_AGREEMENT = 0x01
HMAC_SALT_ENC = 0x02
HMAC_SALT_AUTH = 0x03
HMAC_PROTOCOL = 0x04
SALT_LEN = 32


@dataclass
class McExtensions:
    cred_protect: int | None = None
    hmac_secret: bool = False
    cred_blob: bytes | None = None
    large_blob_key: bool = False
    min_pin_length: bool = False


@dataclass
class HmacSecretInput:
    protocol: int
    shared_secret: bytes
    salts: list[bytes]


@dataclass
class GaExtensions:
    hmac_secret: HmacSecretInput | None = None
    cred_blob: bool = False
    large_blob_key: bool = False


def _enabled(auth: Authenticator, name: str, ext: dict[Any, Any]) -> bool:
    return name in ext and name in auth.profile.extensions


def parse_make_credential(auth: Authenticator, ext: dict[Any, Any] | None) -> McExtensions:
    out = McExtensions()
    if not ext:
        return out
    if _enabled(auth, Ext.CRED_PROTECT, ext):
        level = ext[Ext.CRED_PROTECT]
        if not isinstance(level, int) or isinstance(level, bool):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "credProtect must be an integer")
        if level in tuple(CredProtect):
            out.cred_protect = level
    if _enabled(auth, Ext.HMAC_SECRET, ext):
        out.hmac_secret = _flag(ext[Ext.HMAC_SECRET], Ext.HMAC_SECRET)
    if _enabled(auth, Ext.CRED_BLOB, ext):
        blob = ext[Ext.CRED_BLOB]
        if not isinstance(blob, bytes):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "credBlob must be bytes")
        out.cred_blob = blob
    if _enabled(auth, Ext.LARGE_BLOB_KEY, ext):
        if ext[Ext.LARGE_BLOB_KEY] is not True:
            raise CtapError(CtapStatus.INVALID_OPTION, "largeBlobKey must be true")
        out.large_blob_key = True
    if _enabled(auth, Ext.MIN_PIN_LENGTH, ext):
        out.min_pin_length = _flag(ext[Ext.MIN_PIN_LENGTH], Ext.MIN_PIN_LENGTH)
    return out


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, f"{name} must be a boolean")
    return value


def stored_cred_blob(auth: Authenticator, ext: McExtensions) -> bytes | None:
    """The credBlob to keep with the credential, if it fits maxCredBlobLength."""
    if ext.cred_blob is not None and len(ext.cred_blob) <= auth.profile.max_cred_blob_length:
        return ext.cred_blob
    return None


def make_credential_outputs(
    auth: Authenticator, ext: McExtensions, rp_id: str, cred_protect: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ext.cred_protect is not None:
        out[Ext.CRED_PROTECT] = cred_protect
    if ext.hmac_secret:
        out[Ext.HMAC_SECRET] = True
    if ext.cred_blob is not None:
        out[Ext.CRED_BLOB] = stored_cred_blob(auth, ext) is not None
    if ext.min_pin_length and rp_id in auth.state.min_pin_length_rp_ids:
        out[Ext.MIN_PIN_LENGTH] = auth.client_pin.state.min_pin_length
    return out


def parse_get_assertion(auth: Authenticator, ext: dict[Any, Any] | None) -> GaExtensions:
    out = GaExtensions()
    if not ext:
        return out
    if _enabled(auth, Ext.HMAC_SECRET, ext):
        out.hmac_secret = _parse_hmac_secret(auth, ext[Ext.HMAC_SECRET])
    if _enabled(auth, Ext.CRED_BLOB, ext):
        out.cred_blob = _flag(ext[Ext.CRED_BLOB], Ext.CRED_BLOB)
    if _enabled(auth, Ext.LARGE_BLOB_KEY, ext):
        if ext[Ext.LARGE_BLOB_KEY] is not True:
            raise CtapError(CtapStatus.INVALID_OPTION, "largeBlobKey must be true")
        out.large_blob_key = True
    return out


def _parse_hmac_secret(auth: Authenticator, value: Any) -> HmacSecretInput:
    """Decrypt the platform's salts with the ECDH shared secret of the given PIN protocol."""
    if not isinstance(value, dict):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "hmac-secret input must be a map")
    for key in (HMAC_KEY_AGREEMENT, HMAC_SALT_ENC, HMAC_SALT_AUTH):
        if key not in value:
            raise CtapError(CtapStatus.MISSING_PARAMETER, f"hmac-secret key {key} missing")
    key_agreement = value[HMAC_KEY_AGREEMENT]
    salt_enc = value[HMAC_SALT_ENC]
    salt_auth = value[HMAC_SALT_AUTH]
    version = value.get(HMAC_PROTOCOL, 1)
    if (
        not isinstance(key_agreement, dict)
        or not isinstance(salt_enc, bytes)
        or not isinstance(salt_auth, bytes)
        or not isinstance(version, int)
    ):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "hmac-secret input types")
    if version not in auth.profile.pin_uv_auth_protocols:
        raise CtapError(CtapStatus.INVALID_PARAMETER, f"hmac-secret protocol {version}")
    protocol = auth.client_pin.protocol(version)
    shared = protocol.decapsulate(key_agreement)
    if not protocol.verify(shared, salt_enc, salt_auth):
        raise CtapError(CtapStatus.EXTENSION_FIRST, "hmac-secret saltAuth does not verify")
    salts = protocol.decrypt(shared, salt_enc)
    if len(salts) not in (SALT_LEN, 2 * SALT_LEN):
        raise CtapError(CtapStatus.INVALID_LENGTH, "hmac-secret needs one or two 32-byte salts")
    return HmacSecretInput(
        protocol=version,
        shared_secret=shared,
        salts=[salts[i : i + SALT_LEN] for i in range(0, len(salts), SALT_LEN)],
    )


def get_assertion_outputs(
    auth: Authenticator,
    ext: GaExtensions,
    secret: CredentialSecret,
    cred_blob: bytes | None,
    uv: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ext.hmac_secret is not None and secret.hmac_secret:
        hs = ext.hmac_secret
        key = cred_random(secret.seed, with_uv=uv)
        outputs = b"".join(hmac.new(key, salt, hashlib.sha256).digest() for salt in hs.salts)
        out[Ext.HMAC_SECRET] = auth.client_pin.protocol(hs.protocol).encrypt(
            hs.shared_secret, outputs
        )
    if ext.cred_blob:
        out[Ext.CRED_BLOB] = cred_blob if cred_blob is not None else b""
    return out
