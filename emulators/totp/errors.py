"""The error types of the TOTP emulators.

Each parser and loader here raises one of these (all `ValueError`s) for bad input, with a
one-line message that names what was wrong, so callers such as the CLI can catch one type
and never show a traceback.
"""

from __future__ import annotations


class TotpError(ValueError):
    """Base class: something handed to a TOTP emulator was not acceptable."""


class OtpauthError(TotpError):
    """A malformed `otpauth://` URI, Base32 secret or account parameter."""


class MigrationError(OtpauthError):
    """A malformed Google Authenticator `otpauth-migration://` export."""


class QrCodeError(TotpError):
    """A QR image that cannot be read, or that holds no QR code."""


class AppFileError(TotpError):
    """A virtual authenticator app's account file that is missing, unreadable or corrupt."""


class TokenStateError(TotpError):
    """A hardware token's state file (or factory registry) that is missing or corrupt."""


class SealError(TokenStateError):
    """A sealed seed that does not open: wrong or missing sealing key, or tampered data."""


class PskcError(TotpError):
    """A PSKC seed file that cannot be written or opened (wrong key, tampered, malformed)."""
