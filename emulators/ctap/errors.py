"""The one exception the authenticator core raises for protocol failures.

`Authenticator.process` turns a `CtapError` into its status byte; nothing else escapes.
"""

from __future__ import annotations

from tokenbench.emulators.ctap.constants import CtapStatus


class CtapError(Exception):
    """A CTAP command failed with the given status code."""

    def __init__(self, status: CtapStatus, message: str = "") -> None:
        self.status = CtapStatus(status)
        self.message = message
        super().__init__(f"{self.status.name}" + (f": {message}" if message else ""))


class StateError(Exception):
    """The persisted key state is unreadable, corrupt, or belongs to another format/version."""
