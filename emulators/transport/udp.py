"""CTAPHID over UDP, the simulator convention, plus a control channel for emulated keys.

Convention (shared with existing FIDO simulators and test tools): the authenticator binds
UDP 127.0.0.1:8111 and sends every reply to 127.0.0.1:7112; a datagram is one raw 64-byte
CTAPHID report with no report-ID byte.

Control channel (`emulators.transport.control`): a second UDP socket, by default on the HID
port + 1 (8112) of 127.0.0.1 (always loopback, even when the HID socket is exposed), taking
touch/decline/replug/power-cycle/wink/status datagrams that carry the key's owner-only token.
The bench's `udp:HOST:PORT` target uses `UdpControlClient` to touch or re-plug the key.
The HID socket itself follows the simulator convention: any local process may talk CTAP to it,
as to the reference simulators (a key behind uhid or USB/IP gets the kernel's device
permissions instead).
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

from tokenbench.emulators.transport.control import (
    DEFAULT_HOST,
    MAX_DATAGRAM,
    Address,
    ControlledKey,
    ControlSocket,
    UdpControlClient,
    is_loopback,
    run_control_command,
)
from tokenbench.emulators.transport.ctaphid import REPORT_SIZE

__all__ = [
    "DEFAULT_HOST",
    "Address",
    "SocketBindError",
    "UdpControlClient",
    "UdpHidConnection",
    "UdpKeyServer",
    "default_control_address",
    "is_loopback",
    "open_udp_device",
    "parse_address",
]

DEFAULT_PORT = 8111
DEFAULT_REPLY_PORT = 7112
CONTROL_PORT_OFFSET = 1
DEFAULT_TIMEOUT = 5.0

_Bound = TypeVar("_Bound")


def parse_address(text: str, default_host: str = DEFAULT_HOST, default_port: int = 0) -> Address:
    """`HOST:PORT`, `HOST`, `:PORT` or `PORT` -> (host, port); ValueError with one line."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = (text, "") if not text.isdigit() else ("", text)
    host = host.strip("[]") or default_host
    if not port_text:
        if not default_port:
            raise ValueError(f"address {text!r} needs a port")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port in {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return host, port


def default_control_address(bind: Address) -> Address:
    """The control socket: loopback, next to the HID port (a free port if the HID one is free).

    Loopback whatever the HID host is: the control channel never leaves this machine.
    """
    return DEFAULT_HOST, bind[1] + CONTROL_PORT_OFFSET if bind[1] else 0


class SocketBindError(OSError):
    """One of the key's two sockets could not be bound: `role` says which ("HID" or "control")."""

    def __init__(self, role: str, address: Address, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.role = role
        self.address = address


class ServedKey(ControlledKey, Protocol):
    """What the UDP server needs from an emulated key (`tokenbench.emulators.key.EmulatedKey`)."""

    def receive(self, report: bytes) -> None: ...
    def add_sink(self, sink: Callable[[bytes], None]) -> None: ...
    def remove_sink(self, sink: Callable[[bytes], None]) -> None: ...


def _bind_as(role: str, address: Address, bind: Callable[[], _Bound]) -> _Bound:
    try:
        return bind()
    except OSError as exc:
        raise SocketBindError(role, address, exc) from exc


class UdpKeyServer:
    """Serves one emulated key over UDP (HID reports) with a control socket next to it."""

    def __init__(
        self,
        key: ServedKey,
        bind: Address = (DEFAULT_HOST, DEFAULT_PORT),
        reply_to: Address | None = None,
        control: Address | None = None,
    ) -> None:
        self.key = key
        self.reply_to = reply_to or (bind[0], DEFAULT_REPLY_PORT)
        self._hid = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        control = control or default_control_address(bind)
        try:
            _bind_as("HID", bind, lambda: self._hid.bind(bind))
            self._control = _bind_as("control", control, lambda: ControlSocket(key, control))
        except BaseException:  # a bind error, or a ControlError (not loopback, no token dir)
            self._hid.close()
            raise
        self.address: Address = self._hid.getsockname()
        self.control_address: Address = self._control.address
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        key.add_sink(self._send)

    def _send(self, report: bytes) -> None:
        self._hid.sendto(report, self.reply_to)

    def serve(self, stop: threading.Event | None = None) -> None:
        """Serve until `stop` (or `close()`); the emulator command runs this on its main thread."""
        stop = stop or self._stop
        with selectors.DefaultSelector() as selector:
            selector.register(self._hid, selectors.EVENT_READ, self._on_report)
            selector.register(self._control.socket, selectors.EVENT_READ, self._control.answer)
            while not stop.is_set() and not self._stop.is_set():
                for event, _ in selector.select(timeout=0.2):
                    try:
                        sock = cast(socket.socket, event.fileobj)  # both registered above
                        data, sender = sock.recvfrom(MAX_DATAGRAM)
                    except OSError:
                        continue
                    event.data(data, sender)

    def start(self) -> UdpKeyServer:
        """Serve on a background thread (tests)."""
        self._thread = threading.Thread(target=self.serve, name="udp-key", daemon=True)
        self._thread.start()
        return self

    def _on_report(self, data: bytes, sender: Address) -> None:
        self.key.receive(data)

    def control(self, command: str) -> dict[str, Any]:
        """Run one control command (see `tokenbench.emulators.transport.control`)."""
        return run_control_command(self.key, command)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.key.remove_sink(self._send)
        self._hid.close()
        self._control.close()


# ---------------------------------------------------------------------------- client side


class UdpHidConnection(CtapHidConnection):
    """python-fido2 connection to a UDP simulator: sends to the device, listens on `local`."""

    def __init__(
        self,
        device: Address = (DEFAULT_HOST, DEFAULT_PORT),
        local: Address | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.device = device
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(local or (DEFAULT_HOST, DEFAULT_REPLY_PORT))
        except OSError:
            self._sock.close()
            raise
        self.timeout = timeout

    @property
    def local_address(self) -> Address:
        address: Address = self._sock.getsockname()  # an AF_INET socket: (host, port)
        return address

    def write_packet(self, data: bytes) -> None:
        self._sock.sendto(bytes(data), self.device)

    def read_packet(self) -> bytes:
        report = self.read_report(self.timeout)
        if report is None:
            raise TimeoutError(
                f"no report from {self.device[0]}:{self.device[1]} within {self.timeout} s"
            )
        return report

    def read_report(self, timeout: float | None) -> bytes | None:
        """The next report from the device, or None after `timeout` seconds (None = forever).

        Datagrams from other senders or of the wrong size are not reports and are skipped.
        """
        self._sock.settimeout(timeout)
        while True:
            try:
                data, sender = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                return None
            if sender[1] == self.device[1] and len(data) == REPORT_SIZE:
                return data

    def close(self) -> None:
        self._sock.close()


def open_udp_device(
    device: Address = (DEFAULT_HOST, DEFAULT_PORT),
    local: Address | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> CtapHidDevice:
    """A python-fido2 `CtapHidDevice` on `tokenbench key emulate --udp` (or another simulator)."""
    connection = UdpHidConnection(device, local, timeout)
    descriptor = HidDescriptor(
        path=f"udp:{device[0]}:{device[1]}",
        vid=0,
        pid=0,
        report_size_in=REPORT_SIZE,
        report_size_out=REPORT_SIZE,
        product_name="UDP simulator",
        serial_number=None,
    )
    try:
        return CtapHidDevice(descriptor, connection)
    except BaseException:
        connection.close()
        raise
