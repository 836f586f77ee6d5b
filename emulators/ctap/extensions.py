"""CTAP 2.1 extensions (§12): credProtect, hmac-secret, credBlob, largeBlobKey, minPinLength;
CTAP 2.2's hmac-secret-mc (hmac-secret outputs at makeCredential) and thirdPartyPayment; and
the draft previewSign (its rules in preview_sign.py).

Each extension is only honoured when the device profile lists it; an extension the profile
does not list is ignored (not even type-checked), like a real key that does not know it.
Parsing happens with the rest of the request; hmac-secret's salts are decrypted later, when the
rules run, because that needs the key's PIN protocol state.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import CredProtect, CtapStatus, Ext
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.credentials import CredentialSecret, cred_random
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.preview_sign import (
    GeneratedKey,
    GenerateKeyRequest,
    SignRequest,
    sign,
    signed_outputs,
)
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import Members

HMAC_KEY_AGREEMENT = 0x01
HMAC_SALT_ENC = 0x02
HMAC_SALT_AUTH = 0x03
HMAC_PROTOCOL = 0x04
HMAC_DEFAULT_PROTOCOL = 1
SALT_LEN = 32

ExtensionOutputs = dict[str, CborType]


def _known(profile: DeviceProfile, ext: Members | None, name: str) -> bool:
    return ext is not None and name in ext and name in profile.extensions


def _flag(ext: Members, name: str) -> bool:
    return ext.required(name, bool)


def _large_blob_key(ext: Members) -> bool:
    if ext.raw[Ext.LARGE_BLOB_KEY] is not True:
        raise CtapError(CtapStatus.INVALID_OPTION, "largeBlobKey must be true")
    return True


@dataclass(frozen=True)
class McExtensions:
    """makeCredential extension inputs the profile knows."""

    cred_protect: int | None = None
    hmac_secret: bool = False
    cred_blob: bytes | None = None
    large_blob_key: bool = False
    min_pin_length: bool = False
    hmac_secret_mc: HmacSecretRequest | None = None
    """Salts to evaluate right away; only with hmac-secret itself (as python-fido2 sends)."""
    third_party_payment: bool = False
    preview_sign: GenerateKeyRequest | None = None

    @classmethod
    def parse(cls, ext: Members | None, profile: DeviceProfile) -> McExtensions:
        def known(name: str) -> bool:
            return _known(profile, ext, name)

        if ext is None:
            return cls()
        level = ext.required(Ext.CRED_PROTECT, int) if known(Ext.CRED_PROTECT) else None
        hmac_secret = known(Ext.HMAC_SECRET) and _flag(ext, Ext.HMAC_SECRET)
        salts = ext.raw[Ext.HMAC_SECRET_MC] if known(Ext.HMAC_SECRET_MC) else None
        return cls(
            # An unknown protection level is ignored, as if the extension were absent.
            cred_protect=level if level in tuple(CredProtect) else None,
            hmac_secret=hmac_secret,
            cred_blob=ext.required(Ext.CRED_BLOB, bytes) if known(Ext.CRED_BLOB) else None,
            large_blob_key=known(Ext.LARGE_BLOB_KEY) and _large_blob_key(ext),
            min_pin_length=known(Ext.MIN_PIN_LENGTH) and _flag(ext, Ext.MIN_PIN_LENGTH),
            hmac_secret_mc=(
                HmacSecretRequest.parse(salts, ext.lenient) if salts and hmac_secret else None
            ),
            third_party_payment=(
                known(Ext.THIRD_PARTY_PAYMENT) and _flag(ext, Ext.THIRD_PARTY_PAYMENT)
            ),
            preview_sign=(
                GenerateKeyRequest.parse(ext.raw[Ext.PREVIEW_SIGN], ext.lenient)
                if known(Ext.PREVIEW_SIGN)
                else None
            ),
        )


@dataclass(frozen=True)
class HmacSecretRequest:
    """hmac-secret's getAssertion input as sent: still encrypted."""

    key_agreement: Members
    salt_enc: bytes
    salt_auth: bytes
    protocol: int

    @classmethod
    def parse(cls, value: CborType, lenient: bool = False) -> HmacSecretRequest | None:
        """The input as sent; None when a lenient key skips an incomplete one."""
        members = Members.of(value, "hmac-secret input", lenient)
        for key in (HMAC_KEY_AGREEMENT, HMAC_SALT_ENC, HMAC_SALT_AUTH):
            if key not in members:
                if lenient:
                    return None
                raise CtapError(CtapStatus.MISSING_PARAMETER, f"hmac-secret key {key} missing")
        protocol = members.optional(HMAC_PROTOCOL, int)
        return cls(
            key_agreement=members.required_map(HMAC_KEY_AGREEMENT, "hmac-secret keyAgreement"),
            salt_enc=members.required(HMAC_SALT_ENC, bytes),
            salt_auth=members.required(HMAC_SALT_AUTH, bytes),
            protocol=HMAC_DEFAULT_PROTOCOL if protocol is None else protocol,
        )

    def open(self, key: KeyContext) -> HmacSecretInput:
        """Decrypt the platform's salts with the ECDH shared secret of the given PIN protocol."""
        if self.protocol not in key.profile.pin_uv_auth_protocols:
            raise CtapError(CtapStatus.INVALID_PARAMETER, f"hmac-secret protocol {self.protocol}")
        protocol = key.client_pin.protocol(self.protocol)
        shared = protocol.decapsulate(self.key_agreement.raw)
        if not protocol.verify(shared, self.salt_enc, self.salt_auth):
            raise CtapError(CtapStatus.EXTENSION_FIRST, "hmac-secret saltAuth does not verify")
        salts = protocol.decrypt(shared, self.salt_enc)
        if key.faults.lenient_requests:
            salts = salts[:SALT_LEN]  # a sloppy key hashes the first salt, whatever it was given
        elif len(salts) not in (SALT_LEN, 2 * SALT_LEN):
            raise CtapError(CtapStatus.INVALID_LENGTH, "hmac-secret needs one or two 32-byte salts")
        return HmacSecretInput(
            protocol=self.protocol,
            shared_secret=shared,
            salts=tuple(salts[i : i + SALT_LEN] for i in range(0, len(salts), SALT_LEN)),
        )


@dataclass(frozen=True)
class HmacSecretInput:
    protocol: int
    shared_secret: bytes
    salts: tuple[bytes, ...]


@dataclass(frozen=True)
class GaExtensions:
    """getAssertion extension inputs the profile knows."""

    hmac_secret: HmacSecretRequest | None = None
    cred_blob: bool = False
    large_blob_key: bool = False
    third_party_payment: bool = False
    preview_sign: SignRequest | None = None

    @classmethod
    def parse(cls, ext: Members | None, profile: DeviceProfile) -> GaExtensions:
        def known(name: str) -> bool:
            return _known(profile, ext, name)

        if ext is None:
            return cls()
        hmac_secret = ext.raw[Ext.HMAC_SECRET] if known(Ext.HMAC_SECRET) else None
        return cls(
            hmac_secret=(
                None if hmac_secret is None else HmacSecretRequest.parse(hmac_secret, ext.lenient)
            ),
            cred_blob=known(Ext.CRED_BLOB) and _flag(ext, Ext.CRED_BLOB),
            large_blob_key=known(Ext.LARGE_BLOB_KEY) and _large_blob_key(ext),
            third_party_payment=(
                known(Ext.THIRD_PARTY_PAYMENT) and _flag(ext, Ext.THIRD_PARTY_PAYMENT)
            ),
            preview_sign=(
                SignRequest.parse(ext.raw[Ext.PREVIEW_SIGN], ext.lenient)
                if known(Ext.PREVIEW_SIGN)
                else None
            ),
        )


@dataclass(frozen=True)
class GaExtensionInputs:
    """getAssertion extension inputs ready for use (hmac-secret salts decrypted)."""

    hmac_secret: HmacSecretInput | None = None
    cred_blob: bool = False
    large_blob_key: bool = False
    third_party_payment: bool = False
    preview_sign: SignRequest | None = None

    @classmethod
    def open(cls, key: KeyContext, ext: GaExtensions) -> GaExtensionInputs:
        return cls(
            hmac_secret=None if ext.hmac_secret is None else ext.hmac_secret.open(key),
            cred_blob=ext.cred_blob,
            large_blob_key=ext.large_blob_key,
            third_party_payment=ext.third_party_payment,
            preview_sign=ext.preview_sign,
        )


def stored_cred_blob(key: KeyContext, ext: McExtensions) -> bytes | None:
    """The credBlob to keep with the credential, if it fits maxCredBlobLength."""
    if ext.cred_blob is not None and len(ext.cred_blob) <= key.profile.max_cred_blob_length:
        return ext.cred_blob
    return None


def keeps_payment_flag(key: KeyContext, ext: McExtensions) -> bool:
    """Whether the new credential is marked for third-party payments."""
    return ext.third_party_payment and key.faults.keeps_payment_flag


def open_mc_salts(key: KeyContext, ext: McExtensions) -> HmacSecretInput | None:
    """hmac-secret-mc's salts, decrypted; before the credential exists, so a bad saltAuth
    leaves nothing behind."""
    return None if ext.hmac_secret_mc is None else ext.hmac_secret_mc.open(key)


def _hmac_outputs(key: KeyContext, salts: HmacSecretInput, seed: bytes, uv: bool) -> bytes:
    """HMAC-SHA-256(CredRandom, salt) per salt, encrypted to the platform (§12.5)."""
    cred_key = cred_random(seed, with_uv=uv and not key.faults.one_cred_random)
    outputs = b"".join(hmac.new(cred_key, salt, hashlib.sha256).digest() for salt in salts.salts)
    return key.client_pin.protocol(salts.protocol).encrypt(salts.shared_secret, outputs)


def make_credential_outputs(
    key: KeyContext,
    ext: McExtensions,
    rp_id: str,
    cred_protect: int,
    secret: CredentialSecret,
    *,
    uv: bool,
    mc_salts: HmacSecretInput | None = None,
    generated: GeneratedKey | None = None,
) -> ExtensionOutputs:
    """The extension outputs of a new credential (`secret`), made with or without `uv`;
    `cred_protect` is the level asked for (echoed); `generated` is previewSign's new key."""
    out: ExtensionOutputs = {}
    if ext.cred_protect is not None:
        out[Ext.CRED_PROTECT] = cred_protect
    if ext.hmac_secret:
        out[Ext.HMAC_SECRET] = True
    if mc_salts is not None and secret.hmac_secret and key.faults.hmac_secret_mc:
        out[Ext.HMAC_SECRET_MC] = _hmac_outputs(key, mc_salts, secret.seed, uv)
    if ext.cred_blob is not None:
        out[Ext.CRED_BLOB] = stored_cred_blob(key, ext) is not None
    if ext.min_pin_length and rp_id in key.state.min_pin_length_rp_ids:
        out[Ext.MIN_PIN_LENGTH] = key.client_pin.state.min_pin_length
    if ext.third_party_payment:
        out[Ext.THIRD_PARTY_PAYMENT] = True
    if generated is not None:
        out[Ext.PREVIEW_SIGN] = dict(signed_outputs(generated))
    return out


def get_assertion_outputs(
    key: KeyContext,
    ext: GaExtensionInputs,
    secret: CredentialSecret,
    cred_blob: bytes | None,
    uv: bool,
) -> ExtensionOutputs:
    out: ExtensionOutputs = {}
    if ext.hmac_secret is not None and secret.hmac_secret:
        out[Ext.HMAC_SECRET] = _hmac_outputs(key, ext.hmac_secret, secret.seed, uv)
    if ext.cred_blob:
        out[Ext.CRED_BLOB] = cred_blob if cred_blob is not None else b""
    if ext.third_party_payment:
        out[Ext.THIRD_PARTY_PAYMENT] = secret.third_party_payment
    if ext.preview_sign is not None:
        out[Ext.PREVIEW_SIGN] = dict(sign(key, ext.preview_sign, secret.seed))
    return out
