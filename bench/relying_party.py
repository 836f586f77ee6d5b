"""The verifier as the `verifier` suite's relying party: the bench assembles it, the suite uses it.

The conformance suites import neither the emulators nor the verifier (they must run unchanged
against real devices, and the layers run one way); the `relying_party` fixture of
`tokenbench.bench.plugin` hands them this object instead: a fresh IAM account on a SQLite store
in the test's own directory, with the console's WebAuthn ceremonies for one RP ID and origin.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import Clock, IamService, open_account
from tokenbench.verifier.iam_console import ConsoleEnrolment
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Store
from tokenbench.verifier.webauthn import RelyingPartyPolicy

RP_ID = "tokenbench.example"
ORIGIN = f"https://{RP_ID}"
KEK_BYTES = 32


class LocalRelyingParty:
    """One IAM account and its console, on a store that lives as long as one test."""

    origin = ORIGIN

    def __init__(self, directory: Path, clock: Clock) -> None:
        self._store = Store.open(f"sqlite:///{directory / 'iam.db'}")
        account = open_account(self._store, clock)
        self.service = IamService(self._store, SeedCipher(os.urandom(KEK_BYTES)), clock, account)
        policy = RelyingPartyPolicy(RP_ID, frozenset({ORIGIN}), user_verification="discouraged")
        self.console = ConsoleEnrolment(self.service, policy)

    def refusal(self, call: Callable[..., Any], /, **parameters: Any) -> str:
        """The IAM error code `call(**parameters)` is refused with ("" if it was accepted)."""
        try:
            call(**parameters)
        except IamError as refused:
            return refused.code
        return ""

    def close(self) -> None:
        self._store.close()
