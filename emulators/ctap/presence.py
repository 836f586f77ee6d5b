"""User presence: how the emulated key learns that "the user touched it".

The core calls `PresencePolicy.request` whenever the spec asks for a test of user presence.
While it waits it sets the transaction status to UPNEEDED so transports send keepalives,
and it watches `transaction.cancelled` so a CTAPHID CANCEL ends the wait with KEEPALIVE_CANCEL.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction

POLL_SECONDS = 0.01


@runtime_checkable
class PresencePolicy(Protocol):
    def request(self, transaction: Transaction | None, reason: str) -> bool:
        """Block until the user answers: True = touched, False = declined.

        Raises CtapError(USER_ACTION_TIMEOUT) when nobody answers in time and
        CtapError(KEEPALIVE_CANCEL) when the transaction is cancelled meanwhile.
        """
        ...


def _wait(transaction: Transaction | None, done: threading.Event | None, timeout: float) -> bool:
    """Wait for `done` (or only the timeout); True if done fired, False on timeout."""
    if transaction is not None:
        transaction.status = KeepaliveStatus.UPNEEDED
    try:
        remaining = timeout
        while remaining > 0:
            step = min(POLL_SECONDS, remaining)
            if transaction is not None and transaction.cancelled.is_set():
                raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled while waiting for touch")
            if done is not None and done.wait(step):
                return True
            if done is None:
                cancelled = transaction.cancelled if transaction is not None else threading.Event()
                if cancelled.wait(step):
                    raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled while waiting")
            remaining -= step
        return False
    finally:
        if transaction is not None:
            transaction.status = KeepaliveStatus.PROCESSING


class CountingPolicy:
    """Base class that counts requests, so tests can tell whether a touch was asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def request(self, transaction: Transaction | None, reason: str) -> bool:
        self.requests.append(reason)
        return self._answer(transaction, reason)

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        raise NotImplementedError


class AutoApprove(CountingPolicy):
    """The user always touches, after `delay` seconds (0 = at once)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        if self.delay > 0:
            _wait(transaction, None, self.delay)
        elif transaction is not None and transaction.cancelled.is_set():
            raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled")
        return True


class Deny(CountingPolicy):
    """The user explicitly declines every request (a key with a 'no' button, or a UI deny)."""

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        return False


class NeverAnswer(CountingPolicy):
    """Nobody touches the key: every request times out after `timeout` seconds."""

    def __init__(self, timeout: float = 30.0) -> None:
        super().__init__()
        self.timeout = timeout

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        _wait(transaction, None, self.timeout)
        raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "no touch")


class Scripted(CountingPolicy):
    """Answers from a list (True touch, False decline, None timeout); then repeats `default`."""

    def __init__(self, answers: Iterable[bool | None], default: bool | None = True) -> None:
        super().__init__()
        self._answers = list(answers)
        self.default = default

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        answer = self._answers.pop(0) if self._answers else self.default
        if answer is None:
            raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "scripted timeout")
        return answer


class Touch(CountingPolicy):
    """Waits until `touch()` (or `decline()`) is called, e.g. by a key's control interface."""

    def __init__(self, timeout: float = 30.0) -> None:
        super().__init__()
        self.timeout = timeout
        self._event = threading.Event()
        self._approve = True
        self._lock = threading.Lock()

    def touch(self) -> None:
        with self._lock:
            self._approve = True
            self._event.set()

    def decline(self) -> None:
        with self._lock:
            self._approve = False
            self._event.set()

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        if not _wait(transaction, self._event, self.timeout):
            raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "no touch")
        with self._lock:
            self._event.clear()
            return self._approve


class Button(CountingPolicy):
    """A button that is held down or let go (a test rig's relay on the key's touch sensor).

    Unlike `Touch`, which latches one touch for one request, this is the button's state: a
    request while it is held is approved at once, and so is every further request until it is
    let go; a request while it is up waits until it is pressed (or times out). That is how a
    rig's "touch on ... touch off" window behaves on a real key.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        super().__init__()
        self.timeout = timeout
        self._down = threading.Event()

    @property
    def held(self) -> bool:
        return self._down.is_set()

    def hold(self, held: bool) -> None:
        """Press and keep pressed (True), or let go (False)."""
        if held:
            self._down.set()
        else:
            self._down.clear()

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        if self.held:
            if transaction is not None and transaction.cancelled.is_set():
                raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled")
            return True
        if not _wait(transaction, self._down, self.timeout):
            raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "button not pressed")
        return True


class TerminalPrompt(CountingPolicy):
    """Asks on the terminal (stderr prompt, answer on stdin): Enter = touch, 'n' = decline."""

    def _answer(self, transaction: Transaction | None, reason: str) -> bool:
        if transaction is not None:
            transaction.status = KeepaliveStatus.UPNEEDED
        try:
            print(
                f"[security key] touch requested ({reason}); Enter = touch, n = decline: ",
                end="",
                file=sys.stderr,
                flush=True,
            )
            line = sys.stdin.readline()
            if transaction is not None and transaction.cancelled.is_set():
                raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled")
            return not line.strip().lower().startswith("n")
        finally:
            if transaction is not None:
                transaction.status = KeepaliveStatus.PROCESSING
