"""CTAPHID, the device side: CTAP 2.1 §11.2 framing around a transport-free authenticator.

A host talks to a security key in 64-byte HID reports. This module turns those reports into
whole messages on logical channels (INIT allocates them), runs CTAP2/U2F commands on a worker
thread so that the host can still be answered meanwhile (KEEPALIVE every 100 ms, CANCEL,
CHANNEL_BUSY for other channels), and turns the answers back into reports. It knows nothing
about how reports travel: the in-process, UDP, uhid and USB/IP transports all feed `receive()`
and hand a `send` callable in.

Malformed input never raises: every bad report or message is answered with the CTAPHID error
the spec names, or ignored where the spec says so (a stray continuation packet).
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Protocol

from tokenbench.emulators.clock import Clock, MonotonicClock
from tokenbench.emulators.ctap.faults import Fault, FaultSet
from tokenbench.emulators.ctap.transaction import Transaction

logger = logging.getLogger(__name__)

REPORT_SIZE = 64
INIT_HEADER_SIZE = 7  # CID(4) CMD(1) BCNTH(1) BCNTL(1)
CONT_HEADER_SIZE = 5  # CID(4) SEQ(1)
BCNT_FIELD = slice(5, INIT_HEADER_SIZE)  # the message length in an init packet, big-endian
INIT_PAYLOAD = REPORT_SIZE - INIT_HEADER_SIZE  # 57
CONT_PAYLOAD = REPORT_SIZE - CONT_HEADER_SIZE  # 59
MAX_SEQ = 0x7F
MAX_MESSAGE = INIT_PAYLOAD + (MAX_SEQ + 1) * CONT_PAYLOAD  # 7609
TYPE_INIT = 0x80
BROADCAST_CID = 0xFFFFFFFF
RESERVED_CID = 0x00000000
FIRST_CID = 0x00000001  # the first channel a broadcast INIT allocates (always, under fixed-cid)
NONCE_SIZE = 8
PROTOCOL_VERSION = 2
MAX_LOCK_SECONDS = 10
MESSAGE_TIMEOUT = 0.5  # spec: between 0.4 and 1 s between the packets of one message
KEEPALIVE_INTERVAL = 0.1
MAX_CHANNELS = 256  # allocated channels kept; the oldest is forgotten beyond this


class HidCommand(IntEnum):
    """CTAPHID command bytes (§11.2.9), without the TYPE_INIT bit."""

    PING = 0x01
    MSG = 0x03
    LOCK = 0x04
    INIT = 0x06
    WINK = 0x08
    CBOR = 0x10
    CANCEL = 0x11
    KEEPALIVE = 0x3B
    ERROR = 0x3F


class HidError(IntEnum):
    """CTAPHID_ERROR codes (§11.2.9.2.1)."""

    INVALID_CMD = 0x01
    INVALID_PAR = 0x02
    INVALID_LEN = 0x03
    INVALID_SEQ = 0x04
    MSG_TIMEOUT = 0x05
    CHANNEL_BUSY = 0x06
    LOCK_REQUIRED = 0x0A  # named by the spec; no command of this device requires a lock
    INVALID_CHANNEL = 0x0B
    OTHER = 0x7F


class Capability(IntFlag):
    """CTAPHID_INIT capability flags."""

    WINK = 0x01
    CBOR = 0x04
    NMSG = 0x08  # the device does NOT implement CTAPHID_MSG


CTAP2_CAPABILITIES = Capability.WINK | Capability.CBOR
U2F_ONLY_CAPABILITIES = Capability.WINK


class CoreAuthenticator(Protocol):
    """What CTAPHID needs from the transport-free core (`emulators.ctap.Authenticator`)."""

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes: ...

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes: ...

    def wink(self) -> None: ...


# ---------------------------------------------------------------------------- framing helpers


def frame_message(cid: int, cmd: int, payload: bytes) -> list[bytes]:
    """Split one CTAPHID message into 64-byte reports (init packet, then seq 0, 1, ...).

    `cmd` is the command byte without TYPE_INIT. Used by the device for its answers and by
    tests and raw-HID suites for requests; the caller keeps `len(payload) <= MAX_MESSAGE`.
    """
    cid_bytes = cid.to_bytes(4, "big")
    first = cid_bytes + bytes((TYPE_INIT | cmd,)) + len(payload).to_bytes(2, "big")
    reports = [(first + payload[:INIT_PAYLOAD]).ljust(REPORT_SIZE, b"\0")]
    for seq, offset in enumerate(range(INIT_PAYLOAD, len(payload), CONT_PAYLOAD)):
        chunk = payload[offset : offset + CONT_PAYLOAD]
        reports.append((cid_bytes + bytes((seq & MAX_SEQ,)) + chunk).ljust(REPORT_SIZE, b"\0"))
    return reports


@dataclass(frozen=True)
class HidMessage:
    cid: int
    cmd: int  # without TYPE_INIT
    payload: bytes


def parse_messages(reports: Iterable[bytes]) -> list[HidMessage]:
    """Reassemble a clean stream of device reports into messages (host-side helper for tests).

    Raises ValueError on a sequence error; interleaving of channels is not supported.
    """
    messages: list[HidMessage] = []
    current: tuple[int, int, int, bytearray, int] | None = None
    for report in reports:
        cid = int.from_bytes(report[:4], "big")
        if report[4] & TYPE_INIT:
            if current is not None:
                raise ValueError("init packet while a message is incomplete")
            length = int.from_bytes(report[5:7], "big")
            data = bytearray(report[INIT_HEADER_SIZE : INIT_HEADER_SIZE + length])
            current = (cid, report[4] & ~TYPE_INIT & 0xFF, length, data, 0)
        else:
            if current is None or cid != current[0] or report[4] != current[4]:
                raise ValueError("unexpected continuation packet")
            c_cid, c_cmd, length, data, seq = current
            data += report[CONT_HEADER_SIZE : CONT_HEADER_SIZE + length - len(data)]
            current = (c_cid, c_cmd, length, data, seq + 1)
        if current is not None and len(current[3]) >= current[2]:
            messages.append(HidMessage(current[0], current[1], bytes(current[3])))
            current = None
    if current is not None:
        raise ValueError("incomplete message at end of stream")
    return messages


# ---------------------------------------------------------------------------- the endpoint


@dataclass
class _Assembly:
    """A request being reassembled from its packets."""

    cid: int
    cmd: int
    length: int
    data: bytearray
    next_seq: int
    deadline: float


@dataclass(eq=False)
class _Job:
    """A CTAP2/U2F command handed to the worker thread."""

    cid: int
    cmd: int
    payload: bytes
    transaction: Transaction = field(default_factory=Transaction)
    last_keepalive: float = 0.0


@dataclass(frozen=True)
class FaultTuning:
    """How hard the transport faults bite; deterministic so a failing run can be replayed."""

    drop_every: int = 4  # drop-packet: the 4th, 8th, ... outgoing report is lost
    duplicate_every: int = 3  # duplicate-packet: the 3rd, 6th, ... report is sent twice
    slow_delay: float = 0.35  # slow: each CBOR/MSG answer is held back this long (keepalives run)


class CtapHidEndpoint:
    """The USB-HID side of one emulated key: channels, framing, keepalive, cancel, lock.

    `receive()` is thread-safe and never raises for any report content. `send` is called with
    one 64-byte report at a time, always under the endpoint lock, so reports of one answer are
    never interleaved with a keepalive. `close()` stops the worker and ticker threads.
    """

    def __init__(
        self,
        authenticator: CoreAuthenticator,
        send: Callable[[bytes], None],
        *,
        clock: Clock | None = None,
        faults: FaultSet | None = None,
        capabilities: Capability = CTAP2_CAPABILITIES,
        device_version: tuple[int, int, int] = (1, 0, 0),
        tuning: FaultTuning | None = None,
        message_timeout: float = MESSAGE_TIMEOUT,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        tick: float = 0.025,  # keepalives then go out every 100-125 ms
    ) -> None:
        self.authenticator = authenticator
        self._send = send
        self._clock = clock or MonotonicClock()
        self._faults = faults if faults is not None else FaultSet()
        self.capabilities = Capability(capabilities)
        self.device_version = device_version
        self._tuning = tuning or FaultTuning()
        self._message_timeout = message_timeout
        self._keepalive_interval = keepalive_interval
        self._lock = threading.RLock()
        self._channels: OrderedDict[int, None] = OrderedDict()
        self._next_cid = FIRST_CID
        self._assembly: _Assembly | None = None
        self._running: _Job | None = None
        self._locked_by: int | None = None
        self._lock_until = 0.0
        self._sent = 0
        self._closed = threading.Event()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._drop = Fault.DROP_PACKET in self._faults
        self._duplicate = Fault.DUPLICATE_PACKET in self._faults
        self._slow = Fault.SLOW in self._faults
        self._bad_length = Fault.BAD_LENGTH in self._faults
        self._no_errors = Fault.NO_ERRORS in self._faults
        self._fixed_cid = Fault.FIXED_CID in self._faults
        self._no_keepalive = Fault.NO_KEEPALIVE in self._faults
        self._refuse_unknown_init = Fault.INIT_UNKNOWN_CHANNEL in self._faults
        self._lax_continuation = Fault.LAX_CONTINUATION in self._faults
        self._no_msg_timeout = Fault.NO_MSG_TIMEOUT in self._faults
        self._cancel_unknown = Fault.CANCEL_UNKNOWN in self._faults
        self._worker = threading.Thread(target=self._work, name="ctaphid-worker", daemon=True)
        self._ticker = threading.Thread(
            target=self._tick_loop, args=(tick,), name="ctaphid-ticker", daemon=True
        )
        self._worker.start()
        self._ticker.start()

    # -- public API ---------------------------------------------------------------------

    def receive(self, report: bytes) -> None:
        """Handle one report from the host. Never raises for bad input."""
        if self._closed.is_set():
            return
        try:
            with self._lock:
                self._expire(self._clock.now())
                self._receive(report if type(report) is bytes else bytes(report))
        except Exception:  # a bug here must not take the transport down with it
            logger.exception("CTAPHID endpoint failed on a report")

    def poll(self) -> None:
        """Run timeouts and keepalives now (the ticker does this every `tick` seconds)."""
        with self._lock:
            self._expire(self._clock.now())

    def reset(self) -> None:
        """Power loss: forget channels, partial messages and locks; cancel the running command."""
        with self._lock:
            if self._running is not None:
                self._running.transaction.cancel()
            self._running = None
            self._assembly = None
            self._channels.clear()
            self._locked_by = None
            self._sent = 0

    def close(self) -> None:
        """Stop the threads; later reports are ignored."""
        if self._closed.is_set():
            return
        self.reset()
        self._closed.set()
        self._jobs.put(None)
        for thread in (self._worker, self._ticker):
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or self._assembly is not None

    @property
    def channels(self) -> list[int]:
        with self._lock:
            return list(self._channels)

    # -- receive side (always under self._lock) ------------------------------------------

    def _receive(self, report: bytes) -> None:
        if len(report) < CONT_HEADER_SIZE:
            return  # not even a channel id and a command/sequence byte: nobody to answer
        cid = int.from_bytes(report[:4], "big")
        kind = report[4]
        if len(report) != REPORT_SIZE:
            if self._known(cid) or cid == BROADCAST_CID:
                self._error(cid, HidError.INVALID_LEN)
            return
        if kind & TYPE_INIT:
            self._init_packet(cid, kind & ~TYPE_INIT & 0xFF, report)
        else:
            self._continuation(cid, kind, report)

    def _known(self, cid: int) -> bool:
        return cid in self._channels

    def _init_packet(self, cid: int, cmd: int, report: bytes) -> None:
        length = (report[5] << 8) | report[6]
        if cid == RESERVED_CID:
            self._error(cid, HidError.INVALID_CHANNEL)
            return
        if cmd == HidCommand.INIT:
            self._init(cid, length, report[INIT_HEADER_SIZE : INIT_HEADER_SIZE + length])
            return
        if cid == BROADCAST_CID or not self._known(cid):
            self._error(cid, HidError.INVALID_CHANNEL)
            return
        if cmd == HidCommand.CANCEL and self._cancel_unknown:
            self._error(cid, HidError.INVALID_CMD)
            return
        if cmd == HidCommand.CANCEL:
            running = self._running
            if running is not None and running.cid == cid:
                running.transaction.cancel()
            return  # CANCEL is never answered
        if self._locked_out(cid):
            self._error(cid, HidError.CHANNEL_BUSY)
            return
        assembly = self._assembly
        if assembly is not None:
            if assembly.cid != cid:
                self._error(cid, HidError.CHANNEL_BUSY)
                return
            # A new request on the channel whose request is still incomplete.
            self._assembly = None
            self._error(cid, HidError.INVALID_SEQ)
            return
        if self._running is not None:
            self._error(cid, HidError.CHANNEL_BUSY)
            return
        if length > MAX_MESSAGE:
            self._error(cid, HidError.INVALID_LEN)
            return
        data = bytearray(report[INIT_HEADER_SIZE : INIT_HEADER_SIZE + length])
        if len(data) >= length:
            self._dispatch(cid, cmd, bytes(data))
            return
        deadline = self._clock.now() + self._message_timeout
        self._assembly = _Assembly(cid, cmd, length, data, 0, deadline)

    def _continuation(self, cid: int, seq: int, report: bytes) -> None:
        if cid in (RESERVED_CID, BROADCAST_CID) or not self._known(cid):
            self._error(cid, HidError.INVALID_CHANNEL)
            return
        assembly = self._assembly
        if assembly is None or (assembly.cid != cid and not self._lax_continuation):
            return  # spurious continuation packets are ignored (§11.2.4)
        if seq != assembly.next_seq and not self._lax_continuation:
            self._assembly = None
            self._error(cid, HidError.INVALID_SEQ)
            return
        need = assembly.length - len(assembly.data)
        assembly.data += report[CONT_HEADER_SIZE : CONT_HEADER_SIZE + need]
        assembly.next_seq += 1
        if len(assembly.data) >= assembly.length:
            self._assembly = None
            self._dispatch(assembly.cid, assembly.cmd, bytes(assembly.data))
        else:
            assembly.deadline = self._clock.now() + self._message_timeout

    def _locked_out(self, cid: int) -> bool:
        if self._locked_by is None:
            return False
        if self._clock.now() >= self._lock_until:
            self._locked_by = None
            return False
        return self._locked_by != cid

    def _init(self, cid: int, length: int, nonce: bytes) -> None:
        if cid != BROADCAST_CID and not self._known(cid) and self._refuse_unknown_init:
            self._error(cid, HidError.INVALID_CHANNEL)
            return
        if length != NONCE_SIZE:
            self._error(cid, HidError.INVALID_LEN)
            return
        if self._locked_out(cid):
            self._error(cid, HidError.CHANNEL_BUSY)
            return
        if cid == BROADCAST_CID:
            new_cid = self._allocate()
        else:
            # INIT on a channel answers on that channel with that channel id (§11.2.9.1.3):
            # on an allocated one it resynchronises (drops the channel's transaction); one
            # never allocated is taken into use, as the SoloKeys and Nitrokey firmware do.
            new_cid = cid
            self._abort(cid)
            self._adopt(cid)
        major, minor, build = self.device_version
        body = nonce + struct.pack(
            ">IBBBBB", new_cid, PROTOCOL_VERSION, major, minor, build, int(self.capabilities)
        )
        self._reply(cid, HidCommand.INIT, body)

    def _allocate(self) -> int:
        if self._fixed_cid:  # every host is handed the same channel, so they trample each other
            self._channels[FIRST_CID] = None
            return FIRST_CID
        cid = self._next_cid
        while cid in (RESERVED_CID, BROADCAST_CID) or cid in self._channels:
            cid = (cid + 1) & 0xFFFFFFFF
        self._next_cid = (cid + 1) & 0xFFFFFFFF
        self._channels[cid] = None
        self._forget_oldest_channels()
        return cid

    def _adopt(self, cid: int) -> None:
        if cid not in self._channels:
            self._channels[cid] = None
            self._forget_oldest_channels()

    def _forget_oldest_channels(self) -> None:
        while len(self._channels) > MAX_CHANNELS:
            self._channels.popitem(last=False)

    def _abort(self, cid: int) -> None:
        if self._assembly is not None and self._assembly.cid == cid:
            self._assembly = None
        running = self._running
        if running is not None and running.cid == cid:
            running.transaction.cancel()
            self._running = None  # its answer, when the core returns, is discarded
        if self._locked_by == cid:
            self._locked_by = None

    def _dispatch(self, cid: int, cmd: int, payload: bytes) -> None:
        if cmd == HidCommand.PING:
            self._reply(cid, HidCommand.PING, payload)
        elif cmd == HidCommand.WINK:
            if not self.capabilities & Capability.WINK:
                self._error(cid, HidError.INVALID_CMD)
            elif payload:
                self._error(cid, HidError.INVALID_LEN)
            else:
                self.authenticator.wink()
                self._reply(cid, HidCommand.WINK, b"")
        elif cmd == HidCommand.LOCK:
            self._lock_command(cid, payload)
        elif cmd == HidCommand.CBOR:
            if not self.capabilities & Capability.CBOR:
                self._error(cid, HidError.INVALID_CMD)
            elif not payload:
                self._error(cid, HidError.INVALID_LEN)
            else:
                self._start(cid, cmd, payload)
        elif cmd == HidCommand.MSG:
            if self.capabilities & Capability.NMSG:
                self._error(cid, HidError.INVALID_CMD)
            else:
                self._start(cid, cmd, payload)
        else:
            self._error(cid, HidError.INVALID_CMD)

    def _lock_command(self, cid: int, payload: bytes) -> None:
        if len(payload) != 1:
            self._error(cid, HidError.INVALID_LEN)
            return
        seconds = payload[0]
        if seconds > MAX_LOCK_SECONDS:
            self._error(cid, HidError.INVALID_PAR)
            return
        if seconds == 0:
            self._locked_by = None
        else:
            self._locked_by = cid
            self._lock_until = self._clock.now() + seconds
        self._reply(cid, HidCommand.LOCK, b"")

    def _start(self, cid: int, cmd: int, payload: bytes) -> None:
        job = _Job(cid, cmd, payload, last_keepalive=self._clock.now())
        self._running = job
        self._jobs.put(job)

    # -- worker and ticker ---------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed.is_set():
                return
            try:
                if job.cmd == HidCommand.CBOR:
                    response = self.authenticator.process(job.payload, job.transaction)
                else:
                    response = self.authenticator.process_u2f(job.payload, job.transaction)
            except Exception:
                logger.exception("authenticator raised; answering CTAPHID ERR_OTHER")
                response = None
            if self._slow and response is not None:
                self._closed.wait(self._tuning.slow_delay)
            with self._lock:
                if self._running is not job:
                    continue  # aborted by INIT or a power cycle meanwhile
                self._running = None
                if response is None:
                    self._error(job.cid, HidError.OTHER)
                else:
                    self._reply(job.cid, job.cmd, response)

    def _tick_loop(self, tick: float) -> None:
        while not self._closed.wait(tick):
            try:
                self.poll()
            except Exception:
                logger.exception("CTAPHID ticker failed")

    def _expire(self, now: float) -> None:
        """Message timeouts, lock expiry and keepalives, all measured on the injected clock."""
        assembly = self._assembly
        if assembly is not None and now >= assembly.deadline and not self._no_msg_timeout:
            self._assembly = None
            self._error(assembly.cid, HidError.MSG_TIMEOUT)
        if self._locked_by is not None and now >= self._lock_until:
            self._locked_by = None
        running = self._running
        if running is None or self._no_keepalive:
            return  # under no-keepalive a host cannot tell a waiting key from a dead one
        if now - running.last_keepalive >= self._keepalive_interval:
            running.last_keepalive = now
            status = int(running.transaction.status)
            self._emit_message(running.cid, HidCommand.KEEPALIVE, bytes((status,)))

    # -- send side -----------------------------------------------------------------------

    def _error(self, cid: int, code: HidError) -> None:
        if self._no_errors:
            return  # the no-errors fault: the host is left waiting instead of being told
        self._emit_message(cid, HidCommand.ERROR, bytes((code,)))

    def _reply(self, cid: int, cmd: int, payload: bytes) -> None:
        if len(payload) > MAX_MESSAGE:
            self._error(cid, HidError.OTHER)
            return
        self._emit_message(cid, cmd, payload)

    def _emit_message(self, cid: int, cmd: int, payload: bytes) -> None:
        reports = frame_message(cid, cmd, payload)
        if self._bad_length:
            reports[0] = _overstate_length(reports[0])
        try:
            if self._drop or self._duplicate:
                for report in reports:
                    self._emit_with_faults(report)
            else:
                self._sent += len(reports)
                for report in reports:
                    self._send(report)
        except OSError:
            pass  # the host went away; a device does not care

    def _emit_with_faults(self, report: bytes) -> None:
        self._sent += 1
        if self._drop and self._sent % self._tuning.drop_every == 0:
            return
        self._send(report)
        if self._duplicate and self._sent % self._tuning.duplicate_every == 0:
            self._send(report)


def _overstate_length(report: bytes) -> bytes:
    """The bad-length fault: an init packet whose BCNT claims one byte more than was framed.

    A host then reads one byte of padding as payload, or waits for a continuation packet
    that never comes when the payload filled its last packet.
    """
    length = int.from_bytes(report[BCNT_FIELD], "big") + 1
    return report[: BCNT_FIELD.start] + length.to_bytes(2, "big") + report[BCNT_FIELD.stop :]
