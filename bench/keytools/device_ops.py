"""The CTAP2 calls behind `key info`, `key creds`, `key wink`, `key reset`.

Every CTAP error a person can cause (wrong PIN, PIN blocked, no PIN set, reset window missed)
becomes a one-line `UserError` that says what to do; PINs are passed through to python-fido2 and
never appear in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2 import Ctap2, Info
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin
from fido2.hid import CAPABILITY
from fido2.webauthn import PublicKeyCredentialDescriptor, PublicKeyCredentialType

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.info import KeyReport, explain

PIN_ERRORS: dict[int, str] = {
    CtapError.ERR.PIN_INVALID: "wrong PIN",
    CtapError.ERR.PIN_BLOCKED: "the PIN is blocked: only a reset (losing all credentials) helps",
    CtapError.ERR.PIN_AUTH_BLOCKED: "too many wrong PINs: unplug the key and plug it back in",
    CtapError.ERR.PIN_NOT_SET: "no PIN is set on this key",
    CtapError.ERR.PIN_POLICY_VIOLATION: "the PIN does not meet the key's PIN policy",
}
RESET_ERRORS: dict[int, str] = {
    CtapError.ERR.NOT_ALLOWED: "the key refused: reset only works within about 10 s of plugging in",
    CtapError.ERR.OPERATION_DENIED: "reset was not confirmed on the key (no touch)",
    CtapError.ERR.USER_ACTION_TIMEOUT: "reset was not confirmed on the key in time",
    CtapError.ERR.PIN_AUTH_BLOCKED: "reset is blocked until the key is power-cycled",
}


def ctap_error_text(exc: CtapError) -> str:
    code = exc.code
    name = code.name if isinstance(code, CtapError.ERR) else f"0x{int(code):02x}"
    return f"CTAP error {name}"


def open_ctap2(device: CtapDevice) -> Ctap2:
    if not device.capabilities & CAPABILITY.CBOR:
        raise UserError("this key speaks only CTAP1/U2F: no getInfo, PIN or credential management")
    try:
        return Ctap2(device)
    except CtapError as exc:
        raise UserError(f"getInfo failed: {ctap_error_text(exc)}") from None


def pin_failure(ctap: Ctap2, exc: CtapError) -> UserError:
    """One line for a PIN error: retries left after a wrong PIN; what to do on a forced change."""
    named = ctap_error_text(exc)
    forced = (CtapError.ERR.PIN_POLICY_VIOLATION, CtapError.ERR.PIN_INVALID)
    if exc.code in forced and ctap.info.force_pin_change:  # deployed keys say PIN_INVALID here
        return UserError(f"the key requires a new PIN first ({named}): tokenbench key pin change")
    if exc.code not in PIN_ERRORS:
        return UserError(named)
    if exc.code == CtapError.ERR.PIN_INVALID:
        try:
            retries, _ = ClientPin(ctap).get_pin_retries()
            named += f", {retries} retries left"
        except (CtapError, ValueError):
            pass
    return UserError(f"{PIN_ERRORS[exc.code]} ({named})")


def pin_token(ctap: Ctap2, pin: str, permissions: ClientPin.PERMISSION) -> tuple[ClientPin, bytes]:
    if not ClientPin.is_supported(ctap.info):
        raise UserError("this key has no client PIN support")
    if not ctap.info.options.get("clientPin"):
        raise UserError("no PIN is set on this key")
    client_pin = ClientPin(ctap)
    try:
        return client_pin, client_pin.get_pin_token(pin, permissions)
    except CtapError as exc:
        raise pin_failure(ctap, exc) from None


def credential_manager(ctap: Ctap2, pin: str) -> CredentialManagement:
    if not CredentialManagement.is_supported(ctap.info):
        raise UserError("this key does not support credential management")
    client_pin, token = pin_token(ctap, pin, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    return CredentialManagement(ctap, client_pin.protocol, token)


def gather_report(ctap: Ctap2, pin: str | None = None) -> KeyReport:
    info: Info = ctap.info
    report = KeyReport(explain(info))
    # Retries exist only once a PIN is set: deployed keys answer PIN_NOT_SET before that.
    if ClientPin.is_supported(info) and info.pin_uv_protocols and info.options.get("clientPin"):
        try:
            retries, power_cycle = ClientPin(ctap).get_pin_retries()
            report.pin_retries = retries
            # CTAP sends powerCycleState as a bool; python-fido2 types it as an int
            report.power_cycle_required = None if power_cycle is None else bool(power_cycle)
        except CtapError as exc:
            report.notes.append(f"PIN retries not readable: {ctap_error_text(exc)}")
    if "uv" in info.options and info.pin_uv_protocols:
        try:
            report.uv_retries = ClientPin(ctap).get_uv_retries()
        except CtapError as exc:
            report.notes.append(f"UV retries not readable: {ctap_error_text(exc)}")
    if pin is not None:
        manager = credential_manager(ctap, pin)
        try:
            metadata = manager.get_metadata()
        except CtapError as exc:
            raise UserError(f"credential metadata failed: {ctap_error_text(exc)}") from None
        report.credentials = {
            "existing": int(metadata[CredentialManagement.RESULT.EXISTING_CRED_COUNT]),
            "remaining": int(metadata[CredentialManagement.RESULT.MAX_REMAINING_COUNT]),
        }
    elif "credMgmt" in info.options:
        report.notes.append("pass --pin to count the discoverable credentials")
    return report


@dataclass
class StoredCredential:
    rp_id: str
    credential_id: bytes
    user_name: str | None
    user_display_name: str | None
    user_id: bytes
    cred_protect: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rp_id": self.rp_id,
            "credential_id": self.credential_id.hex(),
            "user_name": self.user_name,
            "user_display_name": self.user_display_name,
            "user_id": self.user_id.hex(),
            "cred_protect": self.cred_protect,
        }


def list_credentials(manager: CredentialManagement) -> list[StoredCredential]:
    found: list[StoredCredential] = []
    try:
        metadata = manager.get_metadata()
        if not metadata[CredentialManagement.RESULT.EXISTING_CRED_COUNT]:
            return found
        for rp in manager.enumerate_rps():
            rp_id = rp[CredentialManagement.RESULT.RP]["id"]
            rp_hash = rp[CredentialManagement.RESULT.RP_ID_HASH]
            for cred in manager.enumerate_creds(rp_hash):
                user = cred[CredentialManagement.RESULT.USER]
                found.append(
                    StoredCredential(
                        rp_id=rp_id,
                        credential_id=bytes(cred[CredentialManagement.RESULT.CREDENTIAL_ID]["id"]),
                        user_name=user.get("name"),
                        user_display_name=user.get("displayName"),
                        user_id=bytes(user["id"]),
                        cred_protect=cred.get(CredentialManagement.RESULT.CRED_PROTECT),
                    )
                )
    except CtapError as exc:
        raise UserError(f"credential management failed: {ctap_error_text(exc)}") from None
    return found


def delete_credential(manager: CredentialManagement, credential_id: bytes) -> None:
    descriptor = PublicKeyCredentialDescriptor(
        type=PublicKeyCredentialType.PUBLIC_KEY, id=credential_id
    )
    try:
        manager.delete_cred(descriptor)
    except CtapError as exc:
        if exc.code == CtapError.ERR.NO_CREDENTIALS:
            raise UserError(f"no credential with id {credential_id.hex()} on this key") from None
        raise UserError(f"delete failed: {ctap_error_text(exc)}") from None


def reset(ctap: Ctap2) -> None:
    try:
        ctap.reset()
    except CtapError as exc:
        message = RESET_ERRORS.get(exc.code, f"reset failed: {ctap_error_text(exc)}")
        raise UserError(message) from None
