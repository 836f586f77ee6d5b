"""authenticatorLargeBlobs (CTAP 2.1 §6.10): the serialized large-blob array.

The array is stored opaquely: CBOR array || LEFT(SHA-256(array), 16). Reads are fragments at an
offset; a write arrives as fragments at increasing offsets, is kept aside until the last one,
and only replaces the stored array if its trailing checksum is right.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import (
    LARGE_BLOB_MSG_OVERHEAD,
    PIN_UV_AUTH_PREFIX,
    CtapCommand,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    LargeBlobsParam as P,
)
from tokenbench.emulators.ctap.constants import (
    LargeBlobsResponse as R,
)
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import get_bytes, get_int
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import token_param

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator

CHECKSUM_LEN = 16
MIN_ARRAY_LEN = 1 + CHECKSUM_LEN
EMPTY_CBOR_ARRAY = b"\x80"


def checksum(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:CHECKSUM_LEN]


INITIAL_ARRAY = EMPTY_CBOR_ARRAY + checksum(EMPTY_CBOR_ARRAY)


@dataclass
class PendingWrite:
    expected_length: int
    buffer: bytearray
    next_offset: int = 0


def serialized(auth: Authenticator) -> bytes:
    blob = auth.state.large_blob
    return INITIAL_ARRAY if blob is None else blob


def handle(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any] | None:
    get = get_int(params, P.GET)
    data = get_bytes(params, P.SET)
    offset = get_int(params, P.OFFSET, required=True)
    length = get_int(params, P.LENGTH)
    assert offset is not None
    if (get is None) == (data is None):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "exactly one of get and set")
    if offset < 0 or (get is not None and get < 0) or (length is not None and length < 0):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "negative offset or length")
    max_fragment = auth.profile.max_msg_size - LARGE_BLOB_MSG_OVERHEAD
    if get is not None:
        if length is not None:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "length is only for set")
        if get > max_fragment:
            raise CtapError(CtapStatus.INVALID_LENGTH, "get larger than maxFragmentLength")
        stored = serialized(auth)
        if offset > len(stored):
            raise CtapError(CtapStatus.INVALID_PARAMETER, "offset past the end")
        return {R.CONFIG: stored[offset : offset + get]}
    assert data is not None
    if len(data) > max_fragment:
        raise CtapError(CtapStatus.INVALID_LENGTH, "fragment larger than maxFragmentLength")
    if offset == 0:
        if length is None:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "first fragment needs length")
        if length > auth.profile.max_serialized_large_blob_array:
            raise CtapError(CtapStatus.LARGE_BLOB_STORAGE_FULL, "array too large")
        if length < MIN_ARRAY_LEN:
            raise CtapError(CtapStatus.INVALID_PARAMETER, "array shorter than its checksum")
        auth.large_blob_write = PendingWrite(length, bytearray())
    elif length is not None:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "length only on the first fragment")
    pending = auth.large_blob_write
    if pending is None or offset != pending.next_offset:
        raise CtapError(CtapStatus.INVALID_SEQ, "fragment out of sequence")
    if auth.uv_protected() or auth.state.always_uv:
        _authorize(auth, params, offset, data)
    if offset + len(data) > pending.expected_length:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "more data than announced")
    pending.buffer += data
    pending.next_offset += len(data)
    if pending.next_offset == pending.expected_length:
        auth.large_blob_write = None
        array = bytes(pending.buffer)
        if checksum(array[:-CHECKSUM_LEN]) != array[-CHECKSUM_LEN:]:
            raise CtapError(CtapStatus.INTEGRITY_FAILURE, "large-blob array checksum wrong")
        auth.state.large_blob = array
        auth.persist()
    return None


def _authorize(auth: Authenticator, params: dict[Any, Any], offset: int, data: bytes) -> None:
    param, protocol = token_param(
        auth, params, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL, "large-blob write"
    )
    message = (
        PIN_UV_AUTH_PREFIX
        + bytes([CtapCommand.LARGE_BLOBS, 0x00])
        + struct.pack("<I", offset)
        + hashlib.sha256(data).digest()
    )
    auth.client_pin.verify_token(protocol, param, message, Permission.LBW, None)
