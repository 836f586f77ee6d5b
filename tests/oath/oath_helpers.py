"""Helpers for the OATH applet tests: commands as a client sends them, and answers unpacked.

The byte layouts are written out here from Yubico's YKOATH protocol description (not taken from
the applet under test), so a mistake in the applet's encoder is not mirrored by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import pyotp

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.nfc import NfcCard

OATH_AID = bytes.fromhex("A0000005272101")
SELECT_OATH = bytes.fromhex("00A4040007") + OATH_AID
TOTP, HOTP = 0x20, 0x10
SHA1, SHA256, SHA512 = 0x01, 0x02, 0x03
OK = 0x9000


class Totp(pyotp.TOTP):
    """pyotp with the 80-bit seed floor real services use (pyotp 2.12 wants 112 bits)."""

    min_secret_length_bits = 80


class Hotp(pyotp.HOTP):
    min_secret_length_bits = 80


def tlv(tag: int, value: bytes = b"") -> bytes:
    if len(value) < 0x80:
        return bytes((tag, len(value))) + value
    return bytes((tag, 0x81, len(value))) + value


def apdu(ins: int, p1: int = 0, p2: int = 0, data: bytes = b"", le: int | None = 0) -> bytes:
    out = bytes((0, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le,))
    return out


def put(
    name: bytes | str,
    secret: bytes,
    *,
    kind: int = TOTP | SHA1,
    digits: int = 6,
    touch: bool = False,
    imf: int | None = None,
) -> bytes:
    name = name.encode() if isinstance(name, str) else name
    data = tlv(0x71, name) + tlv(0x73, bytes((kind, digits)) + secret)
    if touch:
        data += b"\x78\x02"
    if imf is not None:
        data += tlv(0x7A, struct.pack(">I", imf))
    return apdu(0x01, data=data, le=None)


def calculate(name: bytes | str, challenge: bytes, truncated: bool = True) -> bytes:
    name = name.encode() if isinstance(name, str) else name
    return apdu(0xA2, 0, int(truncated), tlv(0x71, name) + tlv(0x74, challenge))


def calculate_all(challenge: bytes, truncated: bool = True) -> bytes:
    return apdu(0xA4, 0, int(truncated), tlv(0x74, challenge))


def delete(name: bytes | str) -> bytes:
    name = name.encode() if isinstance(name, str) else name
    return apdu(0x02, data=tlv(0x71, name), le=None)


def rename(old: bytes | str, new: bytes | str) -> bytes:
    old = old.encode() if isinstance(old, str) else old
    new = new.encode() if isinstance(new, str) else new
    return apdu(0x05, data=tlv(0x71, old) + tlv(0x71, new), le=None)


LIST = apdu(0xA1)
SEND_REMAINING = apdu(0xA5)
RESET = apdu(0x04, 0xDE, 0xAD, le=None)


def time_step(t: int, period: int = 30) -> bytes:
    return struct.pack(">q", t // period)


def parse_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length == 0x81:
            length = data[pos]
            pos += 1
        out.append((tag, data[pos : pos + length]))
        pos += length
    assert pos == len(data), "trailing bytes after the TLVs"
    return out


def code_of(value: bytes) -> str:
    """A truncated response's value (digits byte + 4 bytes) as the code a client shows."""
    digits = value[0]
    number = int.from_bytes(value[1:], "big") & 0x7FFFFFFF
    return str(number % 10**digits).rjust(digits, "0")


def hmac_sha1(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha1).digest()


def derive(salt: bytes, password: str) -> bytes:
    """The access key ykman derives: PBKDF2-HMAC-SHA1, 1000 rounds, 16 bytes."""
    return hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 1000, 16)


class Client:
    """An OATH client over the card's `transmit`, following 61xx with SEND REMAINING."""

    def __init__(self, card: NfcCard) -> None:
        self.card = card
        card.power_on()

    def raw(self, command: bytes) -> tuple[bytes, int]:
        answer = self.card.transmit(command)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    def send(self, command: bytes) -> tuple[bytes, int]:
        data, sw = self.raw(command)
        while sw >> 8 == 0x61:
            more, sw = self.raw(SEND_REMAINING)
            data += more
        return data, sw

    def ok(self, command: bytes) -> bytes:
        data, sw = self.send(command)
        assert sw == OK, f"SW {sw:04X} for {command.hex()}"
        return data

    def select(self) -> dict[int, bytes]:
        return dict(parse_tlvs(self.ok(SELECT_OATH)))

    def validate(self, password: str, challenge: bytes = b"c" * 8) -> tuple[bytes, int]:
        info = self.select()
        key = derive(info[0x71], password)
        data = tlv(0x75, hmac_sha1(key, info[0x74])) + tlv(0x74, challenge)
        return self.send(apdu(0xA3, data=data))

    def set_password(self, password: str) -> None:
        salt = self.select()[0x71]
        key = derive(salt, password)
        challenge = b"\x01" * 8
        data = (
            tlv(0x73, bytes((TOTP | SHA1,)) + key)
            + tlv(0x74, challenge)
            + tlv(0x75, hmac_sha1(key, challenge))
        )
        self.ok(apdu(0x03, data=data, le=None))

    def names(self) -> list[bytes]:
        return [value[1:] for tag, value in parse_tlvs(self.ok(LIST))]

    def code(self, name: str, challenge: bytes) -> str:
        tag, value = parse_tlvs(self.ok(calculate(name, challenge)))[0]
        assert tag == 0x76
        return code_of(value)


def new_key(**options: Any) -> EmulatedKey:
    options.setdefault("seed", 7)
    return EmulatedKey.create(**options)


def client(key: EmulatedKey) -> Client:
    c = Client(key.nfc_card())
    c.select()
    return c
