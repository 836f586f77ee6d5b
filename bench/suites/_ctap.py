"""Shared helpers for the CTAP suites: claims from getInfo, request builders, checks.

Suites skip what the device does not claim with an `unclaimed:` reason (never a pass), and
check every answer against the CTAP 2.1 / WebAuthn rules with python-fido2's own verifiers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import pytest
from fido2.attestation import Attestation, UnsupportedType
from fido2.cose import ES256 as ES256_KEY
from fido2.cose import (
    ES256K,
    ES384,
    ES512,
    MLDSA44,
    MLDSA65,
    MLDSA87,
    PS256,
    RS256,
    CoseKey,
    EdDSA,
)
from fido2.ctap import CtapError
from fido2.ctap2 import AssertionResponse, AttestationResponse, Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocol, PinProtocolV1, PinProtocolV2
from fido2.webauthn import AuthenticatorData

ERR = CtapError.ERR
ES256 = -7
EDDSA = -8
SIGNATURE_ALGORITHMS = {
    cls.__name__.replace("MLDSA", "ML-DSA-"): cls.ALGORITHM
    for cls in (ES256_KEY, EdDSA, ES384, ES512, ES256K, RS256, PS256, MLDSA44, MLDSA65, MLDSA87)
}
"""The COSE signature algorithms a key may list in getInfo, by name (python-fido2 verifies
each of them)."""
RP_ID = "bench.tokenbench.example"
OTHER_RP_ID = "other.tokenbench.example"
PIN_PROTOCOLS: dict[int, type[PinProtocol]] = {1: PinProtocolV1, 2: PinProtocolV2}
FLAG_UP = AuthenticatorData.FLAG.UP
FLAG_UV = AuthenticatorData.FLAG.UV
FLAG_AT = AuthenticatorData.FLAG.AT
FLAG_ED = AuthenticatorData.FLAG.ED
CBOR_TYPE_ERRORS = (ERR.CBOR_UNEXPECTED_TYPE, ERR.INVALID_CBOR)
"""A member of the wrong CBOR type: §6.1.2 step 3 names CBOR_UNEXPECTED_TYPE, "for example"."""
MISSING_MEMBER_ERRORS = (ERR.MISSING_PARAMETER, ERR.INVALID_CBOR)
"""A required member missing: MISSING_PARAMETER (§6.1.2 step 3 allows INVALID_CBOR)."""


def skip_unclaimed(what: str) -> NoReturn:
    pytest.skip(f"unclaimed: {what}")


def ctap2_of(device: Any) -> Ctap2:
    """Ctap2 over the device, or an `unclaimed` skip for a CTAP1-only key."""
    if not device.capabilities & 0x04:  # CAPABILITY.CBOR
        skip_unclaimed("CTAP2 (no CBOR capability)")
    return Ctap2(device)


def require_option(ctap2: Ctap2, name: str) -> bool:
    """The option's current value; skip when the key does not list the option at all."""
    options = ctap2.get_info().options
    if name not in options:
        skip_unclaimed(f"getInfo option {name!r}")
    return bool(options[name])


def require_extension(ctap2: Ctap2, name: str) -> None:
    if name not in ctap2.info.extensions:
        skip_unclaimed(f"extension {name!r}")


def require_pin_protocol(ctap2: Ctap2, version: int) -> PinProtocol:
    if not ClientPin.is_supported(ctap2.info):
        skip_unclaimed("clientPin")
    if version not in ctap2.info.pin_uv_protocols:
        skip_unclaimed(f"PIN/UV auth protocol {version}")
    return PIN_PROTOCOLS[version]()


def pin_token(
    ctap2: Ctap2,
    pin: str,
    permissions: ClientPin.PERMISSION | None = None,
    rp_id: str | None = None,
) -> tuple[PinProtocol, bytes]:
    """A pinUvAuthToken from the PIN (set first on a key without one) and its protocol.

    The key's newest PIN/UV auth protocol is used; a CTAP 2.0 key gets a plain pinToken.
    """
    if not ClientPin.is_supported(ctap2.info):
        skip_unclaimed("clientPin")
    client = ClientPin(ctap2, require_pin_protocol(ctap2, max(ctap2.info.pin_uv_protocols)))
    if not ctap2.get_info().options.get("clientPin"):
        client.set_pin(pin)
    return client.protocol, client.get_pin_token(pin, permissions, rp_id)


def uv_param(protocol: PinProtocol, token: bytes, cdh: bytes) -> dict[str, Any]:
    """pinUvAuthParam and pinUvAuthProtocol over clientDataHash, as make_credential takes them."""
    return {"pin_uv_param": protocol.authenticate(token, cdh), "pin_uv_protocol": protocol.VERSION}


def client_data_hash(label: str = "") -> bytes:
    return hashlib.sha256(b"tokenbench " + label.encode() + os.urandom(16)).digest()


def rp(rp_id: str = RP_ID) -> dict[str, str]:
    return {"id": rp_id, "name": "tokenbench conformance"}


def user(name: str = "alice") -> dict[str, Any]:
    return {"id": hashlib.sha256(name.encode()).digest()[:16], "name": name, "displayName": name}


def key_params(*algs: int) -> list[Mapping[str, Any]]:
    return [{"type": "public-key", "alg": a} for a in (algs or (ES256,))]


def descriptor(credential_id: bytes) -> dict[str, Any]:
    return {"type": "public-key", "id": credential_id}


def rp_id_hash(rp_id: str = RP_ID) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


@contextlib.contextmanager
def expect_ctap_error(*codes: int, what: str = "") -> Iterator[None]:
    """The block must fail with one of these CTAP status codes."""
    names = " or ".join(_name(c) for c in codes)
    try:
        yield
    except CtapError as exc:
        assert exc.code in codes, f"{what}: got {_name(exc.code)}, expected {names}"
    else:
        raise AssertionError(f"{what}: succeeded, expected {names}")


def _name(code: int) -> str:
    try:
        return f"{ERR(code).name} (0x{code:02X})"
    except ValueError:
        return f"0x{code:02X}"


def verify_attestation(response: AttestationResponse, cdh: bytes) -> None:
    """The attestation statement must verify (python-fido2's verifier for its format)."""
    try:
        verifier = Attestation.for_type(response.fmt)()
    except Exception as exc:  # unknown format name
        raise AssertionError(f"unknown attestation format {response.fmt!r}") from exc
    if isinstance(verifier, UnsupportedType):
        raise AssertionError(f"unsupported attestation format {response.fmt!r}")
    verifier.verify(response.att_stmt, response.auth_data, cdh)


def credential_key(response: AttestationResponse) -> CoseKey:
    data = response.auth_data.credential_data
    assert data is not None, "makeCredential answer has no attested credential data"
    return data.public_key


def make_credential(
    ctap2: Ctap2,
    *,
    rk: bool = False,
    rp_id: str = RP_ID,
    name: str = "alice",
    algs: tuple[int, ...] = (ES256,),
    extensions: Mapping[str, Any] | None = None,
    exclude: list[bytes] | None = None,
    pin_uv_param: bytes | None = None,
    pin_uv_protocol: int | None = None,
    cdh: bytes | None = None,
) -> tuple[AttestationResponse, bytes]:
    """makeCredential with sane defaults; returns (response, clientDataHash)."""
    cdh = cdh or client_data_hash("mc")
    response = ctap2.make_credential(
        cdh,
        rp(rp_id),
        user(name),
        key_params(*algs),
        exclude_list=[descriptor(c) for c in exclude] if exclude else None,
        extensions=extensions,
        options={"rk": True} if rk else None,
        pin_uv_param=pin_uv_param,
        pin_uv_protocol=pin_uv_protocol,
    )
    return response, cdh


def credential_id(response: AttestationResponse) -> bytes:
    data = response.auth_data.credential_data
    assert data is not None, "makeCredential answer has no attested credential data"
    return bytes(data.credential_id)


def check_assertion(
    assertion: AssertionResponse, cdh: bytes, key: CoseKey, rp_id: str = RP_ID
) -> None:
    """rpIdHash, UP flag and signature of one getAssertion answer."""
    assert assertion.auth_data.rp_id_hash == rp_id_hash(rp_id), "assertion rpIdHash is wrong"
    assert assertion.auth_data.flags & FLAG_UP, "assertion without the UP flag"
    try:
        assertion.verify(cdh, key)
    except Exception as exc:
        raise AssertionError(f"assertion signature does not verify: {exc}") from exc
