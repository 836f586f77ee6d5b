"""The control channel of an emulated key: how the bench touches or re-plugs it without a person.

A real key is touched and re-plugged by the person at the bench; an emulated key served by
another process (`tokenbench key emulate --udp` or `--vpcd`) takes those actions as datagrams
on a UDP socket. Each datagram is one ASCII command; the answer is one JSON object sent back
to the sender:
    touch | decline | replug | power-cycle | wink | status (alias state) | ping
    -> {"ok": true, "command": ..., "status": {...}} (touch/decline add "taken": bool)
       or {"ok": false, "error": "..."}
What "replug" means is the transport's business (a HID key drops its channels, a card leaves
the reader's field); the server only calls the key's `power_cycle()`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

DEFAULT_HOST = "127.0.0.1"
MAX_DATAGRAM = 2048
CLIENT_TIMEOUT = 2.0
REPLUG_TIMEOUT = 10.0  # a card's replug waits for the reader to see it leave and come back
POLL_INTERVAL = 0.2  # seconds between checks of the stop flag while idle
Address = tuple[str, int]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlledKey(Protocol):
    """What the control channel needs from an emulated key (`emulators.key.EmulatedKey`)."""

    def touch(self) -> bool: ...
    def decline(self) -> bool: ...
    def hold(self, held: bool) -> bool: ...
    def power_cycle(self) -> None: ...
    def wink(self) -> None: ...
    def status(self) -> dict[str, Any]: ...


def run_control_command(key: ControlledKey, command: str) -> dict[str, Any]:
    """Run one control command (see the module docstring); never raises."""
    actions: dict[str, Callable[[], Any]] = {
        "touch": key.touch,
        "decline": key.decline,
        "replug": key.power_cycle,
        "power-cycle": key.power_cycle,
        "wink": key.wink,
        "status": lambda: None,
        "state": lambda: None,
        "ping": lambda: None,
    }
    action = actions.get(command)
    if action is None:
        return {"ok": False, "error": f"unknown command {command[:40]!r}"}
    try:
        result = action()
        answer: dict[str, Any] = {"ok": True, "command": command, "status": key.status()}
    except Exception as exc:  # the control socket must survive any failing action
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(result, bool):
        answer["taken"] = result  # touch/decline: False if the key does not wait for touches
    return answer


class ControlSocket:
    """The bound control socket of one key; served by the caller's selector or its own thread.

    The UDP transport polls it next to its HID socket; transports without a socket loop of
    their own (vpcd) call `start()` to serve it on a background thread.
    """

    def __init__(self, key: ControlledKey, address: Address) -> None:
        self.key = key
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.socket.bind(address)
        except OSError:
            self.socket.close()
            raise
        self.address: Address = self.socket.getsockname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def answer(self, data: bytes, sender: Address) -> None:
        """Answer one received command datagram."""
        answer = run_control_command(self.key, data.decode("ascii", "replace").strip())
        with contextlib.suppress(OSError):
            self.socket.sendto(json.dumps(answer).encode(), sender)

    def serve(self) -> None:
        """Answer commands until `close()`; one at a time, so a replug finishes before the next."""
        self.socket.settimeout(POLL_INTERVAL)
        while not self._stop.is_set():
            try:
                data, sender = self.socket.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.answer(data, sender)

    def start(self) -> ControlSocket:
        self._thread = threading.Thread(target=self.serve, name="key-control", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0 + POLL_INTERVAL)
        self.socket.close()


class UdpControlClient:
    """Asks an emulated key to be touched, re-plugged, ... (see module docstring)."""

    def __init__(self, address: Address, timeout: float = CLIENT_TIMEOUT) -> None:
        self.address = address
        self.timeout = timeout

    def call(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout or self.timeout)
            sock.bind((DEFAULT_HOST if is_loopback(self.address[0]) else "0.0.0.0", 0))
            sock.sendto(command.encode("ascii"), self.address)
            data, _ = sock.recvfrom(MAX_DATAGRAM)
        answer: dict[str, Any] = json.loads(data)
        if not answer.get("ok"):
            raise RuntimeError(f"emulated key refused {command!r}: {answer.get('error')}")
        return answer

    def touch(self) -> bool:
        """True if the key took the touch (False: it does not wait for touches)."""
        return bool(self.call("touch").get("taken"))

    def decline(self) -> bool:
        return bool(self.call("decline").get("taken"))

    def replug(self) -> None:
        """Returns once the key is back (the answer comes after the replug has finished)."""
        self.call("replug", max(self.timeout, REPLUG_TIMEOUT))

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.call("status")["status"]
        return status
