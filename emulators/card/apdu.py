"""ISO/IEC 7816-4 command and response APDUs, as the emulated key's card receives and answers them.

The card (`emulators.transport.nfc`, with its FIDO applet and the applets of `emulators.oath`)
needs exactly three things from ISO 7816-4: parsing the four command cases in short and
extended form, the status words it answers with, and response chaining (61XX + GET RESPONSE).
They live here so that the card's state machine and its applets read as protocol logic and
the byte layouts are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, SupportsIndex

SHORT_MAX_NE = 256  # Le = 0x00 in a short APDU means 256
EXTENDED_MAX_NE = 65536  # Le = 0x0000 in an extended APDU means 65536
SHORT_MAX_NC = 255
EXTENDED_MAX_NC = 65535
HEADER_LENGTH = 4

CLA_CHAINING = 0x10  # ISO 7816-4 §5.1.1: "command is not the last command of a chain"
CLA_PROPRIETARY = 0x80
SW1_MORE_DATA = 0x61


class StatusWord(IntEnum):
    """The ISO 7816-4 status words (SW1 SW2) the card answers with."""

    SUCCESS = 0x9000
    CTAP_STATUS_UPDATE = 0x9100  # CTAP 2.1 §11.3.6: command still running, status byte follows
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883
    CHAINING_NOT_SUPPORTED = 0x6884
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82  # SELECT: no application with that AID
    INCORRECT_P1_P2 = 0x6A86
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00

    def to_bytes(
        self,
        length: SupportsIndex = 2,
        byteorder: Literal["little", "big"] = "big",
        *,
        signed: bool = False,
    ) -> bytes:
        """SW1 SW2 on the wire; int's own signature, with the defaults a status word needs."""
        return int(self).to_bytes(length, byteorder, signed=signed)


class ApduError(Exception):
    """A command APDU the card cannot even parse; answered with `status`, never raised further."""

    def __init__(self, status: StatusWord, message: str = "") -> None:
        super().__init__(message or status.name)
        self.status = status


@dataclass(frozen=True)
class CommandApdu:
    """One command APDU. `ne` is the number of response bytes the reader accepts (None: no Le)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = False

    @property
    def chained(self) -> bool:
        """True when more commands of the same chain follow (CLA bit b5)."""
        return bool(self.cla & CLA_CHAINING)

    @property
    def base_cla(self) -> int:
        return self.cla & ~CLA_CHAINING

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode the four ISO 7816-4 cases (§5.1), short or extended; ApduError(6700) otherwise."""
        if len(raw) < HEADER_LENGTH:
            raise ApduError(StatusWord.WRONG_LENGTH, "APDU shorter than its header")
        cla, ins, p1, p2 = raw[:HEADER_LENGTH]
        body = raw[HEADER_LENGTH:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2 short: Le only
            return cls(cla, ins, p1, p2, ne=body[0] or SHORT_MAX_NE)
        if body[0] != 0:  # short Lc
            nc = body[0]
            if len(body) == 1 + nc:  # case 3 short
                return cls(cla, ins, p1, p2, data=bytes(body[1:]))
            if len(body) == 2 + nc:  # case 4 short
                return cls(cla, ins, p1, p2, data=bytes(body[1:-1]), ne=body[-1] or SHORT_MAX_NE)
            raise ApduError(StatusWord.WRONG_LENGTH, "short Lc does not match the data")
        if len(body) == 3:  # case 2 extended: 00 Le1 Le2
            return cls(cla, ins, p1, p2, ne=_extended_ne(body[1:3]), extended=True)
        if len(body) < 3:
            raise ApduError(StatusWord.WRONG_LENGTH, "truncated extended length")
        nc = int.from_bytes(body[1:3], "big")
        if nc == 0:
            raise ApduError(StatusWord.WRONG_LENGTH, "extended Lc of zero")
        if len(body) == 3 + nc:  # case 3 extended
            return cls(cla, ins, p1, p2, data=bytes(body[3:]), extended=True)
        if len(body) == 5 + nc:  # case 4 extended
            data = bytes(body[3:-2])
            return cls(cla, ins, p1, p2, data=data, ne=_extended_ne(body[-2:]), extended=True)
        raise ApduError(StatusWord.WRONG_LENGTH, "extended Lc does not match the data")

    def encode(self) -> bytes:
        """The shortest valid encoding (extended only when needed or asked for)."""
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        extended = (
            self.extended
            or len(self.data) > SHORT_MAX_NC
            or (self.ne is not None and self.ne > SHORT_MAX_NE)
        )
        if len(self.data) > EXTENDED_MAX_NC:
            raise ValueError("command data longer than an extended APDU can carry")
        if self.ne is not None and not 1 <= self.ne <= EXTENDED_MAX_NE:
            raise ValueError("Ne out of range")
        out = header
        if extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.ne is not None:
                le = (self.ne % EXTENDED_MAX_NE).to_bytes(2, "big")
                out += le if self.data else b"\x00" + le
            return out
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.ne is not None:
            out += bytes((self.ne % SHORT_MAX_NE,))
        return out


def _extended_ne(le: bytes) -> int:
    return int.from_bytes(le, "big") or EXTENDED_MAX_NE


def response(data: bytes, status: int) -> bytes:
    """An R-APDU: response data followed by SW1 SW2."""
    return bytes(data) + int(status).to_bytes(2, "big")


def split_response(rapdu: bytes) -> tuple[bytes, int]:
    """(data, SW) of an R-APDU; ValueError when it has no status word."""
    if len(rapdu) < 2:
        raise ValueError("R-APDU without status word")
    return bytes(rapdu[:-2]), int.from_bytes(rapdu[-2:], "big")


class ResponseChain:
    """The rest of a response that did not fit the reader's Ne; served by GET RESPONSE.

    ISO 7816-4 §5.3.4 / CTAP 2.1 §11.3.5: the card sends what fits with SW 61XX, XX being the
    number of bytes still available (00 for 256 or more), and the reader fetches the rest.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._final_status = int(StatusWord.SUCCESS)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def clear(self) -> None:
        self._pending = b""

    def start(self, data: bytes, ne: int, status: int = StatusWord.SUCCESS) -> bytes:
        """Answer with at most `ne` bytes of `data`, keeping the rest for GET RESPONSE."""
        self._pending = bytes(data)
        self._final_status = int(status)
        return self.next(ne)

    def next(self, ne: int) -> bytes:
        chunk, self._pending = self._pending[:ne], self._pending[ne:]
        if not self._pending:
            return response(chunk, self._final_status)
        return response(chunk, (SW1_MORE_DATA << 8) | (min(len(self._pending), 256) & 0xFF))
