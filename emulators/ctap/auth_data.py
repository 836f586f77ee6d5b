"""authenticatorData and attestation statements (WebAuthn §6.1, §8.2, §8.7).

authenticatorData = rpIdHash(32) || flags(1) || signCount(4, big-endian)
                    [|| AAGUID(16) || credIdLen(2) || credId || COSE public key] [|| extensions].
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import AuthDataFlag, CoseAlg


def build_auth_data(
    rp_hash: bytes,
    flags: int,
    counter: int,
    aaguid: bytes | None = None,
    cred_id: bytes | None = None,
    public_key: Mapping[int, CborType] | None = None,
    extensions: Mapping[str, CborType] | None = None,
) -> bytes:
    out = bytearray(rp_hash)
    if cred_id is not None:
        flags |= AuthDataFlag.AT
    if extensions:
        flags |= AuthDataFlag.ED
    out += struct.pack(">BI", flags, counter & 0xFFFFFFFF)
    if cred_id is not None:
        assert aaguid is not None and public_key is not None
        out += aaguid + struct.pack(">H", len(cred_id)) + cred_id + cbor.encode(public_key)
    if extensions:
        out += cbor.encode(extensions)
    return bytes(out)


def packed_statement(alg: int, signature: bytes, chain: list[bytes] | None) -> dict[str, CborType]:
    """A `packed` attStmt: with x5c for batch/enterprise attestation, without for self."""
    stmt: dict[str, CborType] = {"alg": int(alg), "sig": signature}
    if chain:
        stmt["x5c"] = chain
    return stmt


BATCH_ALG = int(CoseAlg.ES256)
