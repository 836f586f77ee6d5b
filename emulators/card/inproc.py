"""A card reached in-process, in the shape of yubikit's `SmartCardConnection`.

`CardConnection(card)` has what yubikit's sessions call (`send_and_receive(apdu) -> (data, sw)`,
`transport`, `close`), so `yubikit.oath.OathSession(CardConnection(key.nfc_card()))` talks to the
emulated card without pcscd. The class does not import yubikit (a dev-only dependency): it
duck-types the connection, and `transport` is the string "nfc", which equals yubikit's
`TRANSPORT.NFC` (a str enum). yubikit's `ManagementSession` checks `isinstance(connection,
SmartCardConnection)`: `yubikit_connection(card)` registers the class as a virtual subclass
first (importing yubikit then). Through pcscd, ykman's own `ScardSmartCardConnection` is used.
"""

from __future__ import annotations

from typing import Protocol

from tokenbench.emulators.card.apdu import split_response


class Card(Protocol):
    def transmit(self, raw: bytes) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...


class CardConnection:
    """One open connection to `card`, as if it had just been put in the reader's field."""

    transport = "nfc"

    def __init__(self, card: Card, *, power_on: bool = True) -> None:
        self.card = card
        self.closed = False
        if power_on:
            card.power_on()

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self.closed:
            raise OSError("connection closed")
        return split_response(self.card.transmit(bytes(apdu)))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> CardConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def yubikit_connection(card: Card) -> CardConnection:
    """A `CardConnection` that yubikit's isinstance checks accept (needs yubikey-manager)."""
    from yubikit.core.smartcard import SmartCardConnection

    SmartCardConnection.register(CardConnection)
    return CardConnection(card)
