"""YKOATH over ISO 7816 APDUs: the one OATH client of the bench.

The `oath` conformance suite, `tokenbench totp app export --to-key` and `tokenbench key info`
all talk to a key's OATH applet through `OathSession`, so a wire detail (a tag, a status word,
SEND REMAINING chaining) is written once. It lives among the suites because a suite imports
nothing of tokenbench but the suites (they run unchanged against real keys). The session
takes a `Transmit` function (APDU bytes -> answer bytes and status word), so the same code
drives python-fido2's `CtapPcscDevice` (`apdu_exchange`) on a real reader or on the emulated
card in vpcd; nothing here knows which.

Facts from Yubico's YKOATH protocol description (and yubikit's `oath.py`, read, not copied):
AID A0 00 00 05 27 21 01; BER-TLV data; answers longer than one APDU are chained with 61XX
and fetched with SEND REMAINING (A5), not GET RESPONSE; a password is an HMAC-SHA1 key derived
with PBKDF2-SHA1 (1000 rounds, 16 bytes) from the applet's salt, proven by challenge-response.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

OATH_AID = bytes.fromhex("A0000005272101")
FIDO_AID = bytes.fromhex("A0000006472F0001")
CLA = 0x00
INS_SELECT = 0xA4
P1_SELECT_BY_AID = 0x04
SW1_MORE_DATA = 0x61
MAX_SHORT_DATA = 255
MAX_CHAINED_ANSWERS = 1000
CHALLENGE_BYTES = 8
MIN_KEY_BYTES = 14  # the applet pads shorter HMAC keys with zeros (YKOATH: "at least 14")
DEFAULT_PERIOD = 30
PBKDF2_ROUNDS = 1000
ACCESS_KEY_BYTES = 16
RESET_P1P2 = (0xDE, 0xAD)
P2_TRUNCATE = 0x01
PROPERTY_REQUIRE_TOUCH = 0x02

Transmit = Callable[[bytes], tuple[bytes, int]]
"""Send one APDU; the answer's data and its status word (SW1 << 8 | SW2)."""


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
    PROPERTY = 0x78
    VERSION = 0x79
    IMF = 0x7A
    ALGORITHM = 0x7B
    TOUCH = 0x7C


class Sw(IntEnum):
    OK = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_CONDITION = 0x6982  # locked by a password (or, on a YubiKey, touch timed out)
    NO_SUCH_OBJECT = 0x6984  # YKOATH: "no such object" / "response does not match"
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_SYNTAX = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    NO_SPACE = 0x6A84
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


class OathType(IntEnum):
    HOTP = 0x10
    TOTP = 0x20


class Algorithm(IntEnum):
    SHA1 = 0x01
    SHA256 = 0x02
    SHA512 = 0x03

    @property
    def hashlib_name(self) -> str:
        return self.name.lower()


class OathError(Exception):
    """The applet answered a status word other than 9000."""

    def __init__(self, ins: int, sw: int) -> None:
        super().__init__(f"OATH instruction {ins:02X} answered status {sw:04X}")
        self.ins = ins
        self.sw = sw


# --------------------------------------------------------------------------- wire format


def apdu(ins: int, p1: int = 0, p2: int = 0, data: bytes = b"", cla: int = CLA) -> bytes:
    """A short case 3/4 APDU with Le 00 (the applet answers as much as it has)."""
    if len(data) > MAX_SHORT_DATA:
        raise ValueError(f"{len(data)} bytes do not fit one short APDU")
    body = bytes((len(data),)) + data if data else b""
    return bytes((cla, ins, p1, p2)) + body + b"\x00"


def tlv(tag: int, value: bytes = b"") -> bytes:
    """One BER-TLV (lengths 0-65535)."""
    size = len(value)
    if size < 0x80:
        length = bytes((size,))
    elif size < 0x100:
        length = bytes((0x81, size))
    else:
        length = b"\x82" + struct.pack(">H", size)
    return bytes((tag,)) + length + value


def parse_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """A flat sequence of one-byte-tag BER-TLVs; ValueError on a malformed one."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated TLV header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            if count not in (1, 2) or pos + count > len(data):
                raise ValueError("bad TLV length")
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        else:
            size = first
        if pos + size > len(data):
            raise ValueError("TLV value runs past the answer")
        out.append((tag, data[pos : pos + size]))
        pos += size
    return out


def tlv_map(data: bytes) -> dict[int, bytes]:
    """The TLVs of an answer by tag (the first of each tag)."""
    found: dict[int, bytes] = {}
    for tag, value in parse_tlvs(data):
        found.setdefault(tag, value)
    return found


# --------------------------------------------------------------------------- OTP arithmetic


def totp_challenge(timestamp: int, period: int = DEFAULT_PERIOD) -> bytes:
    """The 8-byte moving factor a client sends for TOTP (RFC 6238: T = floor(t / period))."""
    return struct.pack(">q", timestamp // period)


def dynamic_truncation(digest: bytes) -> int:
    """RFC 4226 §5.3: the 31-bit number at the offset the last nibble names."""
    offset = digest[-1] & 0x0F
    return int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF


def format_code(truncated: bytes) -> str:
    """A truncated answer (digits byte + 4 bytes) -> the code, zero-padded."""
    if len(truncated) != 5:
        raise ValueError(f"a truncated answer has 5 bytes, not {len(truncated)}")
    digits = truncated[0]
    value = int.from_bytes(truncated[1:], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def hotp(
    secret: bytes, counter: int, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1
) -> str:
    """The reference code (RFC 4226 / RFC 6238) the applet's answers are compared with."""
    digest = hmac.new(secret, struct.pack(">Q", counter), algorithm.hashlib_name).digest()
    return str(dynamic_truncation(digest) % 10**digits).zfill(digits)


def applet_key(secret: bytes, algorithm: Algorithm) -> bytes:
    """The HMAC key as the applet stores it: hashed if longer than a block, padded to 14."""
    block = hashlib.new(algorithm.hashlib_name).block_size
    if len(secret) > block:
        secret = hashlib.new(algorithm.hashlib_name, secret).digest()
    return secret.ljust(MIN_KEY_BYTES, b"\0")


def derive_access_key(salt: bytes, password: str) -> bytes:
    """YKOATH's password -> access key: PBKDF2-HMAC-SHA1, 1000 rounds, 16 bytes."""
    return hashlib.pbkdf2_hmac("sha1", password.encode(), salt, PBKDF2_ROUNDS, ACCESS_KEY_BYTES)


def hmac_sha1(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, "sha1").digest()


def account_name(name: str, issuer: str | None, oath_type: OathType, period: int) -> bytes:
    """The name the applet stores: `[period/][issuer:]name` (the period only if not 30, TOTP)."""
    text = f"{issuer}:{name}" if issuer else name
    if oath_type == OathType.TOTP and period != DEFAULT_PERIOD:
        text = f"{period}/{text}"
    return text.encode()


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class SelectAnswer:
    """SELECT's answer: applet version, salt (device id), and a challenge iff a password is set."""

    version: tuple[int, ...]
    salt: bytes
    challenge: bytes | None
    algorithm: int | None

    @property
    def password_set(self) -> bool:
        return self.challenge is not None

    @classmethod
    def parse(cls, data: bytes) -> SelectAnswer:
        fields = tlv_map(data)
        if Tag.VERSION not in fields or Tag.NAME not in fields:
            raise ValueError("SELECT answer lacks the version or the salt")
        algorithm = fields.get(Tag.ALGORITHM)
        return cls(
            version=tuple(fields[Tag.VERSION]),
            salt=fields[Tag.NAME],
            challenge=fields.get(Tag.CHALLENGE),
            algorithm=algorithm[0] if algorithm else None,
        )


@dataclass(frozen=True)
class Listed:
    """One LIST entry: the stored name and its type/algorithm byte."""

    name: bytes
    oath_type: int
    algorithm: int


@dataclass(frozen=True)
class Calculated:
    """One CALCULATE ALL entry: the name, the answer's tag (76, 77 HOTP, 7C touch), its value."""

    name: bytes
    tag: int
    value: bytes


@dataclass(frozen=True)
class Account:
    """What PUT writes. `secret` is the raw shared secret; it never leaves this object but
    to the applet."""

    name: bytes
    secret: bytes = b""
    oath_type: OathType = OathType.TOTP
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    touch: bool = False
    counter: int = 0

    def __repr__(self) -> str:  # never a seed in a log or a test report
        return f"Account(name={self.name!r}, type={self.oath_type.name}, digits={self.digits})"

    def put_data(self) -> bytes:
        key = applet_key(self.secret, self.algorithm)
        data = tlv(Tag.NAME, self.name)
        data += tlv(Tag.KEY, bytes((self.oath_type | self.algorithm, self.digits)) + key)
        if self.touch:
            data += bytes((Tag.PROPERTY, PROPERTY_REQUIRE_TOUCH))  # YKOATH: tag+value, no length
        if self.counter:
            data += tlv(Tag.IMF, struct.pack(">I", self.counter))
        return data


# --------------------------------------------------------------------------- the session


class OathSession:
    """YKOATH instructions over one `Transmit`; each raises `OathError` on a status word
    other than 9000 (`exchange` returns it instead, for tests of the status words)."""

    def __init__(self, transmit: Transmit) -> None:
        self.transmit = transmit
        self.selected: SelectAnswer | None = None

    def exchange(self, ins: int, p1: int = 0, p2: int = 0, data: bytes = b"") -> tuple[bytes, int]:
        """One instruction; its whole answer (61XX followed with SEND REMAINING) and final SW."""
        answer, sw = self.transmit(apdu(ins, p1, p2, data))
        for _ in range(MAX_CHAINED_ANSWERS):
            if sw >> 8 != SW1_MORE_DATA:
                return answer, sw
            more, sw = self.transmit(apdu(Ins.SEND_REMAINING))
            answer += more
        raise OathError(Ins.SEND_REMAINING, sw)

    def call(self, ins: int, p1: int = 0, p2: int = 0, data: bytes = b"") -> bytes:
        answer, sw = self.exchange(ins, p1, p2, data)
        if sw != Sw.OK:
            raise OathError(ins, sw)
        return answer

    def select(self) -> SelectAnswer:
        answer, sw = self.exchange(INS_SELECT, P1_SELECT_BY_AID, 0, OATH_AID)
        if sw != Sw.OK:
            raise OathError(INS_SELECT, sw)
        self.selected = SelectAnswer.parse(answer)
        return self.selected

    def put(self, account: Account) -> None:
        self.call(Ins.PUT, data=account.put_data())

    def delete(self, name: bytes) -> None:
        self.call(Ins.DELETE, data=tlv(Tag.NAME, name))

    def rename(self, old: bytes, new: bytes) -> None:
        self.call(Ins.RENAME, data=tlv(Tag.NAME, old) + tlv(Tag.NAME, new))

    def list_accounts(self) -> list[Listed]:
        entries = []
        for tag, value in parse_tlvs(self.call(Ins.LIST)):
            if tag != Tag.NAME_LIST or not value:
                raise ValueError(f"LIST answered tag {tag:02X}")
            entries.append(Listed(value[1:], value[0] & 0xF0, value[0] & 0x0F))
        return entries

    def calculate(self, name: bytes, challenge: bytes, *, truncate: bool = True) -> bytes:
        """The answer's value: digits byte + 4 bytes (truncated) or + the whole HMAC."""
        data = tlv(Tag.NAME, name) + tlv(Tag.CHALLENGE, challenge)
        answer = self.call(Ins.CALCULATE, 0, P2_TRUNCATE if truncate else 0, data)
        fields = parse_tlvs(answer)
        wanted = Tag.TRUNCATED if truncate else Tag.RESPONSE
        if len(fields) != 1 or fields[0][0] != wanted:
            raise ValueError(f"CALCULATE answered {answer.hex()[:16]}..., not one tag {wanted:02X}")
        return fields[0][1]

    def calculate_all(self, challenge: bytes, *, truncate: bool = True) -> list[Calculated]:
        answer = self.call(
            Ins.CALCULATE_ALL, 0, P2_TRUNCATE if truncate else 0, tlv(Tag.CHALLENGE, challenge)
        )
        fields = parse_tlvs(answer)
        if len(fields) % 2 or any(tag != Tag.NAME for tag, _ in fields[::2]):
            raise ValueError("CALCULATE ALL answer is not name/answer pairs")
        return [
            Calculated(n, tag, v)
            for (_, n), (tag, v) in zip(fields[::2], fields[1::2], strict=True)
        ]

    def reset(self) -> SelectAnswer:
        self.call(Ins.RESET, *RESET_P1P2)
        return self.select()

    def validate(self, key: bytes) -> None:
        """Unlock with the access key, and check the applet's proof that it holds it too."""
        if self.selected is None or self.selected.challenge is None:
            raise ValueError("the applet is not locked (SELECT sent no challenge)")
        mine = os.urandom(CHALLENGE_BYTES)
        data = tlv(Tag.RESPONSE, hmac_sha1(key, self.selected.challenge))
        answer = self.call(Ins.VALIDATE, data=data + tlv(Tag.CHALLENGE, mine))
        if not hmac.compare_digest(tlv_map(answer).get(Tag.RESPONSE, b""), hmac_sha1(key, mine)):
            raise ValueError("the applet's VALIDATE answer does not prove the access key")

    def unlock(self, password: str) -> None:
        assert self.selected is not None, "select() first"
        self.validate(derive_access_key(self.selected.salt, password))

    def set_key(self, key: bytes) -> None:
        challenge = os.urandom(CHALLENGE_BYTES)
        data = tlv(Tag.KEY, bytes((OathType.TOTP | Algorithm.SHA1,)) + key)
        data += tlv(Tag.CHALLENGE, challenge) + tlv(Tag.RESPONSE, hmac_sha1(key, challenge))
        self.call(Ins.SET_CODE, data=data)

    def set_password(self, password: str) -> bytes:
        """Set a password; returns its access key (the caller may validate with it)."""
        assert self.selected is not None, "select() first"
        key = derive_access_key(self.selected.salt, password)
        self.set_key(key)
        return key

    def clear_password(self) -> None:
        self.call(Ins.SET_CODE, data=tlv(Tag.KEY))


def select_fido(transmit: Transmit) -> None:
    """Give the card back to its FIDO applet (python-fido2 assumes it stays selected)."""
    with contextlib.suppress(Exception):  # a card that left the reader has nothing to select
        transmit(apdu(INS_SELECT, P1_SELECT_BY_AID, 0, FIDO_AID))


def card_transmit(card: object) -> Transmit:
    """A `Transmit` over python-fido2's `CtapPcscDevice` (or anything with `apdu_exchange`)."""
    exchange = getattr(card, "apdu_exchange", None)
    if exchange is None:
        raise TypeError("the OATH applet needs a PC/SC card (pcsc:READER)")

    def transmit(command: bytes) -> tuple[bytes, int]:
        data, sw1, sw2 = exchange(command)
        return bytes(data), (sw1 << 8) | sw2

    return transmit
