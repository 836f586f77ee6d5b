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
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from enum import IntEnum

from emulators.transport.nfc import NfcCard

log = logging.getLogger(__name__)

VPCD_DEFAULT_HOST = "127.0.0.1"
VPCD_DEFAULT_PORT = 0x8C7B  # 35963: slot 0 of the reader registered by vsmartcard-vpcd
LENGTH_PREFIX = 2
MAX_MESSAGE = 0xFFFF
POLL_INTERVAL = 0.2  # seconds between checks of the stop flag while idle


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

    def run(self, stop: threading.Event) -> None:
        """Stay plugged into the reader until `stop` is set, reconnecting when it goes away."""
        while not stop.is_set():
            try:
                sock = self._connect(self.host, self.port)
            except OSError:
                stop.wait(self.retry_interval)
                continue
            log.info("card connected to vpcd at %s:%d", self.host, self.port)
            try:
                self.serve(sock, stop)
            finally:
                self.connected.clear()
                sock.close()
                self.card.power_off()

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        """Answer the reader on one connection until it closes or `stop` is set."""
        sock.settimeout(POLL_INTERVAL)
        _low_latency(sock)
        self.connected.set()
        buffer = bytearray()
        try:
            while not stop.is_set():
                message = self._read_message(sock, buffer, stop)
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

    @staticmethod
    def _read_exact(
        sock: socket.socket, buffer: bytearray, count: int, stop: threading.Event
    ) -> bytes:
        while len(buffer) < count:
            if stop.is_set():
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
