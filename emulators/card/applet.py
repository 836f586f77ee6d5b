"""What the card needs from an applet besides the built-in FIDO one.

The card (`emulators.transport.nfc.NfcCard`) owns ISO 7816 framing: it parses APDUs, assembles
command chains (CLA bit 0x10), serves ISO GET RESPONSE for answers longer than the reader's Ne,
and dispatches SELECT by AID. An applet sees only whole commands: `select` answers the SELECT
that picked it, `process` every later command while it stays selected, both returning an
R-APDU (data + SW1 SW2) and never raising. Applets know nothing of readers or transports, so
unit tests drive them with `CommandApdu` values directly.
"""

from __future__ import annotations

from typing import Protocol

from tokenbench.emulators.card.apdu import CommandApdu


class Applet(Protocol):
    """One application on the card, selected by `aid`."""

    @property
    def aid(self) -> bytes: ...

    def select(self, apdu: CommandApdu) -> bytes:
        """Answer the SELECT that chose this applet (R-APDU)."""
        ...

    def process(self, apdu: CommandApdu) -> bytes:
        """Answer one command (chain already assembled) while selected (R-APDU)."""
        ...

    def deselect(self) -> None:
        """Another application was selected (or a SELECT failed): drop session state."""
        ...

    def power_cycle(self) -> None:
        """The card lost power: drop everything volatile."""
        ...
