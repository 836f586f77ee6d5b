"""Google Authenticator's batch export, `otpauth-migration://offline?data=BASE64`.

`data` is a protobuf `MigrationPayload`:

    MigrationPayload { repeated OtpParameters otp_parameters = 1; int32 version = 2;
                       int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5; }
    OtpParameters    { bytes secret = 1; string name = 2; string issuer = 3;
                       Algorithm algorithm = 4; DigitCount digits = 5; OtpType type = 6;
                       int64 counter = 7; }

The format has no period: every TOTP account in it uses 30 s, so an account with another
period (or 7 digits) cannot be exported and says so. `name` is written as the label
(`Issuer:account`), as Google Authenticator does, and read with the otpauth label rules.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import quote

from tokenbench.emulators.totp.errors import MigrationError, OtpauthError
from tokenbench.emulators.totp.otp import DEFAULT_PERIOD, HOTP, TOTP, OtpAccount
from tokenbench.emulators.totp.protobuf import (
    WIRE_LENGTH_DELIMITED,
    WIRE_VARINT,
    FieldValue,
    encode_field,
    iter_fields,
)
from tokenbench.emulators.totp.uri import percent_decode, split_label

MIGRATION_SCHEME = "otpauth-migration"
MIGRATION_PREFIX = f"{MIGRATION_SCHEME}://offline"
FORMAT_VERSION = 1

PAYLOAD_OTP_PARAMETERS = 1
PAYLOAD_VERSION = 2
PAYLOAD_BATCH_SIZE = 3
PAYLOAD_BATCH_INDEX = 4

OTP_SECRET = 1
OTP_NAME = 2
OTP_ISSUER = 3
OTP_ALGORITHM = 4
OTP_DIGITS = 5
OTP_TYPE = 6
OTP_COUNTER = 7
_OTP_FIELD_WIRE_TYPES = {
    OTP_SECRET: WIRE_LENGTH_DELIMITED,
    OTP_NAME: WIRE_LENGTH_DELIMITED,
    OTP_ISSUER: WIRE_LENGTH_DELIMITED,
    OTP_ALGORITHM: WIRE_VARINT,
    OTP_DIGITS: WIRE_VARINT,
    OTP_TYPE: WIRE_VARINT,
    OTP_COUNTER: WIRE_VARINT,
}

# Enum values; 0 is "unspecified", which Google Authenticator reads as the default.
ALGORITHM_UNSPECIFIED, ALGORITHM_MD5 = 0, 4
ALGORITHM_CODES = {"SHA1": 1, "SHA256": 2, "SHA512": 3}
DIGIT_CODES = {6: 1, 8: 2}
TYPE_CODES = {HOTP: 1, TOTP: 2}
_UNSPECIFIED = 0
_INT64_SIGN = 2**63
_Value = TypeVar("_Value")


def _invert(codes: dict[_Value, int], default: _Value) -> dict[int, _Value]:
    return {_UNSPECIFIED: default} | {code: value for value, code in codes.items()}


_ALGORITHMS_BY_CODE = _invert(ALGORITHM_CODES, "SHA1")
_DIGITS_BY_CODE = _invert(DIGIT_CODES, 6)
_TYPES_BY_CODE = _invert(TYPE_CODES, TOTP)


def _enum(table: dict[int, _Value], value: FieldValue, what: str) -> _Value:
    if not isinstance(value, int) or value not in table:
        raise MigrationError(f"an exported account has an unknown {what} code {value!r}")
    return table[value]


def _text(value: FieldValue, what: str) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MigrationError(f"an exported account's {what} is not UTF-8") from None


def _decode_otp_parameters(data: bytes) -> OtpAccount:
    fields: dict[int, FieldValue] = {}
    for number, wire_type, value in iter_fields(data):
        expected = _OTP_FIELD_WIRE_TYPES.get(number)
        if expected is None:
            continue  # unknown field: skipped, as protobuf readers do
        if wire_type != expected:
            raise MigrationError(f"OtpParameters field {number} has the wrong wire type")
        fields[number] = value  # a repeated scalar: the last one wins
    if fields.get(OTP_ALGORITHM) == ALGORITHM_MD5:
        raise MigrationError("an exported account uses MD5, which is not supported")
    counter = fields.get(OTP_COUNTER, 0)
    assert isinstance(counter, int)
    if counter >= _INT64_SIGN:
        raise MigrationError("an exported account has a negative counter")
    secret = fields.get(OTP_SECRET, b"")
    assert isinstance(secret, bytes)  # its wire type was checked above
    name = _text(fields.get(OTP_NAME, b""), "name")
    issuer = _text(fields.get(OTP_ISSUER, b""), "issuer")
    issuer, account = split_label(name, issuer or None)
    try:
        return OtpAccount(
            secret=secret,
            issuer=issuer,
            account=account,
            kind=_enum(_TYPES_BY_CODE, fields.get(OTP_TYPE, 0), "type"),
            algorithm=_enum(_ALGORITHMS_BY_CODE, fields.get(OTP_ALGORITHM, 0), "algorithm"),
            digits=_enum(_DIGITS_BY_CODE, fields.get(OTP_DIGITS, 0), "digits"),
            counter=counter,
        )
    except MigrationError:
        raise
    except OtpauthError as exc:
        raise MigrationError(f"an exported account is unusable: {exc}") from None


def decode_payload(data: bytes) -> list[OtpAccount]:
    """A serialized `MigrationPayload` -> its accounts (at least one)."""
    accounts = []
    for number, wire_type, value in iter_fields(data):
        if number != PAYLOAD_OTP_PARAMETERS:
            continue  # version and batch fields tell nothing we need
        if wire_type != WIRE_LENGTH_DELIMITED:
            raise MigrationError("MigrationPayload field 1 has the wrong wire type")
        assert isinstance(value, bytes)
        accounts.append(_decode_otp_parameters(value))
    if not accounts:
        raise MigrationError("the export holds no accounts")
    return accounts


def encode_payload(accounts: Sequence[OtpAccount]) -> bytes:
    """The accounts as one serialized `MigrationPayload` (one batch)."""
    if not accounts:
        raise MigrationError("nothing to export: no accounts")
    payload = bytearray()
    for account in accounts:
        if account.kind == TOTP and account.period != DEFAULT_PERIOD:
            raise MigrationError(
                f"{account.label!r} uses a {account.period} s period; the export format "
                f"only carries {DEFAULT_PERIOD} s accounts"
            )
        if account.digits not in DIGIT_CODES:
            raise MigrationError(
                f"{account.label!r} has {account.digits} digits; the export format "
                "only carries 6 or 8"
            )
        parameters = (
            encode_field(OTP_SECRET, account.secret)
            + encode_field(OTP_NAME, account.label.encode("utf-8"))
            + encode_field(OTP_ISSUER, account.issuer.encode("utf-8"))
            + encode_field(OTP_ALGORITHM, ALGORITHM_CODES[account.algorithm])
            + encode_field(OTP_DIGITS, DIGIT_CODES[account.digits])
            + encode_field(OTP_TYPE, TYPE_CODES[account.kind])
        )
        if account.kind == HOTP:
            parameters += encode_field(OTP_COUNTER, account.counter)
        payload += encode_field(PAYLOAD_OTP_PARAMETERS, parameters)
    payload += encode_field(PAYLOAD_VERSION, FORMAT_VERSION)
    payload += encode_field(PAYLOAD_BATCH_SIZE, 1)
    payload += encode_field(PAYLOAD_BATCH_INDEX, 0)
    return bytes(payload)


def _decode_base64(text: str) -> bytes:
    # Tolerate what copying does to it: URL-safe letters, lost padding, '+' read as a space.
    normalized = text.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MigrationError("the data parameter is not Base64") from None


def parse_migration_uri(uri: str) -> list[OtpAccount]:
    """`otpauth-migration://offline?data=...` -> the accounts it carries."""
    if not isinstance(uri, str):
        raise MigrationError("a migration URI must be text")
    uri = uri.strip()
    head, _, query = uri.partition("?")
    if head.lower() != MIGRATION_PREFIX:
        raise MigrationError("not an otpauth-migration://offline URI")
    data = None
    for item in query.partition("#")[0].split("&"):
        name, _, value = item.partition("=")
        if name.lower() == "data":
            if data is not None:
                raise MigrationError("the data parameter is given twice")
            try:
                data = percent_decode(value, "the data parameter")
            except OtpauthError as exc:
                raise MigrationError(str(exc)) from None
    if not data:
        raise MigrationError("the migration URI has no data parameter")
    return decode_payload(_decode_base64(data))


def build_migration_uri(accounts: Sequence[OtpAccount]) -> str:
    data = base64.b64encode(encode_payload(accounts)).decode("ascii")
    return f"{MIGRATION_PREFIX}?data={quote(data, safe='')}"
