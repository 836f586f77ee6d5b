"""The composition root: one place that opens a store, its key, a clock and an account, and
builds the verifier's services on them, so that the CLI and the HTTP server run the same rules.

`open_service(store_url, ...)` returns a `Service`; `tokenbench serve` gives it to
`tokenbench.verifier.http`, and nothing else there builds a store or a service of its own.

Where the service differs from the library's defaults, and why:
- Lockout after failed codes is something AWS does not document, so the service runs with it
  off (`VerifierOptions.lockout=False`): a test that sends bad codes on purpose sees what AWS
  would answer. `tokenbench serve --lockout` switches the library's policy back on.
- Time comes from `MovableClock` when a rehearsal asks for it (`--clock fake`): lockout
  cool-downs, session expiry and MFA age then run in no wall time at all.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokenbench.verifier.access_keys import AccessKeys
from tokenbench.verifier.iam import Clock, IamService, open_account
from tokenbench.verifier.iam_console import ConsoleEnrolment
from tokenbench.verifier.kek import store_cipher
from tokenbench.verifier.mfa_policy import UserPolicies
from tokenbench.verifier.principals import Principals
from tokenbench.verifier.roles import Roles
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Store
from tokenbench.verifier.sts import StsOperations
from tokenbench.verifier.totp import DEFAULT_POLICY, VerifyPolicy
from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import RelyingPartyPolicy

if TYPE_CHECKING:
    from tokenbench.verifier.login_profiles import LoginProfiles

DEFAULT_RP_ID = "localhost"
DEFAULT_ORIGIN = "http://localhost:8080"

_TIME_CELL = struct.Struct("<d")  # a movable clock shared by worker processes
# Lockout "off": AWS does not lock a device after failed codes. A limit no rehearsal reaches
# keeps the library's single code path.
NO_LOCKOUT_POLICY = VerifyPolicy(lockout_limit=2**31 - 1, lockout_cooldown=0.0)


class SystemTime:
    """The wall clock (the verifier does not import the emulators' clocks)."""

    def now(self) -> float:
        return time.time()


class MovableClock:
    """A clock a rehearsal sets and moves (`serve --clock fake`); starts at the wall time.

    With `shared_file`, the time lives in that file (8 bytes, memory-mapped), so that every
    worker process of one server sees the same moves.
    """

    def __init__(self, start: float | None = None, *, shared_file: str | None = None) -> None:
        self._lock = threading.Lock()
        self._cell: mmap.mmap | None = None
        self._now = time.time() if start is None else start
        if shared_file is not None:
            fd = os.open(shared_file, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < _TIME_CELL.size:
                    os.write(fd, _TIME_CELL.pack(self._now))
                self._cell = mmap.mmap(fd, _TIME_CELL.size)
            finally:
                os.close(fd)

    def now(self) -> float:
        if self._cell is not None:
            return float(_TIME_CELL.unpack(self._cell[: _TIME_CELL.size])[0])
        with self._lock:
            return self._now

    def set(self, moment: float) -> None:
        with self._lock:
            self._store(moment)

    def advance(self, seconds: float) -> float:
        with self._lock:
            moment = self.now() + seconds if self._cell is not None else self._now + seconds
            self._store(moment)
            return moment

    def _store(self, moment: float) -> None:
        if self._cell is not None:
            self._cell[: _TIME_CELL.size] = _TIME_CELL.pack(moment)
        self._now = moment


@dataclass(frozen=True)
class VerifierOptions:
    """What a deployment chooses: the account, the lockout policy, the relying party."""

    account_id: str | None = None
    lockout: bool = False
    rp_id: str = DEFAULT_RP_ID
    origins: frozenset[str] = field(default_factory=lambda: frozenset({DEFAULT_ORIGIN}))
    trust: TrustStore | None = None

    @property
    def verify_policy(self) -> VerifyPolicy:
        return DEFAULT_POLICY if self.lockout else NO_LOCKOUT_POLICY

    @property
    def relying_party(self) -> RelyingPartyPolicy:
        return RelyingPartyPolicy(
            rp_id=self.rp_id,
            origins=self.origins,
            trust=self.trust,
            require_trusted_attestation=self.trust is not None,
        )


@dataclass
class Service:
    """One account's verifier, everything built once over one store."""

    store: Store
    cipher: SeedCipher
    clock: Clock
    options: VerifierOptions
    iam: IamService
    console: ConsoleEnrolment
    access_keys: AccessKeys
    principals: Principals
    roles: Roles
    policies: UserPolicies
    sts: StsOperations

    @property
    def account_id(self) -> str:
        return self.iam.account_id

    @functools.cached_property
    def login_profiles(self) -> LoginProfiles:
        """Console passwords; built on first use (argon2 is in the `service` extra only)."""
        from tokenbench.verifier.login_profiles import LoginProfiles

        return LoginProfiles(self.iam)

    def close(self) -> None:
        self.store.close()


def build_service(
    store: Store, cipher: SeedCipher, clock: Clock, options: VerifierOptions | None = None
) -> Service:
    """The services over an open store (tests and the perf scripts build stores themselves)."""
    options = options or VerifierOptions()
    account = open_account(store, clock, options.account_id)
    iam = IamService(
        store, cipher, clock, account, policy=options.verify_policy, trust=options.trust
    )
    console = ConsoleEnrolment(iam, options.relying_party)
    roles = Roles(iam)
    return Service(
        store,
        cipher,
        clock,
        options,
        iam,
        console,
        access_keys=AccessKeys(iam),
        principals=Principals(store, cipher),
        roles=roles,
        policies=UserPolicies(iam),
        sts=StsOperations(iam, roles),
    )


def open_service(
    store_url: str,
    *,
    kek_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    options: VerifierOptions | None = None,
) -> Service:
    """Open `store_url` (a SQLite path or URL, or a PostgreSQL URL) under its KEK (see
    `tokenbench.verifier.kek.store_cipher` for where the key comes from) and build the service.

    Raises what `Store.open` and `store_cipher` raise; the callers turn that into one line.
    """
    store = Store.open(store_url)
    try:
        cipher = store_cipher(store, kek_file, environ)
        return build_service(store, cipher, clock or SystemTime(), options)
    except BaseException:
        store.close()
        raise
