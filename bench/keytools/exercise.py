"""The WebAuthn-style calls behind `key make-credential` and `key get-assertion`.

python-fido2's `Fido2Client` does the platform's part (PIN token with the right permissions,
hmac-secret salt encryption, the largeBlob array, credProps); we stand in for the person at
the browser: any RP ID is accepted (as `fido2-cred` does), the PIN comes from the secret
options, built-in UV is allowed. Only what the person asked to see is reported: ids, flags,
counters, and the hmac-secret outputs they derived; never the PIN or any key material.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fido2 import cbor
from fido2.client import (
    ClientError,
    DefaultClientDataCollector,
    Fido2Client,
    PinRequiredError,
    UserInteraction,
)
from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2 import AssertionResponse, Ctap2
from fido2.ctap2.extensions import (
    CredBlobExtension,
    CredPropsExtension,
    HmacSecretExtension,
    LargeBlobExtension,
)
from fido2.ctap2.pin import ClientPin
from fido2.webauthn import (
    AttestationObject,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.device_ops import PIN_ERRORS, ctap_error_text, pin_failure
from tokenbench.bench.secret_input import PIN

ALGORITHMS = {"es256": -7, "eddsa": -8, "rs256": -257}
DEFAULT_ALGORITHMS = ("es256", "eddsa")
SALT_LENGTH = HmacSecretExtension.SALT_LEN
USER_ID_LENGTH = 16
CHALLENGE_LENGTH = 32
TIMEOUT_MS = 30_000
FLAGS = {"up": AuthenticatorData.FLAG.UP, "uv": AuthenticatorData.FLAG.UV,
         "be": AuthenticatorData.FLAG.BE, "bs": AuthenticatorData.FLAG.BS}  # fmt: skip


Presence = Callable[[], Callable[[], None] | None]
"""The target's `presence_needed`: a real key's countdown (or rig touch), an emulator's touch."""


class _Person(UserInteraction):
    """The person at the 'browser': hands over the PIN it was given, touches when asked."""

    def __init__(self, pin: str | None, presence: Presence) -> None:
        self._pin, self._presence = pin, presence
        self._stop: Callable[[], None] | None = None
        self._asked = False

    def prompt_up(self) -> None:
        if not self._asked:  # keepalives repeat UPNEEDED: one prompt per call
            self._asked = True
            self._stop = self._presence()

    def request_pin(self, permissions: ClientPin.PERMISSION, rp_id: str | None) -> str | None:
        return self._pin

    def request_uv(self, permissions: ClientPin.PERMISSION, rp_id: str | None) -> bool:
        return True

    def done(self) -> None:
        if self._stop is not None:
            self._stop()
        self._stop, self._asked = None, False


def _any_rp_id(rp_id: str, origin: str) -> bool:
    return True  # the person names the RP ID on purpose, as with fido2-cred / fido2-assert


def _client(device: CtapDevice, rp_id: str, person: _Person) -> Fido2Client:
    collector = DefaultClientDataCollector(f"https://{rp_id}", verify=_any_rp_id)
    extensions = [
        HmacSecretExtension(allow_hmac_secret=True),
        LargeBlobExtension(),
        CredBlobExtension(),
        CredPropsExtension(),
    ]
    return Fido2Client(device, collector, person, extensions)


@contextmanager
def _client_errors(ctap: Ctap2, what: str) -> Iterator[None]:
    """python-fido2's ClientError (wrapping the key's CtapError) as one line naming the error."""
    try:
        yield
    except PinRequiredError:
        raise UserError(f"{what}: the key wants its PIN ({PIN.safe_forms})") from None
    except ClientError as exc:
        cause = exc.cause
        if isinstance(cause, CtapError):
            if cause.code in PIN_ERRORS:
                raise pin_failure(ctap, cause) from None
            if cause.code == CtapError.ERR.NO_CREDENTIALS:
                raise UserError(
                    f"{what}: no matching credential on the key ({ctap_error_text(cause)})"
                ) from None
            raise UserError(f"{what} failed: {ctap_error_text(cause)}") from None
        raise UserError(f"{what} failed: {cause or exc.code.name}") from None
    except CtapError as exc:
        raise UserError(f"{what} failed: {ctap_error_text(exc)}") from None
    except ValueError as exc:  # python-fido2's checks of an extension the key lacks
        raise UserError(f"{what}: {exc}") from None


def _flags(auth_data: AuthenticatorData) -> dict[str, bool]:
    return {name: bool(auth_data.flags & flag) for name, flag in FLAGS.items()}


def _hex(value: bytes | None) -> str | None:
    return bytes(value).hex() if value else None  # python-fido2 gives b"" for a missing output2


# ------------------------------------------------------------------------------ make-credential


@dataclass(frozen=True)
class CredentialRequest:
    """What `key make-credential` asks for."""

    rp_id: str
    user_name: str
    user_id: bytes | None = None
    display_name: str | None = None
    resident: bool = False
    uv: str = UserVerificationRequirement.DISCOURAGED.value
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    hmac_secret: bool = False
    cred_blob: bytes | None = None
    large_blob: bool = False

    def check(self, ctap: Ctap2) -> None:
        """Refuse what the key cannot do before asking it (python-fido2 would drop it)."""
        info = ctap.info
        if self.hmac_secret and "hmac-secret" not in info.extensions:
            raise UserError("this key has no hmac-secret extension")
        if self.cred_blob is not None:
            if "credBlob" not in info.extensions:
                raise UserError("this key has no credBlob extension")
            limit = info.max_cred_blob_length or 0
            if len(self.cred_blob) > limit:
                raise UserError(
                    f"--cred-blob is {len(self.cred_blob)} bytes; this key keeps {limit}"
                )
        if self.large_blob and not self.resident:
            raise UserError("--large-blob needs --resident (largeBlobKey is for discoverable ones)")
        if self.resident and not info.options.get("rk"):
            raise UserError("this key cannot store discoverable credentials (getInfo option rk)")

    def options(self, user_id: bytes) -> PublicKeyCredentialCreationOptions:
        extensions: dict[str, Any] = {"credProps": True}
        if self.hmac_secret:
            extensions["hmacCreateSecret"] = True
        if self.cred_blob is not None:
            extensions["credBlob"] = self.cred_blob
        if self.large_blob:
            extensions["largeBlob"] = {"support": "required"}
        return PublicKeyCredentialCreationOptions(
            rp=PublicKeyCredentialRpEntity(id=self.rp_id, name=self.rp_id),
            user=PublicKeyCredentialUserEntity(
                id=user_id, name=self.user_name, display_name=self.display_name or self.user_name
            ),
            challenge=secrets.token_bytes(CHALLENGE_LENGTH),
            pub_key_cred_params=[
                PublicKeyCredentialParameters(
                    type=PublicKeyCredentialType.PUBLIC_KEY, alg=ALGORITHMS[name]
                )
                for name in self.algorithms
            ],
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=(
                    ResidentKeyRequirement.REQUIRED
                    if self.resident
                    else ResidentKeyRequirement.DISCOURAGED
                ),
                user_verification=UserVerificationRequirement(self.uv),
            ),
            extensions=extensions,
        )


def make_credential(
    device: CtapDevice,
    ctap: Ctap2,
    request: CredentialRequest,
    pin: str | None,
    presence: Presence,
) -> dict[str, Any]:
    request.check(ctap)
    user_id = request.user_id or secrets.token_bytes(USER_ID_LENGTH)
    person = _Person(pin, presence)
    with _client_errors(ctap, "make-credential"):
        try:
            response = _client(device, request.rp_id, person).make_credential(
                request.options(user_id)
            )
        finally:
            person.done()
    attestation: AttestationObject = response.response.attestation_object
    auth_data = attestation.auth_data
    credential = auth_data.credential_data
    if credential is None:  # a key that answers without attested credential data
        raise UserError("make-credential: the key returned no credential data")
    results = response.client_extension_results
    cred_props, large_blob = results.cred_props, results.large_blob
    key_extensions: Mapping[str, Any] = auth_data.extensions or {}
    return {
        "rp_id": request.rp_id,
        "credential_id": credential.credential_id.hex(),
        "user": {
            "id": user_id.hex(),
            "name": request.user_name,
            "display_name": request.display_name or request.user_name,
        },
        "resident": None if cred_props is None else cred_props.rk,
        "aaguid": str(credential.aaguid),
        "algorithm": credential.public_key[3],
        "public_key_cose": cbor.encode(dict(credential.public_key)).hex(),
        "attestation_format": attestation.fmt,
        "sign_count": auth_data.counter,
        "flags": _flags(auth_data),
        "hmac_secret": results.hmac_create_secret if request.hmac_secret else None,
        "cred_blob_stored": key_extensions.get("credBlob") if request.cred_blob else None,
        "large_blob_supported": None if large_blob is None else large_blob.supported,
    }


# ------------------------------------------------------------------------------ get-assertion


@dataclass(frozen=True)
class AssertionRequest:
    """What `key get-assertion` asks for; no credential ids: the key's discoverable ones."""

    rp_id: str
    credential_ids: tuple[bytes, ...] = ()
    uv: str = UserVerificationRequirement.DISCOURAGED.value
    salts: tuple[bytes, ...] = ()
    cred_blob: bool = False
    large_blob_read: bool = False
    large_blob_write: bytes | None = None

    def check(self, ctap: Ctap2) -> None:
        info = ctap.info
        if any(not cid for cid in self.credential_ids):
            raise UserError("--credential-id: an empty credential id")
        if self.salts:
            if "hmac-secret" not in info.extensions:
                raise UserError("this key has no hmac-secret extension")
            if len(self.salts) > 2 or any(len(s) != SALT_LENGTH for s in self.salts):
                raise UserError(f"--hmac-salt: one or two salts of {SALT_LENGTH} bytes (hex)")
        if self.cred_blob and "credBlob" not in info.extensions:
            raise UserError("this key has no credBlob extension")
        if self.large_blob_read and self.large_blob_write is not None:
            raise UserError("--large-blob-read and --large-blob-write: one at a time")
        if (self.large_blob_read or self.large_blob_write is not None) and not info.options.get(
            "largeBlobs"
        ):
            raise UserError("this key has no large-blob storage (getInfo option largeBlobs)")

    def options(self) -> PublicKeyCredentialRequestOptions:
        extensions: dict[str, Any] = {}
        if self.salts:
            extensions["hmacGetSecret"] = {
                "salt1": self.salts[0],
                **({"salt2": self.salts[1]} if len(self.salts) > 1 else {}),
            }
        if self.cred_blob:
            extensions["getCredBlob"] = True
        if self.large_blob_read:
            extensions["largeBlob"] = {"read": True}
        elif self.large_blob_write is not None:
            extensions["largeBlob"] = {"write": self.large_blob_write}
        return PublicKeyCredentialRequestOptions(
            challenge=secrets.token_bytes(CHALLENGE_LENGTH),
            timeout=TIMEOUT_MS,
            rp_id=self.rp_id,
            allow_credentials=[
                PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=cid)
                for cid in self.credential_ids
            ]
            or None,
            user_verification=UserVerificationRequirement(self.uv),
            extensions=extensions,
        )


def get_assertion(
    device: CtapDevice,
    ctap: Ctap2,
    request: AssertionRequest,
    pin: str | None,
    presence: Presence,
) -> dict[str, Any]:
    request.check(ctap)
    found: list[dict[str, Any]] = []
    person = _Person(pin, presence)
    with _client_errors(ctap, "get-assertion"):
        try:
            selection = _client(device, request.rp_id, person).get_assertion(request.options())
        finally:
            person.done()
        for index, raw in enumerate(selection.get_assertions()):
            # the extension outputs (largeBlob read/write included) are made here, lazily
            response = selection.get_response(index)
            assertion = _assertion_json(raw, response.client_extension_results, request)
            assertion["client_data_hash"] = response.response.client_data.hash.hex()
            found.append(assertion)
    return {"rp_id": request.rp_id, "assertions": found}


def _assertion_json(
    raw: AssertionResponse, results: Any, request: AssertionRequest
) -> dict[str, Any]:
    user = raw.user or {}
    hmac = results.hmac_get_secret
    large_blob = results.large_blob
    key_extensions: Mapping[str, Any] = raw.auth_data.extensions or {}
    return {
        "credential_id": bytes(raw.credential["id"]).hex(),
        "user": {
            "id": _hex(user.get("id")),
            "name": user.get("name"),
            "display_name": user.get("displayName"),
        }
        if user
        else None,
        "sign_count": raw.auth_data.counter,
        "flags": _flags(raw.auth_data),
        "authenticator_data": bytes(raw.auth_data).hex(),
        "signature": raw.signature.hex(),
        "hmac_secret": None
        if hmac is None
        else {"output1": _hex(hmac.output1), "output2": _hex(hmac.output2)},
        "cred_blob": _hex(key_extensions.get("credBlob")) if request.cred_blob else None,
        "large_blob": _hex(large_blob.blob) if large_blob is not None and large_blob.blob else None,
        "large_blob_written": None if large_blob is None else large_blob.written,
    }
