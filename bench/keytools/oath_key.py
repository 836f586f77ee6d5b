"""A key's OATH applet for the CLI: what `key info` shows of it, and `totp app export --to-key`.

Both go through the suites' one YKOATH client (`bench.suites._oath`) over the PC/SC target's
card, so the CLI and the `oath` conformance suite cannot disagree about the wire. What leaves
this module is never a seed nor an account name: `key info` reports the applet's version,
whether a password is set and how many accounts it holds; the export reports the name it
wrote and whether the key's first code matches the app's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tokenbench.bench.errors import UserError
from tokenbench.bench.suites._oath import (
    Account,
    Algorithm,
    OathError,
    OathSession,
    OathType,
    Sw,
    account_name,
    card_transmit,
    format_code,
    select_fido,
    totp_challenge,
)
from tokenbench.bench.targets import parse_target
from tokenbench.bench.targets_attached import PcscKeyTarget
from tokenbench.emulators.totp.otp import HOTP, OtpAccount

MAX_NAME_BYTES = 64  # YKOATH names are at most 64 bytes


@dataclass(frozen=True)
class OathSummary:
    """What `key info` shows of the OATH applet (no names, no seeds)."""

    version: str
    password_set: bool
    accounts: int | None  # None: locked by the password, not counted

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "password_set": self.password_set,
            "accounts": self.accounts,
        }

    def lines(self) -> list[str]:
        count = "not counted (locked)" if self.accounts is None else str(self.accounts)
        return [
            "OATH applet:",
            f"  {'version':<32} {self.version}",
            f"  {'password set':<32} {str(self.password_set).lower()}",
            f"  {'accounts':<32} {count}",
        ]


def oath_summary(device: object) -> OathSummary | None:
    """The OATH applet of a PC/SC card, or None (not a card, or no OATH applet)."""
    try:
        session = OathSession(card_transmit(getattr(device, "unwrapped", device)))
    except TypeError:
        return None
    try:
        selected = session.select()
        accounts = None if selected.password_set else len(session.list_accounts())
    except (OathError, ValueError):
        return None
    finally:
        select_fido(session.transmit)
    version = ".".join(str(part) for part in selected.version)
    return OathSummary(version, selected.password_set, accounts)


@contextlib.contextmanager
def open_oath(uri: str) -> Iterator[OathSession]:
    """The OATH applet of the card at a `pcsc:READER` target; problems are one line."""
    target = parse_target(uri)
    if not isinstance(target, PcscKeyTarget):
        raise UserError(f"{uri}: the OATH applet is reached through a PC/SC reader (pcsc:READER)")
    try:
        try:
            session = OathSession(card_transmit(target.device()))
            session.select()
        except OathError as exc:
            if exc.sw == Sw.FILE_NOT_FOUND:
                raise UserError(f"the card at {uri} has no OATH applet") from None
            raise UserError(f"the card at {uri} refused SELECT of the OATH applet") from None
        except ValueError:
            raise UserError(f"the card at {uri} answered SELECT in a way YKOATH does not") from None
        try:
            yield session
        finally:
            select_fido(session.transmit)
    except OSError as exc:
        raise UserError(f"lost {uri}: {exc}") from None
    finally:
        target.close()


def unlock(session: OathSession, password: str | None) -> None:
    """Validate the applet's password if it has one (the password never leaves this call)."""
    if session.selected is None or not session.selected.password_set:
        return
    if password is None:
        raise UserError(
            "the key's OATH applet has a password: give it with --oath-password-file FILE, "
            "$TOKENBENCH_OATH_PASSWORD or --oath-password -"
        )
    try:
        session.unlock(password)
    except OathError:
        raise UserError("wrong OATH password") from None
    except ValueError:
        raise UserError("the key did not prove it knows the OATH password") from None


def applet_account(account: OtpAccount, *, touch: bool) -> Account:
    """The app's account as the applet stores it (period in the name, as YubiKeys do)."""
    oath_type = OathType.HOTP if account.kind == HOTP else OathType.TOTP
    name = account_name(account.account, account.issuer or None, oath_type, account.period)
    if len(name) > MAX_NAME_BYTES:
        raise UserError(f"the name {account.label!r} is longer than the applet's 64 bytes")
    return Account(
        name=name,
        secret=account.secret,
        oath_type=oath_type,
        algorithm=Algorithm[account.algorithm],
        digits=account.digits,
        touch=touch,
        counter=account.counter,
    )


def write_account(session: OathSession, account: OtpAccount, *, touch: bool, now: float) -> str:
    """PUT the account; for TOTP without touch, check the key's code against the app's.

    Returns what to tell the person (no seed). An account of that name already on the key is
    refused rather than replaced: a YubiKey's PUT would overwrite it silently.
    """
    stored = applet_account(account, touch=touch)
    try:
        if any(entry.name == stored.name for entry in session.list_accounts()):
            raise UserError(f"the key already holds {account.label!r}; delete it there first")
        session.put(stored)
    except OathError as exc:
        if exc.sw == Sw.NO_SPACE:
            raise UserError("the key's OATH applet is full") from None
        raise UserError(f"the key refused the account (status {exc.sw:04X})") from None
    if stored.oath_type == OathType.HOTP or touch:
        needs = "a touch" if touch else "moving the HOTP counter"
        return f"exported {account.label} to the key (not checked: a code needs {needs})"
    answer = session.calculate(stored.name, totp_challenge(int(now), account.period))
    if format_code(answer) != account.code_at(now):
        raise UserError("the key's code differs from the app's; the account on the key is wrong")
    return f"exported {account.label} to the key; its code matches the app's"
