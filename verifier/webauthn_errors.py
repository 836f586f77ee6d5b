"""The one error type of WebAuthn verification, with a machine-readable `code`.

Callers (the IAM rules, the CLI) branch on `code`; the message is one line for people.
Every refusal, including malformed input from an attacker, surfaces as a WebAuthnError,
never as a parser's own exception.
"""

from __future__ import annotations

ERROR_CODES = frozenset(
    {
        "challenge-mismatch",
        "origin-mismatch",
        "rp-id-mismatch",
        "type-mismatch",
        "signature-invalid",
        "counter-regression",
        "backup-eligibility-changed",
        "user-presence-missing",
        "user-verification-missing",
        "untrusted-attestation",
        "unsupported-algorithm",
        "malformed",
    }
)


class WebAuthnError(Exception):
    """A registration or assertion was refused; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown WebAuthn error code {code!r}")
        super().__init__(message.splitlines()[0] if message else code)
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


class CounterRegression(WebAuthnError):
    """The signature counter did not increase: a cloned authenticator or a replay."""

    def __init__(self, stored: int, received: int) -> None:
        super().__init__(
            "counter-regression", f"signature counter {received} is not above stored {stored}"
        )
        self.stored = stored
        self.received = received
