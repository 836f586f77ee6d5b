"""The emulated key as a virtual contactless card in vsmartcard's `vpcd` PC/SC reader.

vsmartcard's reader driver (`libifdvpcd.so`, Debian `vsmartcard-vpcd`) is loaded by pcscd and
listens on TCP port 35963 (0x8C7B, the CHANNELID of /etc/reader.conf.d/vpcd; its second slot
listens on 35964). A virtual card ("vicc") connects to it as a TCP client; from then on the
reader shows a card present. Every message either way is a 2-byte big-endian length followed
by that many bytes. One-byte messages from the reader are control codes (power off, power on,
reset, get ATR; the ATR is answered as a message); longer ones are command APDUs, each answered
with one R-APDU. Closing the connection removes the card.

`VpcdClient` moves those messages between the socket and an `NfcCard`; power events go to the
card (power-off cancels a running command and power-cycles the core). It reconnects when the
reader goes away, so a card started before pcscd still appears once pcscd is up.

`VpcdClient.replug()` takes the card out of the field and presents it again by closing the
connection and opening a new one. Power-off/on messages would not do: they come from the
reader, and pcscd would see the card stay present. The driver notices the closed connection
at its next presence poll (its GET_ATR fails, the slot reads empty) and only then accepts the
new one, so pcscd reports a removal and an insertion, as for a real card taken away.
`CardControl` puts that behind the control channel (`tokenbench.emulators.transport.control`).
`take_out()` and `put_back()` split a replug in two, for a rig's power switch
(`CardControl.rig_actions()`, served by `tokenbench.emulators.transport.rig_http`): the card stays
out of the field, powered down, until it is put back.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from tokenbench.emulators.transport.control import ControlledKey
from tokenbench.emulators.transport.nfc import NfcCard
from tokenbench.emulators.transport.rig_http import RigActions

log = logging.getLogger(__name__)

VPCD_DEFAULT_HOST = "127.0.0.1"
VPCD_DEFAULT_PORT = 0x8C7B  # 35963: slot 0 of the reader registered by vsmartcard-vpcd
LENGTH_PREFIX = 2
MAX_MESSAGE = 0xFFFF
POLL_INTERVAL = 0.2  # seconds between checks of the stop flag while idle
REPLUG_TIMEOUT = 8.0  # seconds for the reader to see the card leave and come back
CONTROL_PORT_OFFSET = 1000  # default control socket: UDP on the vpcd port + 1000 (36963)


class VpcdControl(IntEnum):
    """One-byte control messages from the vpcd reader (vsmartcard vpcd.h)."""

    POWER_OFF = 0x00
    POWER_ON = 0x01
    RESET = 0x02
    GET_ATR = 0x04


def contactless_atr(historical: bytes) -> bytes:
    """The ATR a PC/SC reader builds for an ISO 14443-4 card (PC/SC Part 3, §3.1.3.2.3).

    3B 8n 80 01 <historical bytes of the ATS> TCK: T=0 announced in TD1 with TD2 following,
    T=1 in TD2, n historical bytes, and TCK making the XOR of T0..TCK zero.
    """
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes((tck,))


# Historical bytes as a contactless FIDO key sends them in its ATS: category indicator 0x80,
# compact-TLV card capabilities (tag 7, 3 bytes), and card issuer's data (tag 5) naming us.
FIDO_CARD_HISTORICAL = bytes.fromhex("8073C02180") + b"\x56" + b"TBENCH"
FIDO_CARD_ATR = contactless_atr(FIDO_CARD_HISTORICAL)

SocketFactory = Callable[[str, int], socket.socket]


def _tcp_connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=POLL_INTERVAL)


def _low_latency(sock: socket.socket) -> None:
    """No Nagle delay on our answers."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _ack_at_once(sock: socket.socket) -> None:
    """The vpcd driver writes the length prefix and the APDU in two small segments; with Nagle
    on its side and delayed ACKs on ours every APDU would wait ~40 ms for our ACK. Linux's
    TCP_QUICKACK (which the kernel clears again, hence before every read) avoids that."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class _Disconnected(Exception):
    """The reader closed the connection (or stop was requested)."""


class VpcdClient:
    """One virtual card plugged into one vpcd reader slot."""

    def __init__(
        self,
        card: NfcCard,
        host: str = VPCD_DEFAULT_HOST,
        port: int = VPCD_DEFAULT_PORT,
        *,
        atr: bytes = FIDO_CARD_ATR,
        connect: SocketFactory = _tcp_connect,
        retry_interval: float = POLL_INTERVAL,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.atr = atr
        self._connect = connect
        self.retry_interval = retry_interval
        self.connected = threading.Event()
        self.replugs = 0
        self._leave = threading.Event()  # replug: drop this connection, then come back
        self._away = threading.Event()  # take_out: stay out of the field until put_back
        self._absent = threading.Event()  # no connection to the reader (card powered down)
        self._absent.set()
        self._while_out: Callable[[], None] | None = None
        self._connections = 0  # numbers the connections to the reader
        self._talked_on = 0  # the newest connection the reader has sent a message on
        self._talked = threading.Condition()

    def run(self, stop: threading.Event) -> None:
        """Stay plugged into the reader until `stop` is set, reconnecting when it goes away."""
        while not stop.is_set():
            if self._away.is_set():
                stop.wait(self.retry_interval)
                continue
            self._absent.clear()  # from here a take_out() waits until this attempt is over
            try:
                sock = self._connect(self.host, self.port)
            except OSError:
                self._absent.set()
                stop.wait(self.retry_interval)
                continue
            log.info("card connected to vpcd at %s:%d", self.host, self.port)
            try:
                self.serve(sock, stop)
            finally:
                self.connected.clear()
                sock.close()
                self.card.power_off()
                self._out_of_field()
                self._absent.set()

    def _out_of_field(self) -> None:
        """Between a replug's removal and its return: run what the replug asked for."""
        if not self._leave.is_set():
            return
        while_out, self._while_out = self._while_out, None
        try:
            if while_out is not None:
                while_out()
        finally:
            self._leave.clear()

    def replug(
        self, while_out: Callable[[], None] | None = None, timeout: float = REPLUG_TIMEOUT
    ) -> None:
        """Take the card out of the field and present it again (see the module docstring).

        `while_out` runs while the card is away. Returns once the reader has talked to the
        returned card, so a client that reconnects then finds the new card, not the old one.
        """
        if not self.connected.is_set():
            raise RuntimeError("the card is not in a reader")
        leaving = self._connections
        self._while_out = while_out
        self._leave.set()
        self._wait_for_reader(leaving, timeout)
        self.replugs += 1

    def take_out(self, timeout: float = REPLUG_TIMEOUT) -> None:
        """Take the card out of the field and keep it out until `put_back()`; returns once the
        connection is closed and the card powered down."""
        self._away.set()
        if not self._absent.wait(timeout):
            raise TimeoutError(f"the card did not leave the reader within {timeout} s")

    def put_back(self, timeout: float = REPLUG_TIMEOUT) -> None:
        """Present a card taken out by `take_out()` again; returns once the reader talks to it
        (at once if the card was not taken out)."""
        if not self._away.is_set():
            return
        leaving = self._connections
        self._away.clear()
        self._wait_for_reader(leaving, timeout)
        self.replugs += 1

    def _wait_for_reader(self, leaving: int, timeout: float) -> None:
        """Wait until the reader has talked on a connection newer than number `leaving`."""
        with self._talked:
            back = self._talked.wait_for(lambda: self._talked_on > leaving, timeout)
        if not back:
            raise TimeoutError(f"the reader did not take the card back within {timeout} s")

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        """Answer the reader on one connection until it closes or `stop` is set."""
        sock.settimeout(POLL_INTERVAL)
        _low_latency(sock)
        self._connections += 1
        connection = self._connections
        self.connected.set()
        buffer = bytearray()
        try:
            while not stop.is_set():
                message = self._read_message(sock, buffer, stop)
                if self._talked_on != connection:
                    with self._talked:
                        self._talked_on = connection
                        self._talked.notify_all()
                reply = self.handle(message)
                if reply is not None:
                    sock.sendall(len(reply).to_bytes(LENGTH_PREFIX, "big") + reply)
        except _Disconnected:
            log.info("vpcd closed the connection")
        except OSError as exc:
            log.info("vpcd connection lost: %s", exc)

    def handle(self, message: bytes) -> bytes | None:
        """One message from the reader -> the message to send back (None: no answer)."""
        if len(message) == 1:
            return self._control(message[0])
        if not message:
            return None
        return self.card.transmit(message)

    def _control(self, code: int) -> bytes | None:
        if code == VpcdControl.POWER_OFF:
            self.card.power_off()
        elif code == VpcdControl.POWER_ON:
            self.card.power_on()
        elif code == VpcdControl.RESET:
            self.card.reset()
        elif code == VpcdControl.GET_ATR:
            return self.atr
        else:
            log.warning("unknown vpcd control byte 0x%02x ignored", code)
        return None

    def _read_message(self, sock: socket.socket, buffer: bytearray, stop: threading.Event) -> bytes:
        length = int.from_bytes(self._read_exact(sock, buffer, LENGTH_PREFIX, stop), "big")
        return self._read_exact(sock, buffer, length, stop)

    def _read_exact(
        self, sock: socket.socket, buffer: bytearray, count: int, stop: threading.Event
    ) -> bytes:
        while len(buffer) < count:
            if stop.is_set() or self._leave.is_set() or self._away.is_set():
                raise _Disconnected
            try:
                _ack_at_once(sock)
                chunk = sock.recv(max(4096, count - len(buffer)))
            except TimeoutError:
                continue
            if not chunk:
                raise _Disconnected
            buffer += chunk
        out = bytes(buffer[:count])
        del buffer[:count]
        return out


class CardControl:
    """The control channel's view of a key served as a vpcd card: a replug is the card leaving
    the field and coming back, with the key power-cycled while it is away."""

    def __init__(self, key: ControlledKey, client: VpcdClient) -> None:
        self.key = key
        self.client = client

    def touch(self) -> bool:
        return self.key.touch()

    def decline(self) -> bool:
        return self.key.decline()

    def wink(self) -> None:
        self.key.wink()

    def present_finger(self, readings: str) -> bool:
        return self.key.present_finger(readings)

    def power_cycle(self) -> None:
        self.client.replug(while_out=self.key.power_cycle)

    def power(self, on: bool) -> None:
        """A rig's power switch: off takes the card out of the field (the key loses power and
        its volatile state), on presents it again."""
        if on:
            self.client.put_back()
            return
        self.client.take_out()
        self.key.power_cycle()

    def hold(self, held: bool) -> bool:
        """A rig's relay on the button (a key created with presence="button")."""
        return self.key.hold(held)

    def rig_actions(self) -> RigActions:
        return RigActions(power=self.power, touch=self.hold)

    def status(self) -> dict[str, Any]:
        return {
            **self.key.status(),
            "in_reader": self.client.connected.is_set(),
            "replugs": self.client.replugs,
        }


def default_control_address(vpcd: tuple[str, int]) -> tuple[str, int]:
    """Where `key emulate --vpcd` listens for control commands unless told: loopback, the
    vpcd port + 1000 (36963 for slot 0), so each reader slot's card has its own."""
    return "127.0.0.1", vpcd[1] + CONTROL_PORT_OFFSET
