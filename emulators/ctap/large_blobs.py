"""authenticatorLargeBlobs (CTAP 2.1 §6.10): the serialized large-blob array.

The array is stored opaquely: CBOR array || LEFT(SHA-256(array), 16). Reads are fragments at an
offset; a write arrives as fragments at increasing offsets, is kept aside (a `PendingWrite`
in the key's `pending` slot) until the last one, and only replaces the stored array if its
trailing checksum is right.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace

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
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.request import CborMap, Members, PinUvAuth, Response
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import always_uv, token_param

CHECKSUM_LEN = 16
MIN_ARRAY_LEN = 1 + CHECKSUM_LEN
EMPTY_CBOR_ARRAY = b"\x80"


def checksum(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:CHECKSUM_LEN]


INITIAL_ARRAY = EMPTY_CBOR_ARRAY + checksum(EMPTY_CBOR_ARRAY)


def serialized(key: KeyContext) -> bytes:
    blob = key.state.large_blob
    return INITIAL_ARRAY if blob is None else blob


# ---- the request, parsed ------------------------------------------------------------------


@dataclass(frozen=True)
class ReadFragment:
    """get: `count` bytes of the stored array from `offset`."""

    count: int
    offset: int


@dataclass(frozen=True)
class WriteFragment:
    """set: `data` at `offset`; the first fragment (offset 0) announces the total `length`."""

    data: bytes
    offset: int
    length: int | None
    auth: PinUvAuth


LargeBlobsRequest = ReadFragment | WriteFragment


def parse(params: CborMap) -> LargeBlobsRequest:
    """CBOR_UNEXPECTED_TYPE / MISSING_PARAMETER for mistyped or missing members,
    INVALID_PARAMETER for both or neither of get and set, a negative number, or a length
    with get."""
    members = Members(params, "largeBlobs request")
    get = members.optional(P.GET, int)
    data = members.optional(P.SET, bytes)
    offset = members.required(P.OFFSET, int)
    length = members.optional(P.LENGTH, int)
    if offset < 0 or (get is not None and get < 0) or (length is not None and length < 0):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "negative offset or length")
    if data is not None and get is None:
        auth = PinUvAuth.parse(members, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL)
        return WriteFragment(data, offset, length, auth)
    if get is None or data is not None:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "exactly one of get and set")
    if length is not None:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "length is only for set")
    return ReadFragment(get, offset)


# ---- the write in progress -----------------------------------------------------------------


@dataclass(frozen=True)
class PendingWrite:
    """A write in progress: the announced length and the fragments received so far.

    Only another largeBlobs request continues it. Once complete (stored, or refused for its
    checksum) it accepts no more fragments: the next one must start over at offset 0.
    """

    expected_length: int
    received: bytes = b""

    @property
    def next_offset(self) -> int:
        return len(self.received)

    @property
    def complete(self) -> bool:
        return self.next_offset == self.expected_length

    def accepts(self, offset: int) -> bool:
        return not self.complete and offset == self.next_offset

    def extended(self, data: bytes) -> PendingWrite:
        return replace(self, received=self.received + data)

    def continued_by(self, command: int, body: bytes) -> bool:
        return command == CtapCommand.LARGE_BLOBS


# ---- the rules -----------------------------------------------------------------------------


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response | None:
    request = parse(params)
    if isinstance(request, ReadFragment):
        return _read(key, request)
    _write(key, request)
    return None


def _max_fragment(key: KeyContext) -> int:
    return key.profile.max_msg_size - LARGE_BLOB_MSG_OVERHEAD


def _read(key: KeyContext, request: ReadFragment) -> Response:
    strict = key.faults.checks_large_blobs  # the lax-large-blobs fault checks none of this
    if strict and request.count > _max_fragment(key):
        raise CtapError(CtapStatus.INVALID_LENGTH, "get larger than maxFragmentLength")
    stored = serialized(key)
    if strict and request.offset > len(stored):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "offset past the end")
    return {R.CONFIG: stored[request.offset : request.offset + request.count]}


def _write(key: KeyContext, request: WriteFragment) -> None:
    strict = key.faults.checks_large_blobs  # the lax-large-blobs fault checks none of this
    if strict and len(request.data) > _max_fragment(key):
        raise CtapError(CtapStatus.INVALID_LENGTH, "fragment larger than maxFragmentLength")
    if request.offset == 0:
        key.pending = _begin(key, request.length, strict)
    elif request.length is not None:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "length only on the first fragment")
    write = key.pending
    if not isinstance(write, PendingWrite) or (strict and not write.accepts(request.offset)):
        raise CtapError(CtapStatus.INVALID_SEQ, "fragment out of sequence")
    if key.uv_protected() or always_uv(key):
        _authorize(key, request)
    if strict and request.offset + len(request.data) > write.expected_length:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "more data than announced")
    write = write.extended(request.data)
    key.pending = write
    if write.next_offset >= write.expected_length:
        _store(key, write.received, strict)


def _begin(key: KeyContext, length: int | None, strict: bool) -> PendingWrite:
    if length is None:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "first fragment needs length")
    if strict and length > key.profile.max_serialized_large_blob_array:
        raise CtapError(CtapStatus.LARGE_BLOB_STORAGE_FULL, "array too large")
    if length < MIN_ARRAY_LEN:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "array shorter than its checksum")
    return PendingWrite(length)


def _store(key: KeyContext, array: bytes, strict: bool) -> None:
    if strict and checksum(array[:-CHECKSUM_LEN]) != array[-CHECKSUM_LEN:]:
        raise CtapError(CtapStatus.INTEGRITY_FAILURE, "large-blob array checksum wrong")
    key.state.large_blob = array
    key.persist()


def _authorize(key: KeyContext, request: WriteFragment) -> None:
    param, protocol = token_param(key, request.auth, "large-blob write")
    message = (
        PIN_UV_AUTH_PREFIX
        + bytes([CtapCommand.LARGE_BLOBS, 0x00])
        + struct.pack("<I", request.offset)
        + hashlib.sha256(request.data).digest()
    )
    permission = Permission.LBW if key.faults.checks_token_permissions else Permission(0)
    key.client_pin.verify_token(protocol, param, message, permission, None)
