"""Which CTAP fields are secrets, and how a secret is shown: `<redacted N bytes>`.

A trace must be shareable: it may show what a client asked and what the key answered, but
never a PIN (or anything from which one can be brute-forced), a token, an hmac-secret salt or
output, a credBlob, a largeBlobKey or large-blob contents. Lists are per command and per
direction, taken from CTAP 2.1 §6 parameter tables; a field that is not named here is shown.
"""

from __future__ import annotations

from typing import Any

from tokenbench.emulators.ctap.constants import CtapCommand

MAKE_CREDENTIAL = CtapCommand.MAKE_CREDENTIAL
GET_ASSERTION = CtapCommand.GET_ASSERTION
CLIENT_PIN = CtapCommand.CLIENT_PIN
BIO_ENROLLMENT = CtapCommand.BIO_ENROLLMENT
CREDENTIAL_MANAGEMENT = CtapCommand.CREDENTIAL_MANAGEMENT
LARGE_BLOBS = CtapCommand.LARGE_BLOBS
CONFIG = CtapCommand.CONFIG
BIO_ENROLLMENT_PRE = CtapCommand.BIO_ENROLLMENT_PRE
CREDENTIAL_MANAGEMENT_PRE = CtapCommand.CREDENTIAL_MANAGEMENT_PRE

# (command, direction) -> {map key: field name}; direction "request" or "response".
FIELD_NAMES: dict[tuple[int, str], dict[int, str]] = {
    (MAKE_CREDENTIAL, "request"): {
        1: "clientDataHash",
        2: "rp",
        3: "user",
        4: "pubKeyCredParams",
        5: "excludeList",
        6: "extensions",
        7: "options",
        8: "pinUvAuthParam",
        9: "pinUvAuthProtocol",
        10: "enterpriseAttestation",
    },
    (MAKE_CREDENTIAL, "response"): {
        1: "fmt",
        2: "authData",
        3: "attStmt",
        4: "epAtt",
        5: "largeBlobKey",
        6: "unsignedExtensionOutputs",
    },
    (GET_ASSERTION, "request"): {
        1: "rpId",
        2: "clientDataHash",
        3: "allowList",
        4: "extensions",
        5: "options",
        6: "pinUvAuthParam",
        7: "pinUvAuthProtocol",
    },
    (GET_ASSERTION, "response"): {
        1: "credential",
        2: "authData",
        3: "signature",
        4: "user",
        5: "numberOfCredentials",
        6: "userSelected",
        7: "largeBlobKey",
    },
    (CLIENT_PIN, "request"): {
        1: "pinUvAuthProtocol",
        2: "subCommand",
        3: "keyAgreement",
        4: "pinUvAuthParam",
        5: "newPinEnc",
        6: "pinHashEnc",
        9: "permissions",
        10: "rpId",
    },
    (CLIENT_PIN, "response"): {
        1: "keyAgreement",
        2: "pinUvAuthToken",
        3: "pinRetries",
        4: "powerCycleState",
        5: "uvRetries",
    },
    (CREDENTIAL_MANAGEMENT, "request"): {
        1: "subCommand",
        2: "subCommandParams",
        3: "pinUvAuthProtocol",
        4: "pinUvAuthParam",
    },
    (CREDENTIAL_MANAGEMENT, "response"): {
        1: "existingResidentCredentialsCount",
        2: "maxPossibleRemainingResidentCredentialsCount",
        3: "rp",
        4: "rpIDHash",
        5: "totalRPs",
        6: "user",
        7: "credentialID",
        8: "publicKey",
        9: "totalCredentials",
        10: "credProtect",
        11: "largeBlobKey",
        12: "thirdPartyPayment",
    },
    (LARGE_BLOBS, "request"): {
        1: "get",
        2: "set",
        3: "offset",
        4: "length",
        5: "pinUvAuthParam",
        6: "pinUvAuthProtocol",
    },
    (LARGE_BLOBS, "response"): {1: "config"},
    (CONFIG, "request"): {
        1: "subCommand",
        2: "subCommandParams",
        3: "pinUvAuthProtocol",
        4: "pinUvAuthParam",
    },
    (BIO_ENROLLMENT, "request"): {
        1: "modality",
        2: "subCommand",
        3: "subCommandParams",
        4: "pinUvAuthProtocol",
        5: "pinUvAuthParam",
    },
}
for _direction in ("request", "response"):  # the preview commands share the final layouts
    for _preview, _final in (
        (CREDENTIAL_MANAGEMENT_PRE, CREDENTIAL_MANAGEMENT),
        (BIO_ENROLLMENT_PRE, BIO_ENROLLMENT),
    ):
        if (_final, _direction) in FIELD_NAMES:
            FIELD_NAMES[(_preview, _direction)] = FIELD_NAMES[(_final, _direction)]

# Top-level fields that are always secret, whatever the command.
SECRET_FIELDS = frozenset(
    {
        "pinUvAuthParam",  # an HMAC under the PIN token: replayable, and brute-force material
        "newPinEnc",
        "pinHashEnc",
        "pinUvAuthToken",
        "largeBlobKey",
        "set",  # large-blob contents
        "config",  # large-blob contents
    }
)
# Extensions whose inputs or outputs carry secrets (salts, outputs, stored blobs).
SECRET_EXTENSIONS = frozenset({"hmac-secret", "hmac-secret-mc", "credBlob", "largeBlobKey"})


def redacted(value: Any) -> str:
    """`<redacted N bytes>`: the size stays visible (useful when debugging), the content not."""
    if isinstance(value, bytes | bytearray):
        size = len(value)
    else:
        from fido2 import cbor

        try:
            size = len(cbor.encode(value))
        except Exception:  # not CBOR-encodable: still hide it
            size = 0
    return f"<redacted {size} bytes>"


def redact_extensions(extensions: Any) -> Any:
    """Extension map with the secret-bearing extensions' values replaced (booleans kept)."""
    if not isinstance(extensions, dict):
        return extensions
    return {
        name: redacted(value) if _secret_extension(name, value) else value
        for name, value in extensions.items()
    }


def _secret_extension(name: Any, value: Any) -> bool:
    """A secret-bearing extension, unless its value is just the `true` that asks for it."""
    return name in SECRET_EXTENSIONS and not isinstance(value, bool)
