"""The unusual authenticator data a software authenticator can produce, and who rejects it.

Each fault option is a fault of the emulated key (`tokenbench.emulators.ctap.faults`, same
name), so the signatures over the odd data are the key's own and only the data is wrong, as
with a broken or cloned real key. `uv=off` is the other option: the client asks the key for no
user verification whatever the server's options say.

`EXPECTED` records, for each option and each relying-party library we test against, what it
does in two ceremonies: a registration made with the option on from the start, and sign-ins
made with the option switched on after an honest registration (which sign-in is the first
refused). docs/webauthn-client.md prints this table; tests/webauthn/test_webauthn_client_matrix.py
checks every cell against the libraries themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokenbench.bench.errors import UserError

ACCEPTED = ""
UV_OFF = "uv-off"
SERVERS = ("py_webauthn", "python-fido2", "tokenbench")
"""py_webauthn (`webauthn` on PyPI), python-fido2's `Fido2Server`, our verifier."""


@dataclass(frozen=True)
class WebAuthnFault:
    name: str  # the emulator's fault name, used as is
    what: str  # what the authenticator does


WEBAUTHN_FAULTS: dict[str, WebAuthnFault] = {
    f.name: f
    for f in (
        WebAuthnFault("backup-flags", "BE and BS set: the credential looks like a synced passkey"),
        WebAuthnFault("counter-rollback", "each signature counter is lower than the one before"),
        WebAuthnFault("clone", "every other signature comes from a twin with its own counter"),
        WebAuthnFault("bad-signature", "attestation and assertion signatures do not verify"),
        WebAuthnFault("wrong-rpid-hash", "authenticatorData carries another RP ID's hash"),
    )
}


@dataclass(frozen=True)
class Expected:
    """One relying party's answer to one option: a fragment of its refusal, or ACCEPTED."""

    registration: str
    sign_in: str
    sign_in_number: int = 1  # the first sign-in refused, counted from the switch
    note: str = ""


_FIDO2_NO_COUNTER = "accepted: Fido2Server does not compare counters; the application must"
_BACKED_UP = "accepted, reported as backed up (credential_backed_up / is_backed_up())"

EXPECTED: dict[str, dict[str, Expected]] = {
    "backup-flags": {
        "py_webauthn": Expected(ACCEPTED, ACCEPTED, note=_BACKED_UP),
        "python-fido2": Expected(ACCEPTED, ACCEPTED, note=_BACKED_UP),
        "tokenbench": Expected(
            ACCEPTED,
            "backup-eligibility-changed",
            note="registration accepted as kind 'synced'; BE appearing later is refused",
        ),
    },
    "counter-rollback": {
        "py_webauthn": Expected(ACCEPTED, "was not greater than current count", 2),
        "python-fido2": Expected(ACCEPTED, ACCEPTED, note=_FIDO2_NO_COUNTER),
        "tokenbench": Expected(ACCEPTED, "counter-regression", 2),
    },
    "clone": {
        "py_webauthn": Expected(ACCEPTED, "was not greater than current count", 3),
        "python-fido2": Expected(ACCEPTED, ACCEPTED, note=_FIDO2_NO_COUNTER),
        "tokenbench": Expected(ACCEPTED, "counter-regression", 3),
    },
    "bad-signature": {
        "py_webauthn": Expected(
            "Could not verify attestation statement signature",
            "Could not verify authentication signature",
        ),
        "python-fido2": Expected(
            ACCEPTED,
            "Invalid signature",
            note="registration accepted: with attestation 'none' it does not verify attStmt",
        ),
        "tokenbench": Expected(
            "signature-invalid: packed attestation signature",
            "signature-invalid: assertion signature",
        ),
    },
    "wrong-rpid-hash": {
        "py_webauthn": Expected("Unexpected RP ID hash", "Unexpected RP ID hash"),
        "python-fido2": Expected("Wrong RP ID hash", "Wrong RP ID hash"),
        "tokenbench": Expected("rp-id-mismatch", "rp-id-mismatch"),
    },
    UV_OFF: {
        "py_webauthn": Expected(
            "User verification is required but user was not verified",
            "User verification is required but user was not verified",
        ),
        "python-fido2": Expected(
            "User verification required, but User Verified flag not set",
            "User verification required, but user verified flag not set",
        ),
        "tokenbench": Expected("user-verification-missing", "user-verification-missing"),
    },
}
"""Servers that require UV judge the uv-off row; the fault rows' servers ask for none."""


def check_faults(names: Iterable[str]) -> list[str]:
    """The fault names, checked: anything else is one UserError line listing the choices."""
    checked = list(dict.fromkeys(names))
    unknown = [n for n in checked if n not in WEBAUTHN_FAULTS]
    if unknown:
        raise UserError(
            f"unknown webauthn fault {unknown[0]!r} (choose from {', '.join(WEBAUTHN_FAULTS)})"
        )
    return checked
