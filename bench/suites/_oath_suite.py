"""Helpers for the `oath` suite: the applet session a test holds, and what it leaves behind.

A test reaches the OATH applet through the target's PC/SC card (python-fido2's
`CtapPcscDevice`, `apdu_exchange`), never through the emulator. Non-destructive tests only add
accounts named `tokenbench-…` and delete them again, so a real key's own accounts survive; an
applet locked by a password is left alone unless destructive tests are allowed (the
destructive module resets it). Every test ends with the FIDO applet selected again, so the
other suites can use the same card afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenbench.bench.suites._oath import (
    OathError,
    OathSession,
    Sw,
    card_transmit,
    select_fido,
)

TEST_PREFIX = b"tokenbench-"
NOW = 1_700_000_000  # any fixed time: the client, not the key, turns time into a challenge


def suite_account(label: str) -> bytes:
    """An account name the suite owns (and deletes afterwards)."""
    return TEST_PREFIX + label.encode()


def suite_owns(name: bytes) -> bool:
    """The suite's own account, with or without a `NN/` period prefix."""
    return name.startswith(TEST_PREFIX) or name.partition(b"/")[2].startswith(TEST_PREFIX)


def card_of(ctap_device: Any) -> Callable[[bytes], tuple[bytes, int]]:
    """A `Transmit` that asks the target for its current card on every APDU (a re-plug
    re-opens it)."""

    def transmit(command: bytes) -> tuple[bytes, int]:
        card = getattr(ctap_device, "unwrapped", ctap_device)
        try:
            send = card_transmit(card)
        except TypeError:
            pytest.fail("the oath suite needs a PC/SC target (pcsc:READER)")
        return send(command)

    return transmit


def open_applet(ctap_device: Any) -> OathSession:
    """The OATH applet, selected; an `unclaimed` skip on a key without one."""
    session = OathSession(card_of(ctap_device))
    try:
        session.select()
    except OathError as exc:
        if exc.sw == Sw.FILE_NOT_FOUND:
            pytest.skip("unclaimed: the key has no OATH applet (SELECT answered 6A82)")
        raise
    return session


def clean_up(session: OathSession) -> None:
    """Delete the suite's accounts (if the applet lets us) and select FIDO again."""
    with contextlib.suppress(OathError, ValueError):
        if not session.select().password_set:
            for entry in session.list_accounts():
                if suite_owns(entry.name):
                    session.delete(entry.name)
    select_fido(session.transmit)


@contextlib.contextmanager
def unlocked_applet(ctap_device: Any) -> Iterator[OathSession]:
    """The applet for a non-destructive test: `not permitted` if a password locks it."""
    session = open_applet(ctap_device)
    assert session.selected is not None
    if session.selected.password_set:
        clean_up(session)
        pytest.skip("not permitted: the OATH applet is locked by a password (reset it first)")
    try:
        yield session
    finally:
        clean_up(session)


def sw_of(call: Callable[[], object]) -> int:
    """The status word an instruction fails with (9000 if it succeeds)."""
    try:
        call()
    except OathError as exc:
        return exc.sw
    return Sw.OK
