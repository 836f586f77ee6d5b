"""A relying party's options JSON -> python-fido2's option objects, or one line saying why not.

Servers send PublicKeyCredentialCreationOptions / RequestOptions as JSON with base64url binary
fields (WebAuthn Level 3 `PublicKeyCredentialCreationOptionsJSON`), either bare or wrapped as
`{"publicKey": {...}}` (what `navigator.credentials.create()` takes, and what python-fido2's
`Fido2Server` and some other libraries return). python-fido2's `from_dict` parses both binary
encodings, but on bad input it raises whatever its dataclasses hit (KeyError, TypeError,
binascii errors, ...): here every one of those becomes an `OptionsError` naming the problem.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    UserVerificationRequirement,
)

from tokenbench.bench.errors import UserError

WRAPPER = "publicKey"
CREATE_REQUIRED = ("rp", "user", "challenge", "pubKeyCredParams")
GET_REQUIRED = ("challenge",)
DESCRIPTOR_LISTS = ("excludeCredentials", "allowCredentials")
TIMEOUT = "timeout"
MIN_TIMEOUT_MS, MAX_TIMEOUT_MS = 10_000, 600_000  # what browsers clamp a server's timeout to
BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")

_Options = TypeVar(
    "_Options", PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions
)


UV_MEMBER = "userVerification"
UvPolicy = Callable[[object], str]
"""Given the options' userVerification as sent (None if absent), the value to use."""


class OptionsError(UserError):
    """Options JSON that is not what a relying party sends: one line, never a traceback."""


def _as_mapping(data: object, what: str) -> Mapping[str, Any]:
    if isinstance(data, str | bytes | bytearray):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
            raise OptionsError(f"{what} are not JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping):
        raise OptionsError(f"{what} must be a JSON object, not {type(data).__name__}")
    inner = data[WRAPPER] if WRAPPER in data and "challenge" not in data else data
    if not isinstance(inner, Mapping):
        raise OptionsError(f"{what}: {WRAPPER!r} must be a JSON object")
    return inner


def _check_base64url(value: object, where: str, what: str) -> None:
    """python-fido2 decodes leniently (skips bad characters, takes a number as a length):
    a server bug would pass unseen, so the binary fields are checked first."""
    if isinstance(value, bytes | bytearray):  # a parsed-in-process caller may pass bytes
        return
    if not isinstance(value, str) or not value or not BASE64URL.fullmatch(value):
        raise OptionsError(f"{what}: {where} must be a non-empty base64url string")


def _check_binary_fields(fields: Mapping[str, Any], what: str) -> None:
    _check_base64url(fields.get("challenge"), "challenge", what)
    user = fields.get("user")
    if isinstance(user, Mapping):
        _check_base64url(user.get("id"), "user.id", what)
    params = fields.get("pubKeyCredParams")
    if params is not None and not (
        isinstance(params, list) and all(isinstance(p, Mapping) for p in params)
    ):
        raise OptionsError(f"{what}: pubKeyCredParams must be a list of objects")
    for name in DESCRIPTOR_LISTS:
        listed = fields.get(name)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise OptionsError(f"{what}: {name} must be a list")
        for index, descriptor in enumerate(listed):
            where = f"{name}[{index}].id"
            _check_base64url(
                descriptor.get("id") if isinstance(descriptor, Mapping) else None, where, what
            )


def _with_uv(fields: Mapping[str, Any], holder: str | None, decide: UvPolicy) -> Mapping[str, Any]:
    """`fields` with userVerification (top-level, or inside `holder`) as `decide` says: set
    on the JSON before parsing, so python-fido2 parses the options once."""
    if holder is None:
        return {**fields, UV_MEMBER: decide(fields.get(UV_MEMBER))}
    inner = fields.get(holder) or {}
    if not isinstance(inner, Mapping):
        return fields  # from_dict refuses it below, in one line
    return {**fields, holder: {**inner, UV_MEMBER: decide(inner.get(UV_MEMBER))}}


def _clamped_timeout(fields: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """The timeout brought into the range a browser allows (WebAuthn Level 3 §5.1.3: clients
    may clamp it); python-fido2 would start a timer of any length, and one past the
    platform's time_t dies in its timer thread."""
    timeout = fields.get(TIMEOUT)
    if timeout is None:
        return fields
    if isinstance(timeout, str):  # some servers quote it; python-fido2 would int() it
        try:
            timeout = float(timeout)
        except ValueError:
            timeout = None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise OptionsError(f"{what}: timeout must be a number of milliseconds")
    if timeout != timeout:  # NaN (json.loads reads it)
        timeout = MAX_TIMEOUT_MS
    return {**fields, TIMEOUT: int(min(max(timeout, MIN_TIMEOUT_MS), MAX_TIMEOUT_MS))}


def _parse(
    cls: type[_Options],
    data: object,
    required: tuple[str, ...],
    what: str,
    uv: tuple[str | None, UvPolicy] | None,
) -> _Options:
    fields = _clamped_timeout(_as_mapping(data, what), what)
    if uv is not None:
        fields = _with_uv(fields, *uv)
    missing = [name for name in required if fields.get(name) is None]
    if missing:
        raise OptionsError(f"{what} lack {', '.join(missing)}")
    _check_binary_fields(fields, what)
    try:
        return cls.from_dict(fields)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionsError(f"{what} are malformed: {detail[:200]}") from None


def creation_options(
    data: object, user_verification: UvPolicy | None = None
) -> PublicKeyCredentialCreationOptions:
    """PublicKeyCredentialCreationOptions from JSON text or a parsed JSON object;
    `user_verification` may rewrite authenticatorSelection.userVerification first."""
    uv = None if user_verification is None else ("authenticatorSelection", user_verification)
    return _parse(PublicKeyCredentialCreationOptions, data, CREATE_REQUIRED, "creation options", uv)


def request_options(
    data: object, user_verification: UvPolicy | None = None
) -> PublicKeyCredentialRequestOptions:
    """PublicKeyCredentialRequestOptions from JSON text or a parsed JSON object;
    `user_verification` may rewrite userVerification first."""
    uv = None if user_verification is None else (None, user_verification)
    return _parse(PublicKeyCredentialRequestOptions, data, GET_REQUIRED, "request options", uv)


UV_CHOICES = {
    "on": UserVerificationRequirement.REQUIRED,
    "off": UserVerificationRequirement.DISCOURAGED,
}
"""`uv=on|off` overrides the options' userVerification (the server's own choice otherwise)."""
