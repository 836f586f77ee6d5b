"""ctap2 suite: authenticatorLargeBlobs fragments, offsets, sizes and the checksum (CTAP 2.1
§6.10). The round trip and the token rules for a key without a PIN are in
test_ctap2_management.py.

A write arrives as fragments of at most maxFragmentLength (maxMsgSize - 64) bytes at increasing
offsets, the first announcing the total length (at most maxSerializedLargeBlobArray); the array
is kept only if its trailing LEFT(SHA-256(array), 16) is right. A read asks for at most
maxFragmentLength bytes from an offset within the array.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from fido2 import cbor
from fido2.ctap2 import LargeBlobs
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    expect_ctap_error,
    pin_token,
    skip_unclaimed,
)

pytestmark = [pytest.mark.destructive, pytest.mark.power_cycle]
CHECKSUM_SIZE = 16
FRAGMENT_OVERHEAD = 64  # §6.10: maxFragmentLength = maxMsgSize - 64
EMPTY_ARRAY = cbor.encode([]) + hashlib.sha256(cbor.encode([])).digest()[:CHECKSUM_SIZE]


def _serialized(entries: list[Any]) -> bytes:
    data = cbor.encode(entries)
    return data + hashlib.sha256(data).digest()[:CHECKSUM_SIZE]


def _blob_entry(size: int) -> dict[int, bytes]:
    """One entry of the large-blob array as a client writes it (ciphertext, nonce, origSize)."""
    return {1: os.urandom(size), 2: os.urandom(12), 3: cbor.encode(size)}


def _max_fragment(ctap2) -> int:
    if not LargeBlobs.is_supported(ctap2.info):
        skip_unclaimed("largeBlobs")
    return int(ctap2.info.max_msg_size) - FRAGMENT_OVERHEAD


def _read_all(ctap2) -> bytes:
    return bytes(ctap2.large_blobs(0, get=_max_fragment(ctap2))[1])


def test_write_with_a_wrong_checksum_is_refused(fresh_ctap2):
    _max_fragment(fresh_ctap2)
    data = _serialized([_blob_entry(40)])
    broken = data[:-1] + bytes([data[-1] ^ 0xFF])
    with expect_ctap_error(ERR.INTEGRITY_FAILURE, what="an array with a wrong checksum"):
        fresh_ctap2.large_blobs(0, set=broken, length=len(broken))
    assert _read_all(fresh_ctap2) == EMPTY_ARRAY, "a refused write changed the stored array"


def test_fragment_out_of_sequence_is_refused(fresh_ctap2):
    _max_fragment(fresh_ctap2)
    data = _serialized([_blob_entry(80)])
    half = len(data) // 2
    fresh_ctap2.large_blobs(0, set=data[:half], length=len(data))
    with expect_ctap_error(ERR.INVALID_SEQ, what="second fragment one byte too far"):
        fresh_ctap2.large_blobs(half + 1, set=data[half + 1 :])


def test_fragment_longer_than_max_fragment_is_refused(fresh_ctap2):
    size = _max_fragment(fresh_ctap2) + 1
    with expect_ctap_error(ERR.INVALID_LENGTH, what=f"a {size}-byte fragment"):
        fresh_ctap2.large_blobs(0, set=os.urandom(size), length=size + 100)


def test_more_data_than_announced_is_refused(fresh_ctap2):
    _max_fragment(fresh_ctap2)
    data = _serialized([_blob_entry(40)])
    with expect_ctap_error(ERR.INVALID_PARAMETER, what="a fragment past the announced length"):
        fresh_ctap2.large_blobs(0, set=data, length=len(data) - 1)


def test_array_size_is_bounded_by_max_serialized_large_blob_array(fresh_ctap2):
    max_fragment = _max_fragment(fresh_ctap2)
    limit = fresh_ctap2.info.max_large_blob
    data = _serialized([_blob_entry(limit - 64)])
    data = _serialized([_blob_entry(limit - 64 + (limit - len(data)))])
    assert len(data) == limit, "test error: could not build an array of exactly the limit"
    for offset in range(0, len(data), max_fragment):
        fragment = data[offset : offset + max_fragment]
        fresh_ctap2.large_blobs(offset, set=fragment, length=len(data) if not offset else None)
    too_long = data[:-CHECKSUM_SIZE] + b"\x00" + data[-CHECKSUM_SIZE:]
    with expect_ctap_error(ERR.LARGE_BLOB_STORAGE_FULL, what=f"a {limit + 1}-byte array"):
        fresh_ctap2.large_blobs(0, set=too_long[:max_fragment], length=len(too_long))


def test_read_longer_than_max_fragment_is_refused(fresh_ctap2):
    size = _max_fragment(fresh_ctap2) + 1
    with expect_ctap_error(ERR.INVALID_LENGTH, what=f"get {size}"):
        fresh_ctap2.large_blobs(0, get=size)


def test_read_past_the_end_is_refused(fresh_ctap2):
    _max_fragment(fresh_ctap2)
    with expect_ctap_error(ERR.INVALID_PARAMETER, what="get from past the end of the array"):
        fresh_ctap2.large_blobs(len(EMPTY_ARRAY) + 1, get=1)


@pytest.mark.needs_pin
def test_write_needs_the_lbw_permission(fresh_ctap2, bench_pin):
    _max_fragment(fresh_ctap2)
    protocol, token = pin_token(fresh_ctap2, bench_pin, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="large-blob write with a cm-only token"):
        LargeBlobs(fresh_ctap2, protocol, token).write_blob_array([])
