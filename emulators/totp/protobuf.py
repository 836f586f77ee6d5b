"""The part of the protobuf wire format that Google Authenticator's export uses.

Varints and length-delimited fields are read and written; fixed32/fixed64 fields are read
only to skip them (unknown fields are skipped, as protobuf requires). Anything truncated,
overlong or of a deprecated wire type is a `ProtobufError`.
"""

from __future__ import annotations

from collections.abc import Iterator

from tokenbench.emulators.totp.errors import MigrationError

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LENGTH_DELIMITED = 2
WIRE_FIXED32 = 5
_FIXED_SIZES = {WIRE_FIXED64: 8, WIRE_FIXED32: 4}
MAX_VARINT_BYTES = 10
MAX_VARINT = 2**64 - 1
MAX_FIELD_NUMBER = 2**29 - 1

FieldValue = int | bytes


class ProtobufError(MigrationError):
    """Bytes that are not a well-formed protobuf message."""


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise ProtobufError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it)."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if value > MAX_VARINT:
                raise ProtobufError("varint longer than 64 bits")
            return value, pos + index + 1
    raise ProtobufError("varint longer than 10 bytes")


def iter_fields(data: bytes) -> Iterator[tuple[int, int, FieldValue]]:
    """(field number, wire type, value) for each field: int for varint/fixed, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 0x7
        if not 1 <= number <= MAX_FIELD_NUMBER:
            raise ProtobufError(f"invalid field number {number}")
        if wire_type == WIRE_VARINT:
            value, pos = read_varint(data, pos)
            yield number, wire_type, value
        elif wire_type == WIRE_LENGTH_DELIMITED:
            length, pos = read_varint(data, pos)
            if length > len(data) - pos:
                raise ProtobufError(f"field {number} runs past the end of the data")
            yield number, wire_type, bytes(data[pos : pos + length])
            pos += length
        elif wire_type in _FIXED_SIZES:
            size = _FIXED_SIZES[wire_type]
            if size > len(data) - pos:
                raise ProtobufError(f"field {number} runs past the end of the data")
            yield number, wire_type, int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            raise ProtobufError(f"field {number} has unsupported wire type {wire_type}")


def encode_field(number: int, value: FieldValue) -> bytes:
    """A varint field for an int, a length-delimited field for bytes."""
    if isinstance(value, int):
        return encode_varint(number << 3 | WIRE_VARINT) + encode_varint(value)
    return encode_varint(number << 3 | WIRE_LENGTH_DELIMITED) + encode_varint(len(value)) + value
