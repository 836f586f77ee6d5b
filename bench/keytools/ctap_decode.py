"""CTAP2 and U2F messages -> short, redacted, JSON-friendly summaries for `key trace`.

Vendor commands (outside CTAP 2.1's command table) have no public layout and may carry key
material (backup, provisioning): their bodies are shown only as `<redacted N bytes>`.

A summary names the command (or status) and its fields with the CTAP 2.1 parameter names;
byte strings are shown as short hex, secrets and fields without a name (see `redact`) as
`<redacted N bytes>`, and an authenticatorData is decoded (rpIdHash, flags, counter,
credential id, extension outputs) rather than dumped. Malformed CBOR is reported as such,
never raised.
"""

from __future__ import annotations

from typing import Any

from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2.pin import ClientPin
from fido2.webauthn import AuthenticatorData

from tokenbench.bench.keytools.redact import (
    CLIENT_PIN,
    CREDENTIAL_MANAGEMENT,
    CREDENTIAL_MANAGEMENT_PRE,
    FIELD_NAMES,
    SECRET_FIELDS,
    SUBCOMMAND_PARAM_NAMES,
    redact_extensions,
    redacted,
)
from tokenbench.bench.report_records import CTAP2_COMMANDS, U2F_INSTRUCTIONS
from tokenbench.emulators.ctap.constants import CredMgmtSub, U2fIns

# Display names in the spec's spelling; the numbers come from the named constants.
CLIENT_PIN_SUBCOMMANDS: dict[int, str] = {
    ClientPin.CMD.GET_PIN_RETRIES: "getPINRetries",
    ClientPin.CMD.GET_KEY_AGREEMENT: "getKeyAgreement",
    ClientPin.CMD.SET_PIN: "setPIN",
    ClientPin.CMD.CHANGE_PIN: "changePIN",
    ClientPin.CMD.GET_TOKEN_USING_PIN_LEGACY: "getPinToken",
    ClientPin.CMD.GET_TOKEN_USING_UV: "getPinUvAuthTokenUsingUvWithPermissions",
    ClientPin.CMD.GET_UV_RETRIES: "getUVRetries",
    ClientPin.CMD.GET_TOKEN_USING_PIN: "getPinUvAuthTokenUsingPinWithPermissions",
}
CREDENTIAL_MANAGEMENT_SUBCOMMANDS: dict[int, str] = {
    CredMgmtSub.GET_CREDS_METADATA: "getCredsMetadata",
    CredMgmtSub.ENUMERATE_RPS_BEGIN: "enumerateRPsBegin",
    CredMgmtSub.ENUMERATE_RPS_GET_NEXT: "enumerateRPsGetNextRP",
    CredMgmtSub.ENUMERATE_CREDENTIALS_BEGIN: "enumerateCredentialsBegin",
    CredMgmtSub.ENUMERATE_CREDENTIALS_GET_NEXT: "enumerateCredentialsGetNextCredential",
    CredMgmtSub.DELETE_CREDENTIAL: "deleteCredential",
    CredMgmtSub.UPDATE_USER_INFORMATION: "updateUserInformation",
}
CREDENTIAL_MANAGEMENTS = (CREDENTIAL_MANAGEMENT, CREDENTIAL_MANAGEMENT_PRE)
HEX_SHOWN = 16  # bytes of a byte string shown before "..."


def short_hex(data: bytes) -> str:
    text = data[:HEX_SHOWN].hex()
    return f"{text}...({len(data)} bytes)" if len(data) > HEX_SHOWN else text


def _plain(value: Any) -> Any:
    """CBOR values -> JSON-friendly values (bytes as short hex)."""
    if isinstance(value, bytes | bytearray):
        return short_hex(bytes(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _auth_data(raw: bytes) -> Any:
    try:
        data = AuthenticatorData(raw)
    except Exception:  # malformed authenticator data is shown, not raised
        return {"malformed": redacted(raw)}
    summary: dict[str, Any] = {
        "rpIdHash": short_hex(data.rp_id_hash),
        "flags": f"0x{int(data.flags):02x} ({data.flags!r})",
        "signCount": data.counter,
    }
    if data.credential_data is not None:
        summary["credentialId"] = short_hex(data.credential_data.credential_id)
        summary["aaguid"] = str(data.credential_data.aaguid)
    if data.extensions:
        summary["extensions"] = _plain(redact_extensions(dict(data.extensions)))
    return summary


def _named_fields(command: int, direction: str, body: dict[Any, Any]) -> dict[str, Any]:
    names = FIELD_NAMES.get((command, direction), {})
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = names.get(key) if isinstance(key, int) else None
        if name is None:  # not in the spec's table for this message: not known to be public
            fields[str(key)] = redacted(value)
        elif name in SECRET_FIELDS:
            fields[name] = redacted(value)
        elif name == "extensions" or name == "unsignedExtensionOutputs":
            fields[name] = _plain(redact_extensions(value))
        elif name == "authData" and isinstance(value, bytes):
            fields[name] = _auth_data(value)
        elif name == "subCommand" and isinstance(value, int) and command == CLIENT_PIN:
            fields[name] = CLIENT_PIN_SUBCOMMANDS.get(value, value)
        elif name == "subCommand" and isinstance(value, int) and command in CREDENTIAL_MANAGEMENTS:
            fields[name] = CREDENTIAL_MANAGEMENT_SUBCOMMANDS.get(value, value)
        elif name == "subCommandParams" and isinstance(value, dict):
            params = SUBCOMMAND_PARAM_NAMES.get(command, {})
            fields[name] = {
                params[k] if k in params else str(k): _plain(v) if k in params else redacted(v)
                for k, v in value.items()
            }
        elif name == "attStmt" and isinstance(value, dict):
            fields[name] = {str(k): _plain(v) for k, v in value.items() if k != "x5c"}
            if "x5c" in value:
                fields[name]["x5c"] = f"{len(value['x5c'])} certificate(s)"
        else:
            fields[name] = _plain(value)
    return fields


def _cbor_map(data: bytes) -> tuple[dict[Any, Any] | None, str | None]:
    if not data:
        return {}, None
    try:
        value, rest = cbor.decode_from(data)
    except Exception as exc:  # any CBOR error
        return None, f"malformed CBOR ({type(exc).__name__}, {len(data)} bytes)"
    if rest:
        return None, f"{len(rest)} bytes after the CBOR item"
    if not isinstance(value, dict):
        return None, f"CBOR {type(value).__name__}, expected a map"
    return value, None


def _add_body(summary: dict[str, Any], command: int | None, direction: str, data: bytes) -> None:
    """The CBOR body's fields into `summary`; vendor commands' bodies only as a size."""
    if command is None or command not in CTAP2_COMMANDS:  # no public layout, may carry keys
        summary["body"] = redacted(data)
        return
    body, problem = _cbor_map(data)
    if problem:
        summary["error"] = problem
    elif body:
        summary["fields"] = _named_fields(command, direction, body)


def decode_request(payload: bytes) -> dict[str, Any]:
    """A CTAPHID_CBOR request: command byte + CBOR map."""
    if not payload:
        return {"command": "empty"}
    command = payload[0]
    summary: dict[str, Any] = {"command": CTAP2_COMMANDS.get(command, f"0x{command:02x}")}
    _add_body(summary, command, "request", payload[1:])
    return summary


def decode_response(command: int | None, payload: bytes) -> dict[str, Any]:
    """A CTAPHID_CBOR response: status byte + CBOR map (fields named after the request)."""
    if not payload:
        return {"status": "empty"}
    status = payload[0]
    try:
        name = CtapError.ERR(status).name
    except ValueError:
        name = f"0x{status:02x}"
    summary: dict[str, Any] = {"status": name}
    if not status:
        _add_body(summary, command, "response", payload[1:])
    return summary


def decode_u2f_request(apdu: bytes) -> dict[str, Any]:
    if len(apdu) < 4:
        return {"apdu": "too short", "length": len(apdu)}
    ins = apdu[1]
    summary: dict[str, Any] = {
        "instruction": U2F_INSTRUCTIONS.get(ins, f"0x{ins:02x}"),
        "p1": f"0x{apdu[2]:02x}",
    }
    data = apdu[7:] if len(apdu) > 7 and apdu[4] == 0 else apdu[5:]
    if ins in (U2fIns.REGISTER, U2fIns.AUTHENTICATE) and len(data) >= 64:
        summary["challenge"] = short_hex(data[:32])
        summary["application"] = short_hex(data[32:64])
        if ins == U2fIns.AUTHENTICATE and len(data) > 64:
            summary["keyHandle"] = short_hex(data[65 : 65 + data[64]])
    return summary


def decode_u2f_response(response: bytes) -> dict[str, Any]:
    if len(response) < 2:
        return {"status": "too short"}
    return {"status": f"0x{response[-2:].hex()}", "data": f"{len(response) - 2} bytes"}
