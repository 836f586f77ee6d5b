"""CTAP 2.1 protocol constants, named once for the whole emulated key.

Status codes and command bytes follow CTAP 2.1 Proposed Standard §8.2 and §6; parameter and
response map keys follow §6.1 - §6.10. Other modules import these names instead of literals.
"""

from __future__ import annotations

from enum import IntEnum


class CtapStatus(IntEnum):
    """Every CTAP 2.1 status code (§8.2)."""

    SUCCESS = 0x00
    INVALID_COMMAND = 0x01
    INVALID_PARAMETER = 0x02
    INVALID_LENGTH = 0x03
    INVALID_SEQ = 0x04
    TIMEOUT = 0x05
    CHANNEL_BUSY = 0x06
    LOCK_REQUIRED = 0x0A
    INVALID_CHANNEL = 0x0B
    CBOR_UNEXPECTED_TYPE = 0x11
    INVALID_CBOR = 0x12
    MISSING_PARAMETER = 0x14
    LIMIT_EXCEEDED = 0x15
    FP_DATABASE_FULL = 0x17
    LARGE_BLOB_STORAGE_FULL = 0x18
    CREDENTIAL_EXCLUDED = 0x19
    PROCESSING = 0x21
    INVALID_CREDENTIAL = 0x22
    USER_ACTION_PENDING = 0x23
    OPERATION_PENDING = 0x24
    NO_OPERATIONS = 0x25
    UNSUPPORTED_ALGORITHM = 0x26
    OPERATION_DENIED = 0x27
    KEY_STORE_FULL = 0x28
    UNSUPPORTED_OPTION = 0x2B
    INVALID_OPTION = 0x2C
    KEEPALIVE_CANCEL = 0x2D
    NO_CREDENTIALS = 0x2E
    USER_ACTION_TIMEOUT = 0x2F
    NOT_ALLOWED = 0x30
    PIN_INVALID = 0x31
    PIN_BLOCKED = 0x32
    PIN_AUTH_INVALID = 0x33
    PIN_AUTH_BLOCKED = 0x34
    PIN_NOT_SET = 0x35
    PUAT_REQUIRED = 0x36
    PIN_POLICY_VIOLATION = 0x37
    REQUEST_TOO_LARGE = 0x39
    ACTION_TIMEOUT = 0x3A
    UP_REQUIRED = 0x3B
    UV_BLOCKED = 0x3C
    INTEGRITY_FAILURE = 0x3D
    INVALID_SUBCOMMAND = 0x3E
    UV_INVALID = 0x3F
    UNAUTHORIZED_PERMISSION = 0x40
    OTHER = 0x7F
    SPEC_LAST = 0xDF
    EXTENSION_FIRST = 0xE0
    EXTENSION_LAST = 0xEF
    VENDOR_FIRST = 0xF0
    VENDOR_LAST = 0xFF


class CtapCommand(IntEnum):
    """authenticator API command bytes (§6)."""

    MAKE_CREDENTIAL = 0x01
    GET_ASSERTION = 0x02
    GET_INFO = 0x04
    CLIENT_PIN = 0x06
    RESET = 0x07
    GET_NEXT_ASSERTION = 0x08
    BIO_ENROLLMENT = 0x09
    CREDENTIAL_MANAGEMENT = 0x0A
    SELECTION = 0x0B
    LARGE_BLOBS = 0x0C
    CONFIG = 0x0D
    BIO_ENROLLMENT_PRE = 0x40
    CREDENTIAL_MANAGEMENT_PRE = 0x41


class MakeCredentialParam(IntEnum):
    """authenticatorMakeCredential request keys (§6.1)."""

    CLIENT_DATA_HASH = 0x01
    RP = 0x02
    USER = 0x03
    PUB_KEY_CRED_PARAMS = 0x04
    EXCLUDE_LIST = 0x05
    EXTENSIONS = 0x06
    OPTIONS = 0x07
    PIN_UV_AUTH_PARAM = 0x08
    PIN_UV_AUTH_PROTOCOL = 0x09
    ENTERPRISE_ATTESTATION = 0x0A


class MakeCredentialResponse(IntEnum):
    FMT = 0x01
    AUTH_DATA = 0x02
    ATT_STMT = 0x03
    EP_ATT = 0x04
    LARGE_BLOB_KEY = 0x05
    UNSIGNED_EXTENSION_OUTPUTS = 0x06  # CTAP 2.2


class GetAssertionParam(IntEnum):
    """authenticatorGetAssertion request keys (§6.2)."""

    RP_ID = 0x01
    CLIENT_DATA_HASH = 0x02
    ALLOW_LIST = 0x03
    EXTENSIONS = 0x04
    OPTIONS = 0x05
    PIN_UV_AUTH_PARAM = 0x06
    PIN_UV_AUTH_PROTOCOL = 0x07


class GetAssertionResponse(IntEnum):
    CREDENTIAL = 0x01
    AUTH_DATA = 0x02
    SIGNATURE = 0x03
    USER = 0x04
    NUMBER_OF_CREDENTIALS = 0x05
    USER_SELECTED = 0x06
    LARGE_BLOB_KEY = 0x07


class CredMgmtSub(IntEnum):
    """authenticatorCredentialManagement subCommands (§6.8)."""

    GET_CREDS_METADATA = 0x01
    ENUMERATE_RPS_BEGIN = 0x02
    ENUMERATE_RPS_GET_NEXT = 0x03
    ENUMERATE_CREDENTIALS_BEGIN = 0x04
    ENUMERATE_CREDENTIALS_GET_NEXT = 0x05
    DELETE_CREDENTIAL = 0x06
    UPDATE_USER_INFORMATION = 0x07


class CredMgmtParam(IntEnum):
    SUB_COMMAND = 0x01
    SUB_COMMAND_PARAMS = 0x02
    PIN_UV_AUTH_PROTOCOL = 0x03
    PIN_UV_AUTH_PARAM = 0x04


class CredMgmtSubParam(IntEnum):
    RP_ID_HASH = 0x01
    CREDENTIAL_ID = 0x02
    USER = 0x03


class CredMgmtResponse(IntEnum):
    EXISTING_RESIDENT_CREDENTIALS_COUNT = 0x01
    MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT = 0x02
    RP = 0x03
    RP_ID_HASH = 0x04
    TOTAL_RPS = 0x05
    USER = 0x06
    CREDENTIAL_ID = 0x07
    PUBLIC_KEY = 0x08
    TOTAL_CREDENTIALS = 0x09
    CRED_PROTECT = 0x0A
    LARGE_BLOB_KEY = 0x0B
    THIRD_PARTY_PAYMENT = 0x0C  # CTAP 2.2: the credential is enabled for payments


class LargeBlobsParam(IntEnum):
    """authenticatorLargeBlobs request keys (§6.10)."""

    GET = 0x01
    SET = 0x02
    OFFSET = 0x03
    LENGTH = 0x04
    PIN_UV_AUTH_PARAM = 0x05
    PIN_UV_AUTH_PROTOCOL = 0x06


class LargeBlobsResponse(IntEnum):
    CONFIG = 0x01


class ConfigSub(IntEnum):
    """authenticatorConfig subCommands (§6.11)."""

    ENABLE_ENTERPRISE_ATTESTATION = 0x01
    TOGGLE_ALWAYS_UV = 0x02
    SET_MIN_PIN_LENGTH = 0x03
    VENDOR_PROTOTYPE = 0xFF


class ConfigParam(IntEnum):
    SUB_COMMAND = 0x01
    SUB_COMMAND_PARAMS = 0x02
    PIN_UV_AUTH_PROTOCOL = 0x03
    PIN_UV_AUTH_PARAM = 0x04


class SetMinPinLengthParam(IntEnum):
    NEW_MIN_PIN_LENGTH = 0x01
    MIN_PIN_LENGTH_RP_IDS = 0x02
    FORCE_CHANGE_PIN = 0x03


class AuthDataFlag(IntEnum):
    """authenticatorData flag bits (WebAuthn §6.1)."""

    UP = 0x01
    UV = 0x04
    BE = 0x08
    BS = 0x10
    AT = 0x40
    ED = 0x80


class CoseAlg(IntEnum):
    """COSE algorithm identifiers (IANA COSE registry) the emulated key can sign with."""

    ES256 = -7
    EDDSA = -8
    ES384 = -35
    ES512 = -36
    PS256 = -37
    ES256K = -47
    MLDSA44 = -48
    MLDSA65 = -49
    MLDSA87 = -50
    RS256 = -257


class CredProtect(IntEnum):
    """credProtect levels (§12.1)."""

    UV_OPTIONAL = 1
    UV_OPTIONAL_WITH_CREDENTIAL_ID_LIST = 2
    UV_REQUIRED = 3


class Version:
    """getInfo version strings."""

    FIDO_2_2 = "FIDO_2_2"
    FIDO_2_1 = "FIDO_2_1"
    FIDO_2_1_PRE = "FIDO_2_1_PRE"
    FIDO_2_0 = "FIDO_2_0"
    U2F_V2 = "U2F_V2"


class Ext:
    """Extension identifiers."""

    CRED_PROTECT = "credProtect"
    HMAC_SECRET = "hmac-secret"
    CRED_BLOB = "credBlob"
    LARGE_BLOB_KEY = "largeBlobKey"
    MIN_PIN_LENGTH = "minPinLength"
    HMAC_SECRET_MC = "hmac-secret-mc"  # CTAP 2.2: hmac-secret outputs at makeCredential
    THIRD_PARTY_PAYMENT = "thirdPartyPayment"  # CTAP 2.2: a credential usable for payments
    PREVIEW_SIGN = "previewSign"  # draft sign extension v4 (preview_sign.py)


PUBLIC_KEY_TYPE = "public-key"
RESET_WINDOW_SECONDS = 10.0
"""authenticatorReset is only honoured this long after power-up (§6.6)."""
LARGE_BLOB_MSG_OVERHEAD = 64
"""maxFragmentLength = maxMsgSize - 64 (§6.10)."""
PIN_UV_AUTH_PREFIX = b"\xff" * 32
"""The 32 x 0xff prefix of largeBlobs and config pinUvAuthParam messages."""


class U2fIns(IntEnum):
    """CTAP1/U2F instructions (FIDO U2F raw message formats)."""

    REGISTER = 0x01
    AUTHENTICATE = 0x02
    VERSION = 0x03


class U2fControl(IntEnum):
    CHECK_ONLY = 0x07
    ENFORCE_USER_PRESENCE = 0x03
    DONT_ENFORCE_USER_PRESENCE = 0x08


class IsoSw(IntEnum):
    """ISO 7816-4 status words used by U2F."""

    NO_ERROR = 0x9000
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    WRONG_LENGTH = 0x6700
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00
