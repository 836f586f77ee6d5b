"""The control channel of an emulated key: how the bench touches or re-plugs it without a person.

A real key is touched and re-plugged by the person at the bench; an emulated key served by
another process (`tokenbench key emulate --udp` or `--vpcd`) takes those actions as datagrams
on a UDP socket. Each datagram is one ASCII command; the answer is one JSON object sent back
to the sender:
    touch | decline | replug | power-cycle | wink | status (alias state) | ping
    finger READING... (what a fingerprint sensor reads next: nomatch, match=HEXID, absent,
    sample=too-fast ...; unqueued readings match the first enrolled finger)
    -> {"ok": true, "command": ..., "status": {...}} (touch/decline/finger add "taken": bool)
       or {"ok": false, "error": "..."}
What "replug" means is the transport's business (a HID key drops its channels, a card leaves
the reader's field); the server only calls the key's `power_cycle()`.

Owner-only: touch approves user presence and replug resets the "power-cycle needed" PIN
counter, so only the user who started the key may send them. Every datagram starts with the
key's control token, `TOKEN COMMAND`; the server writes the token to a 0600 file in a 0700
runtime directory of its user (`token_path`), and a datagram without the right token gets no
answer at all. A token rather than an AF_UNIX socket, because the channel's users address it
as HOST:PORT (`udp:HOST:PORT`, `pcsc:READER,control=HOST:PORT`, tests inside network
namespaces) and the rig controller (`rig_http`) must be plain HTTP for python-fido2's device
suite: one token scheme covers both, and the kernel's file permissions guard the token. The
socket is bound to loopback only, whatever the HID side is exposed on.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tokenbench.emulators.private_file import PRIVATE_DIR_MODE, write_private_file

DEFAULT_HOST = "127.0.0.1"
MAX_DATAGRAM = 2048
CLIENT_TIMEOUT = 2.0
REPLUG_TIMEOUT = 10.0  # a card's replug waits for the reader to see it leave and come back
POLL_INTERVAL = 0.2  # seconds between checks of the stop flag while idle
Address = tuple[str, int]


class ControlError(RuntimeError):
    """The control channel cannot be used (no token, a refusal, a non-loopback address)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def runtime_dir() -> Path:
    """This user's private directory for control tokens: $XDG_RUNTIME_DIR/tokenbench, else
    tokenbench-<uid> in the temporary directory; created 0700, and refused if another user
    owns it or may read it (someone could have planted it in /tmp to read our tokens)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        path = Path(base) / "tokenbench"
    else:
        path = Path(tempfile.gettempdir()) / f"tokenbench-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR_MODE)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ControlError(f"{path} is not a private directory of this user (0700); remove it")
    return path


def token_path(kind: str, port: int) -> Path:
    """Where the token of the `kind` ("control" or "rig-http") channel on loopback `port` is.

    A loopback port is unique per network namespace only (tests and the PC/SC harness run
    keys in namespaces of their own, on the same default ports), so the name holds both.
    """
    return runtime_dir() / f"{kind}-{_network_namespace()}-{port}.token"


def _network_namespace() -> int:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino  # a thread may have joined another
    except OSError:  # no /proc: one namespace is all we can tell apart
        return 0


def publish_token(kind: str, port: int, token: str) -> Path:
    path = token_path(kind, port)
    write_private_file(path, token.encode())
    return path


def read_token(kind: str, port: int) -> str:
    """The token a key of this user published for `port`; ControlError (one line) if none."""
    path = token_path(kind, port)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ControlError(
            f"no {kind} token for port {port} in {path} ({exc.strerror}): only the user who "
            "started the emulated key can drive it"
        ) from None


def withdraw_token(path: Path, token: str) -> None:
    """Remove a published token file, unless a newer key on the same port replaced it."""
    with contextlib.suppress(OSError):
        if path.read_text().strip() == token:
            path.unlink()


def require_loopback(what: str, host: str) -> None:
    if not is_loopback(host):
        raise ControlError(f"{what} address {host} is not loopback; it never leaves this machine")


class ControlledKey(Protocol):
    """What the control channel needs from an emulated key (`emulators.key.EmulatedKey`)."""

    def touch(self) -> bool: ...
    def decline(self) -> bool: ...
    def hold(self, held: bool) -> bool: ...
    def power_cycle(self) -> None: ...
    def wink(self) -> None: ...
    def present_finger(self, readings: str) -> bool: ...
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
    word, _, rest = command.partition(" ")
    if word == "finger" and rest.strip():
        actions[command] = lambda: key.present_finger(rest)
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
        require_loopback("control", address[0])
        self.key = key
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.socket.bind(address)
            self.address: Address = self.socket.getsockname()
            self.token = new_token()
            self.token_file = publish_token("control", self.address[1], self.token)
        except (OSError, ControlError):
            self.socket.close()
            raise
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def answer(self, data: bytes, sender: Address) -> None:
        """Answer one received command datagram; one without the token gets no answer."""
        token, _, command = data.decode("ascii", "replace").strip().partition(" ")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return
        answer = run_control_command(self.key, command.strip())
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
        withdraw_token(self.token_file, self.token)


class UdpControlClient:
    """Asks an emulated key to be touched, re-plugged, ... (see module docstring).

    The token is read from this user's token file for the port at each call, so a key
    restarted on the same port is found again.
    """

    def __init__(self, address: Address, timeout: float = CLIENT_TIMEOUT) -> None:
        require_loopback("control", address[0])
        self.address = address
        self.timeout = timeout

    def call(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        message = f"{read_token('control', self.address[1])} {command}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout or self.timeout)
            sock.bind((DEFAULT_HOST, 0))
            sock.sendto(message.encode("ascii"), self.address)
            data, _ = sock.recvfrom(MAX_DATAGRAM)
        answer: dict[str, Any] = json.loads(data)
        if not answer.get("ok"):
            raise ControlError(f"emulated key refused {command!r}: {answer.get('error')}")
        return answer

    def touch(self) -> bool:
        """True if the key took the touch (False: it does not wait for touches)."""
        return bool(self.call("touch").get("taken"))

    def decline(self) -> bool:
        return bool(self.call("decline").get("taken"))

    def replug(self) -> None:
        """Returns once the key is back (the answer comes after the replug has finished)."""
        self.call("replug", max(self.timeout, REPLUG_TIMEOUT))

    def present_finger(self, readings: str) -> bool:
        """Queue fingerprint readings (see `EmulatedKey.present_finger`); False: no sensor."""
        return bool(self.call(f"finger {readings}").get("taken"))

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.call("status")["status"]
        return status
