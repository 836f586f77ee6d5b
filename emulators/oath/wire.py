"""The YKOATH wire format: instructions, TLV tags, types, status words, the TLV codec and the
HOTP arithmetic (RFC 4226 §5.3). One module so the applet's rules read apart from its bytes.

Sources: Yubico's YKOATH protocol description (developers.yubico.com/OATH/) and
yubikey-manager's `yubikit.oath`; docs/oath.md lists where ykneo-oath decided.
"""

from __future__ import annotations

import hmac
from enum import IntEnum


class Ins(IntEnum):
    PUT = 0x01
    DELETE = 0x02
    SET_CODE = 0x03
    RESET = 0x04
    RENAME = 0x05
    LIST = 0xA1
    CALCULATE = 0xA2
    VALIDATE = 0xA3
    CALCULATE_ALL = 0xA4
    SEND_REMAINING = 0xA5


class Tag(IntEnum):
    NAME = 0x71
    NAME_LIST = 0x72
    KEY = 0x73
    CHALLENGE = 0x74
    RESPONSE = 0x75
    TRUNCATED = 0x76
    HOTP = 0x77
    PROPERTY = 0x78  # followed by one value byte, no length
    VERSION = 0x79
    IMF = 0x7A
    ALGORITHM = 0x7B
    TOUCH = 0x7C


class OathType(IntEnum):
    HOTP = 0x10
    TOTP = 0x20


class HashAlg(IntEnum):
    SHA1 = 0x01
    SHA256 = 0x02
    SHA512 = 0x03


HASHES = {HashAlg.SHA1: "sha1", HashAlg.SHA256: "sha256", HashAlg.SHA512: "sha512"}
BLOCK_SIZES = {HashAlg.SHA1: 64, HashAlg.SHA256: 64, HashAlg.SHA512: 128}
MASK_TYPE = 0xF0
MASK_ALG = 0x0F
PROP_REQUIRE_TOUCH = 0x02
PROP_KNOWN = 0x03  # 0x01 "only increasing" (accepted, not used by HOTP here) | 0x02 touch
IMF_BYTES = 4


class Sw(IntEnum):
    """The status words the applet answers with (YKOATH protocol, ykneo-oath)."""

    OK = 0x9000
    WRONG_LENGTH = 0x6700
    AUTH_REQUIRED = 0x6982  # security status not satisfied: VALIDATE first, or no touch
    NO_SUCH_OBJECT = 0x6984  # data invalid: no credential of that name, no password set
    WRONG_DATA = 0x6A80  # malformed TLVs, bad key, wrong VALIDATE response
    NO_SPACE = 0x6A84
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    NO_PRECISE_DIAGNOSIS = 0x6F00
    MEMORY_FAILURE = 0x6581  # a stored credential does not open (tampered or damaged state)


class OathError(Exception):
    def __init__(self, status: Sw, message: str = "") -> None:
        super().__init__(message or status.name)
        self.status = status


def wrong_data(message: str) -> OathError:
    return OathError(Sw.WRONG_DATA, message)


# -- TLVs ---------------------------------------------------------------------------------------


def tlv(tag: int, value: bytes = b"") -> bytes:
    """One BER-TLV with a one-byte tag (lengths 81 xx / 82 xxxx past 127, as yubikit's Tlv)."""
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n <= 0xFF:
        length = bytes((0x81, n))
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return bytes((tag,)) + length + value


class TlvReader:
    """Reads the TLVs of a command in order; anything malformed is 6A80."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return None if self.at_end else self.data[self.pos]

    def byte(self) -> int:
        if self.at_end:
            raise wrong_data("command data ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def _length(self) -> int:
        first = self.byte()
        if first < 0x80:
            return first
        if first == 0x81:
            return self.byte()
        if first == 0x82:
            return (self.byte() << 8) | self.byte()
        raise wrong_data("unsupported TLV length form")

    def read(self, tag: int) -> bytes:
        found = self.byte()
        if found != tag:
            raise wrong_data(f"expected tag {tag:02x}, found {found:02x}")
        length = self._length()
        end = self.pos + length
        if end > len(self.data):
            raise wrong_data("TLV longer than the command data")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def done(self) -> None:
        if not self.at_end:
            raise wrong_data("unexpected data after the last TLV")


# -- the one-time-password arithmetic (RFC 4226 §5.3, RFC 6238 §4) --------------------------------


def hmac_digest(alg: int, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, HASHES[HashAlg(alg)]).digest()


def truncate(digest: bytes, *, off_by_one: bool = False) -> bytes:
    """RFC 4226 dynamic truncation: four bytes at the offset the last nibble names, top bit
    cleared (the card answers these; the client takes them modulo 10^digits)."""
    offset = (digest[-1] & 0x0F) + (1 if off_by_one else 0)
    part = bytearray(digest[offset : offset + 4])
    part[0] &= 0x7F
    return bytes(part)
