"""The ISO 7816-4 APDU codec under its first name: it lives in `emulators.card.apdu` now, beside
the card's applet protocol; this module re-exports it for code that imports it from here."""

from __future__ import annotations

from tokenbench.emulators.card.apdu import (
    CLA_CHAINING,
    CLA_PROPRIETARY,
    EXTENDED_MAX_NC,
    EXTENDED_MAX_NE,
    HEADER_LENGTH,
    SHORT_MAX_NC,
    SHORT_MAX_NE,
    SW1_MORE_DATA,
    ApduError,
    CommandApdu,
    ResponseChain,
    StatusWord,
    response,
    split_response,
)

__all__ = [
    "CLA_CHAINING",
    "CLA_PROPRIETARY",
    "EXTENDED_MAX_NC",
    "EXTENDED_MAX_NE",
    "HEADER_LENGTH",
    "SHORT_MAX_NC",
    "SHORT_MAX_NE",
    "SW1_MORE_DATA",
    "ApduError",
    "CommandApdu",
    "ResponseChain",
    "StatusWord",
    "response",
    "split_response",
]
