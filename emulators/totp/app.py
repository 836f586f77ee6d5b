"""A virtual phone authenticator app: many accounts, their current codes, a file to keep them.

Accounts come in as otpauth:// URIs, QR code PNGs, raw Base32 seeds, or a Google Authenticator
migration export, and go out as a migration export. Adding an account whose label
(`Issuer:account`) is already there replaces it, as re-scanning a re-issued QR code should.
The account file holds the secrets in clear (as a phone's app storage does), so it is written
atomically with mode 0600; `VirtualTotpApp.editing` holds a lock from reading it to writing it,
so parallel `totp app add` runs each keep their account.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tokenbench.emulators.clock import Clock
from tokenbench.emulators.private_file import PRIVATE_DIR_MODE, locked
from tokenbench.emulators.totp.errors import AppFileError, OtpauthError, TotpError
from tokenbench.emulators.totp.migration import build_migration_uri, parse_migration_uri
from tokenbench.emulators.totp.otp import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD,
    HOTP,
    TOTP,
    OtpAccount,
    decode_base32,
)
from tokenbench.emulators.totp.qr import decode_qr_png
from tokenbench.emulators.totp.storage import field_of, read_json_document, write_private_json
from tokenbench.emulators.totp.uri import parse_otpauth

APP_FILE_FORMAT = "tokenbench-totp-app"
APP_FILE_VERSION = 1

Account = OtpAccount
"""What the app holds for one account (the same value type the URI parser returns)."""


def _account_to_json(account: OtpAccount) -> dict[str, Any]:
    return {
        "type": account.kind,
        "issuer": account.issuer,
        "account": account.account,
        "secret": account.secret_base32,
        "algorithm": account.algorithm,
        "digits": account.digits,
        "period": account.period,
        "counter": account.counter,
    }


def _account_from_json(entry: object, where: str) -> OtpAccount:
    if not isinstance(entry, dict):
        raise AppFileError(f"{where}: an account entry is not an object")

    def get(name: str, kind: type) -> Any:
        return field_of(entry, name, kind, error=AppFileError, where=where)

    try:
        return OtpAccount(
            secret=decode_base32(get("secret", str)),
            issuer=get("issuer", str),
            account=get("account", str),
            kind=get("type", str),
            algorithm=get("algorithm", str),
            digits=get("digits", int),
            period=get("period", int),
            counter=get("counter", int),
        )
    except OtpauthError as exc:
        raise AppFileError(f"{where}: bad account entry: {exc}") from None


class VirtualTotpApp:
    """An authenticator app on a phone whose clock is `clock`."""

    def __init__(self, clock: Clock, path: str | os.PathLike[str] | None = None) -> None:
        self.clock = clock
        self.path = Path(path) if path is not None else None
        self._accounts: list[OtpAccount] = []

    def __repr__(self) -> str:
        return f"VirtualTotpApp(path={self.path!s}, accounts={len(self._accounts)})"

    @property
    def accounts(self) -> tuple[OtpAccount, ...]:
        return tuple(self._accounts)

    # -- adding accounts -------------------------------------------------------------------

    def add(self, account: OtpAccount) -> OtpAccount:
        """Add `account`, replacing an account with the same label."""
        for index, existing in enumerate(self._accounts):
            if existing.label == account.label:
                self._accounts[index] = account
                return account
        self._accounts.append(account)
        return account

    def add_uri(self, uri: str) -> OtpAccount:
        return self.add(parse_otpauth(uri))

    def add_qr_png(self, source: bytes | str | os.PathLike[str]) -> OtpAccount:
        """Scan an enrolment QR code (a PNG file path or its bytes)."""
        return self.add_uri(decode_qr_png(source))

    def add_secret(
        self,
        secret_b32: str,
        issuer: str = "",
        account: str = "",
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period: int = DEFAULT_PERIOD,
        kind: str = TOTP,
        counter: int = 0,
    ) -> OtpAccount:
        """Type in a seed by hand (Base32; spaces, lower case and padding are fine)."""
        return self.add(
            OtpAccount(
                secret=decode_base32(secret_b32),
                issuer=issuer,
                account=account,
                kind=kind,
                algorithm=algorithm,
                digits=digits,
                period=period,
                counter=counter,
            )
        )

    def import_migration(self, uri: str) -> list[OtpAccount]:
        """Import every account of a Google Authenticator `otpauth-migration://` export."""
        return [self.add(account) for account in parse_migration_uri(uri)]

    def export_migration(self, accounts: Sequence[OtpAccount | str] | None = None) -> str:
        """A Google Authenticator export of `accounts` (default: all of them)."""
        chosen = self._accounts if accounts is None else [self.find(a) for a in accounts]
        return build_migration_uri(chosen)

    # -- codes -----------------------------------------------------------------------------

    def find(self, account: OtpAccount | str) -> OtpAccount:
        """An account held by the app, by value or by label (`Issuer:account` or the name)."""
        if isinstance(account, OtpAccount):
            if account in self._accounts:
                return account
            raise TotpError(f"the app has no account {account.label!r}")
        by_label = [a for a in self._accounts if a.label == account]
        by_name = [a for a in self._accounts if a.account == account]
        matches = by_label or by_name
        if not matches:
            raise TotpError(f"the app has no account {account!r}")
        if len(matches) > 1:
            raise TotpError(f"{account!r} names several accounts; use Issuer:account")
        return matches[0]

    def code(self, account: OtpAccount | str) -> str:
        """What the app shows for `account` now (HOTP: the code for its current counter)."""
        return self.find(account).code_at(self.clock.now())

    def seconds_left(self, account: OtpAccount | str) -> int | None:
        """Seconds until the TOTP code changes; None for a HOTP account."""
        return self.find(account).seconds_left(self.clock.now())

    def next_hotp(self, account: OtpAccount | str) -> str:
        """Tap "next" on a HOTP account: the counter moves on by one; returns the new code."""
        current = self.find(account)
        if current.kind != HOTP:
            raise TotpError(f"{current.label!r} is a TOTP account; it has no counter")
        moved = replace(current, counter=current.counter + 1)
        self._accounts[self._accounts.index(current)] = moved
        return moved.code_at(self.clock.now())

    # -- the account file ------------------------------------------------------------------

    def save(self) -> None:
        if self.path is None:
            raise AppFileError("this app has no account file to save to")
        write_private_json(
            self.path,
            {
                "format": APP_FILE_FORMAT,
                "version": APP_FILE_VERSION,
                "accounts": [_account_to_json(a) for a in self._accounts],
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], clock: Clock) -> VirtualTotpApp:
        document = read_json_document(
            path,
            kind=APP_FILE_FORMAT,
            version=APP_FILE_VERSION,
            error=AppFileError,
            what="authenticator app file",
        )
        entries = field_of(document, "accounts", list, error=AppFileError, where=str(path))
        app = cls(clock, path)
        for entry in entries:
            app.add(_account_from_json(entry, str(path)))
        return app

    @classmethod
    @contextlib.contextmanager
    def editing(
        cls, path: str | os.PathLike[str], clock: Clock, *, create: bool = True
    ) -> Iterator[VirtualTotpApp]:
        """The app in `path`, loaded under the file's lock and saved (still locked) if the block
        ends without an exception; a missing file is a new, empty app when `create` is set."""
        target = Path(path)
        with contextlib.ExitStack() as stack:
            try:
                target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
                stack.enter_context(locked(target))
            except OSError as exc:
                raise AppFileError(f"cannot lock {target}: {exc.strerror or exc}") from None
            fresh = create and not target.exists()
            app = cls(clock, target) if fresh else cls.load(target, clock)
            yield app
            app.save()
