"""Decoding and type-checking CTAP2 request parameters.

The spec's error codes for bad input are specific: a missing required key is
MISSING_PARAMETER, a value of the wrong CBOR type is CBOR_UNEXPECTED_TYPE, undecodable bytes
are INVALID_CBOR. These helpers give every command the same answers.
"""

from __future__ import annotations

from typing import Any

from fido2 import cbor

from tokenbench.emulators.ctap.constants import PUBLIC_KEY_TYPE, CtapStatus
from tokenbench.emulators.ctap.errors import CtapError


def decode_params(body: bytes) -> dict[Any, Any]:
    """The request map; an empty body is an empty map (then required keys are missing)."""
    if not body:
        return {}
    try:
        value = cbor.decode(body)
    except Exception:  # ValueError, IndexError, struct.error, RecursionError (deep nesting)...
        raise CtapError(CtapStatus.INVALID_CBOR, "request is not valid CBOR") from None
    if not isinstance(value, dict):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "request is not a CBOR map")
    return value


def _typed(params: dict[Any, Any], key: Any, kind: type | tuple[type, ...], required: bool) -> Any:
    if key not in params:
        if required:
            raise CtapError(CtapStatus.MISSING_PARAMETER, f"parameter {key!r} missing")
        return None
    value = params[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, f"parameter {key!r} has the wrong type")
    return value


def get_bytes(params: dict[Any, Any], key: Any, required: bool = False) -> bytes | None:
    return _typed(params, key, bytes, required)


def get_str(params: dict[Any, Any], key: Any, required: bool = False) -> str | None:
    return _typed(params, key, str, required)


def get_int(params: dict[Any, Any], key: Any, required: bool = False) -> int | None:
    return _typed(params, key, int, required)


def get_bool(params: dict[Any, Any], key: Any, required: bool = False) -> bool | None:
    return _typed(params, key, bool, required)


def get_map(params: dict[Any, Any], key: Any, required: bool = False) -> dict[Any, Any] | None:
    return _typed(params, key, dict, required)


def get_list(params: dict[Any, Any], key: Any, required: bool = False) -> list[Any] | None:
    return _typed(params, key, list, required)


def get_options(params: dict[Any, Any], key: Any) -> dict[str, bool]:
    """The options map; every value must be a boolean."""
    options = get_map(params, key) or {}
    for name, value in options.items():
        if not isinstance(name, str) or not isinstance(value, bool):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "options must map text to bool")
    return options


def credential_ids(params: dict[Any, Any], key: Any) -> list[bytes] | None:
    """The IDs of a PublicKeyCredentialDescriptor list (excludeList/allowList).

    Descriptors of types other than "public-key" are ignored, as the spec says.
    """
    descriptors = get_list(params, key)
    if descriptors is None:
        return None
    ids = []
    for descriptor in descriptors:
        if not isinstance(descriptor, dict):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "credential descriptor not a map")
        kind = get_str(descriptor, "type", required=True)
        cred_id = get_bytes(descriptor, "id", required=True)
        if "transports" in descriptor:
            get_list(descriptor, "transports")
        if kind == PUBLIC_KEY_TYPE and cred_id is not None:
            ids.append(cred_id)
    return ids
