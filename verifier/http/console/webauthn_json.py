"""The JSON the console page exchanges for WebAuthn, in WebAuthn Level 3's JSON forms.

Out: `{"ceremonyId": ..., "publicKey": PublicKeyCredentialCreationOptionsJSON}` (or
`...RequestOptionsJSON`), binary members base64url without padding (what the library's
`registration_options` / `authentication_options` already give).
In: `{"ceremonyId": ..., "credential": RegistrationResponseJSON}` (or AuthenticationResponseJSON),
as `PublicKeyCredential.toJSON()` or python-fido2's `dict(response)` produce them. Members this
console does not use (transports, publicKeyAlgorithm, extension results...) are ignored; the
members it uses are parsed strictly, before any rule runs.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

PUBLIC_KEY_TYPE = "public-key"
MAX_FIELD_CHARS = 64 * 1024  # far above any real attestation; bounds the work per request
MAX_CEREMONY_ID_CHARS = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class WebAuthnJsonError(ValueError):
    """The request body is not the JSON this endpoint expects (one line, safe to show)."""


@dataclass(frozen=True)
class RegistrationAnswer:
    ceremony_id: str
    credential_id: bytes
    client_data_json: bytes
    attestation_object: bytes


@dataclass(frozen=True)
class AssertionAnswer:
    ceremony_id: str
    credential_id: bytes
    client_data_json: bytes
    authenticator_data: bytes
    signature: bytes
    user_handle: bytes | None


def b64url_decode(value: object, what: str) -> bytes:
    """Strict base64url (padding optional): anything else is a WebAuthnJsonError."""
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
        raise WebAuthnJsonError(f"{what} must be a base64url string")
    if not _BASE64URL.fullmatch(value) or len(value.rstrip("=")) % 4 == 1:
        raise WebAuthnJsonError(f"{what} is not base64url")
    bare = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise WebAuthnJsonError(f"{what} is not base64url") from None


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def ceremony_payload(ceremony_id: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"ceremonyId": ceremony_id, "publicKey": options}


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebAuthnJsonError(f"{what} must be a JSON object")
    return value


def _credential(body: object) -> tuple[str, bytes, dict[str, Any]]:
    data = _object(body, "the request body")
    ceremony_id = data.get("ceremonyId")
    if not isinstance(ceremony_id, str) or not 0 < len(ceremony_id) <= MAX_CEREMONY_ID_CHARS:
        raise WebAuthnJsonError("ceremonyId is missing")
    credential = _object(data.get("credential"), "credential")
    if credential.get("type") != PUBLIC_KEY_TYPE:
        raise WebAuthnJsonError(f"credential type must be {PUBLIC_KEY_TYPE!r}")
    raw_id = b64url_decode(credential.get("rawId"), "rawId")
    if b64url_decode(credential.get("id"), "id") != raw_id:
        raise WebAuthnJsonError("id and rawId differ")
    response = _object(credential.get("response"), "response")
    return ceremony_id, raw_id, response


def parse_registration(body: object) -> RegistrationAnswer:
    ceremony_id, raw_id, response = _credential(body)
    return RegistrationAnswer(
        ceremony_id,
        raw_id,
        b64url_decode(response.get("clientDataJSON"), "clientDataJSON"),
        b64url_decode(response.get("attestationObject"), "attestationObject"),
    )


def parse_assertion(body: object) -> AssertionAnswer:
    ceremony_id, raw_id, response = _credential(body)
    handle = response.get("userHandle")
    return AssertionAnswer(
        ceremony_id,
        raw_id,
        b64url_decode(response.get("clientDataJSON"), "clientDataJSON"),
        b64url_decode(response.get("authenticatorData"), "authenticatorData"),
        b64url_decode(response.get("signature"), "signature"),
        None if handle is None else b64url_decode(handle, "userHandle"),
    )
