"""Which CTAP fields are secrets, and how a secret is shown: `<redacted N bytes>`.

A trace must be shareable: it may show what a client asked and what the key answered, but
never a PIN (or anything from which one can be brute-forced), a token, an hmac-secret salt or
output, a credBlob, a largeBlobKey or large-blob contents. Lists are per command and per
direction, taken from CTAP 2.1 §6 parameter tables (CTAP 2.2 additions where a key sends
them). A field that is not named here (a vendor's, a newer version's) is not shown either: only
its size, since nobody has said it is public.
"""

from __future__ import annotations

from typing import Any

from tokenbench.emulators.ctap.constants import CtapCommand

MAKE_CREDENTIAL = CtapCommand.MAKE_CREDENTIAL
GET_ASSERTION = CtapCommand.GET_ASSERTION
GET_INFO = CtapCommand.GET_INFO
GET_NEXT_ASSERTION = CtapCommand.GET_NEXT_ASSERTION
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
        8: "unsignedExtensionOutputs",
    },
    (GET_INFO, "response"): {
        1: "versions",
        2: "extensions",
        3: "aaguid",
        4: "options",
        5: "maxMsgSize",
        6: "pinUvAuthProtocols",
        7: "maxCredentialCountInList",
        8: "maxCredentialIdLength",
        9: "transports",
        10: "algorithms",
        11: "maxSerializedLargeBlobArray",
        12: "forcePINChange",
        13: "minPINLength",
        14: "firmwareVersion",
        15: "maxCredBlobLength",
        16: "maxRPIDsForSetMinPINLength",
        17: "preferredPlatformUvAttempts",
        18: "uvModality",
        19: "certifications",
        20: "remainingDiscoverableCredentials",
        21: "vendorPrototypeConfigCommands",
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
    (BIO_ENROLLMENT, "response"): {
        1: "modality",
        2: "fingerprintKind",
        3: "maxCaptureSamplesRequiredForEnroll",
        4: "templateId",
        5: "lastEnrollSampleStatus",
        6: "remainingSamples",
        7: "templateInfos",
        8: "maxTemplateFriendlyName",
    },
}
# The subCommandParams maps (§6.5, §6.7, §6.11), named the same way.
SUBCOMMAND_PARAM_NAMES: dict[int, dict[int, str]] = {
    CREDENTIAL_MANAGEMENT: {1: "rpIDHash", 2: "credentialID", 3: "user"},
    BIO_ENROLLMENT: {1: "templateId", 2: "templateFriendlyName", 3: "timeoutMilliseconds"},
    CONFIG: {1: "newMinPINLength", 2: "minPinLengthRPIDs", 3: "forceChangePin"},
}
SUBCOMMAND_PARAM_NAMES[CREDENTIAL_MANAGEMENT_PRE] = SUBCOMMAND_PARAM_NAMES[CREDENTIAL_MANAGEMENT]
SUBCOMMAND_PARAM_NAMES[BIO_ENROLLMENT_PRE] = SUBCOMMAND_PARAM_NAMES[BIO_ENROLLMENT]
# getNextAssertion has no parameters; its responses are getAssertion's (§6.3).
FIELD_NAMES[(GET_NEXT_ASSERTION, "response")] = FIELD_NAMES[(GET_ASSERTION, "response")]
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
# Extensions whose inputs and outputs are public; any other extension (hmac-secret's salts and
# outputs, credBlob, largeBlobKey, a vendor's) shows only the `true` that asks for it.
PUBLIC_EXTENSIONS = frozenset({"credProtect", "credProps", "minPinLength", "thirdPartyPayment"})


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
    """Not known to be public, unless its value is just the `true` that asks for it."""
    return name not in PUBLIC_EXTENSIONS and not isinstance(value, bool)
