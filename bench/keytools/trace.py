"""`key trace`: a CTAPHID man-in-the-middle between a client and a (real) key.

    client ──reports──▶ front end (UDP / uhid / USB-IP) ──messages──▶ target CtapDevice ──▶ key

The front end is the emulator's own device-side CTAPHID endpoint (`CtapHidEndpoint`), so the
client sees a well-behaved HID device: channel allocation (INIT), PING, LOCK, message
reassembly and timeouts, KEEPALIVE while the key waits for a touch, CANCEL. Behind it, instead
of an authenticator core, sits `ForwardingCore`, which hands each whole CBOR (CTAP2) or MSG
(U2F) request to the target device's `call(cmd, data)` and returns its answer.

Consequences, by design: forwarding is at the message level, so channel ids are translated
(the client's CID is the front end's; python-fido2 opened its own channel on the key), INIT and
PING are answered by the front end, a client CANCEL becomes a cancel of the forwarded call, and
the key's keepalive status (PROCESSING / UPNEEDED) is relayed. A CTAPHID-level error from the
key (not a CTAP2 status) reaches the client as ERR_OTHER.

What is printed: every frame's header (direction, CID, INIT command and length or continuation
sequence; never payload bytes, which may carry PIN material), and every CTAP2/U2F request and
response decoded and redacted (`ctap_decode`, `redact`), with the key's response time.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from fido2.ctap import CtapDevice
from fido2.hid import CTAPHID

from tokenbench.bench.keytools.ctap_decode import (
    decode_request,
    decode_response,
    decode_u2f_request,
    decode_u2f_response,
)
from tokenbench.emulators.clock import Clock, MonotonicClock
from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction
from tokenbench.emulators.private_file import write_private_file
from tokenbench.emulators.transport.ctaphid import (
    CONT_HEADER_SIZE,
    INIT_HEADER_SIZE,
    TYPE_INIT,
    Capability,
    CtapHidEndpoint,
    HidCommand,
)

FORWARDED_CAPABILITIES = Capability.WINK | Capability.CBOR | Capability.NMSG
TO_KEY = "host->key"
TO_HOST = "key->host"


def command_name(cmd: int) -> str:
    try:
        return HidCommand(cmd).name
    except ValueError:
        return f"0x{cmd:02x}"


def frame_header(report: bytes) -> dict[str, Any]:
    """What a frame's header says (no payload: it may carry PIN material)."""
    if len(report) < CONT_HEADER_SIZE:
        return {"bytes": len(report), "malformed": True}
    header: dict[str, Any] = {"cid": report[:4].hex()}
    if report[4] & TYPE_INIT:
        header["cmd"] = command_name(report[4] & ~TYPE_INIT & 0xFF)
        if len(report) >= INIT_HEADER_SIZE:
            header["length"] = int.from_bytes(report[5:7], "big")
    else:
        header["seq"] = report[4]
    return header


class TraceLog:
    """Prints frames and decoded messages; keeps one JSON record per message in `path`."""

    def __init__(self, out: TextIO, path: str | Path | None, clock: Clock) -> None:
        self.out = out
        self.path = Path(path) if path else None
        self.clock = clock
        self.start = clock.now()
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return round(self.clock.now() - self.start, 6)

    def frame(self, direction: str, report: bytes) -> None:
        header = frame_header(report)
        fields = " ".join(f"{k}={v}" for k, v in header.items())
        self._print(f"{self.elapsed():9.3f}  frame {direction}  {fields}")

    def message(
        self, direction: str, cmd: str, summary: dict[str, Any], ms: float | None = None
    ) -> None:
        record: dict[str, Any] = {
            "time": self.elapsed(),
            "direction": direction,
            "cmd": cmd,
            "summary": summary,
        }
        if ms is not None:
            record["ms"] = round(ms, 3)
        timing = f" ({ms:.1f} ms)" if ms is not None else ""
        shown = json.dumps(summary, sort_keys=True, ensure_ascii=False)
        self._print(f"{record['time']:9.3f}  {cmd} {direction}{timing}: {shown}")
        with self._lock:
            self.records.append(record)
            self._write()

    def _print(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def start_file(self) -> None:
        """Create the log file now, so an unwritable path is an error before tracing starts."""
        self._write(raise_errors=True)

    def _write(self, raise_errors: bool = False) -> None:
        """Rewrite the log atomically, so a trace stopped at any moment leaves valid JSON.

        A failure later on (disk full, directory gone) must not raise into the transport
        thread that called us (the client would hang): it is said once, and the trace goes on
        without the file.
        """
        if self.path is None:
            return
        text = json.dumps(self.records, indent=1) + "\n"
        try:  # a random O_EXCL temporary name: a planted symlink is never followed; mode 0600
            write_private_file(self.path, text.encode(), make_parents=False)
        except OSError as exc:
            if raise_errors:
                raise
            sys.stderr.write(f"tokenbench: trace log {self.path} not written: {exc.strerror}\n")
            self.path = None


class ForwardingCore:
    """Stands where the emulator's authenticator core would: forwards to the target device."""

    def __init__(self, device: CtapDevice, log: TraceLog, clock: Clock) -> None:
        self.device = device
        self.log = log
        self.clock = clock
        self._last_command: int | None = None

    def _forward(self, cmd: int, payload: bytes, transaction: Transaction | None) -> bytes:
        def on_keepalive(status: int) -> None:
            if transaction is not None:
                with contextlib.suppress(ValueError):  # a vendor status byte: keep ours
                    transaction.status = KeepaliveStatus(status)

        event = transaction.cancelled if transaction is not None else None
        return bytes(self.device.call(cmd, payload, event, on_keepalive))

    def _traced_call(
        self,
        label: str,
        cmd: int,
        payload: bytes,
        transaction: Transaction | None,
        summary: dict[str, Any],
        decode: Callable[[bytes], dict[str, Any]],
    ) -> bytes:
        self.log.message(TO_KEY, label, summary)
        started = self.clock.now()
        try:
            response = self._forward(cmd, payload, transaction)
        except Exception as exc:  # the endpoint answers the client with ERR_OTHER
            self.log.message(TO_HOST, label, {"error": f"{type(exc).__name__}: {exc}"})
            raise
        ms = (self.clock.now() - started) * 1000
        self.log.message(TO_HOST, label, decode(response), ms)
        return response

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        command = request[0] if request else None
        return self._traced_call(
            "CBOR",
            CTAPHID.CBOR,
            request,
            transaction,
            decode_request(request),
            lambda response: decode_response(command, response),
        )

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        return self._traced_call(
            "MSG", CTAPHID.MSG, apdu, transaction, decode_u2f_request(apdu), decode_u2f_response
        )

    def wink(self) -> None:
        self.log.message(TO_KEY, "WINK", {})
        wink = getattr(self.device, "wink", None)
        if wink is not None:
            wink()


class TraceFrontEnd:
    """The emulated front end: takes client reports (`receive`), feeds report sinks.

    It has the shape the listen sides expect (`UdpKeyServer`, `attach_uhid`, `serve_usbip`):
    receive / add_sink / remove_sink, plus the UDP control commands that make sense for a
    traced key (touch and decline do not: a person touches the real key).
    """

    def __init__(self, device: CtapDevice, log: TraceLog, clock: Clock | None = None) -> None:
        self.device = device
        self.log = log
        self.clock = clock or MonotonicClock()
        self._sinks: list[Callable[[bytes], None]] = []
        self._sinks_lock = threading.Lock()
        self.core = ForwardingCore(device, log, self.clock)
        version = getattr(device, "device_version", (1, 0, 0))
        self.endpoint = CtapHidEndpoint(
            self.core,
            self._emit,
            clock=self.clock,
            capabilities=Capability(int(device.capabilities)) & FORWARDED_CAPABILITIES,
            device_version=tuple(version),
        )

    def receive(self, report: bytes) -> None:
        report = bytes(report)
        self.log.frame(TO_KEY, report)
        if len(report) >= INIT_HEADER_SIZE and report[4] & TYPE_INIT:
            cmd = report[4] & ~TYPE_INIT & 0xFF
            if cmd not in (HidCommand.CBOR, HidCommand.MSG, HidCommand.WINK):
                self.log.message(TO_KEY, command_name(cmd), {"handled_by": "front end"})
        self.endpoint.receive(report)

    def _emit(self, report: bytes) -> None:
        self.log.frame(TO_HOST, report)
        with self._sinks_lock:
            sinks = list(self._sinks)
        for sink in sinks:
            sink(report)

    def add_sink(self, sink: Callable[[bytes], None]) -> None:
        with self._sinks_lock:
            self._sinks.append(sink)

    def remove_sink(self, sink: Callable[[bytes], None]) -> None:
        with self._sinks_lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def touch(self) -> None:
        raise ValueError("a traced key is touched by the person at the real key")

    def decline(self) -> None:
        raise ValueError("a traced key is declined at the real key")

    def power_cycle(self) -> None:
        self.endpoint.reset()

    def wink(self) -> None:
        self.core.wink()

    def status(self) -> dict[str, Any]:
        return {"traced": True, "messages": len(self.log.records)}

    def close(self) -> None:
        self.endpoint.close()
