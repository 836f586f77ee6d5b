"""`tokenbench key trace`: watch what a client says to a key, with secrets redacted.

    tokenbench key trace --target hid:auto --listen udp [--log trace.json]

exposes an emulated front end (UDP simulator port 127.0.0.1:8111 replying to 7112, or a kernel
HID device through uhid / USB/IP) and forwards every CTAPHID message to the target key, printing
frames and decoded CTAP2/U2F messages. Runs until SIGINT/SIGTERM (or `--duration`).
See `tokenbench.bench.keytools.trace` for what is forwarded and what the front end answers itself.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from tokenbench.bench.errors import UserError
from tokenbench.bench.targets import KeyTarget, parse_target

LISTEN_SIDES = ("udp", "uhid", "usbip")


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "trace",
        help="man-in-the-middle trace between a client and a key (secrets redacted)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--target", required=True, metavar="URI", help="the key to forward to")
    parser.add_argument("--listen", required=True, choices=LISTEN_SIDES, help="front end")
    parser.add_argument(
        "--log", metavar="FILE.json", help="also write one JSON record per message (mode 0600)"
    )
    parser.add_argument(
        "--udp", default="127.0.0.1:8111", metavar="HOST:PORT", help="UDP bind address"
    )
    parser.add_argument(
        "--reply-to", metavar="HOST:PORT", help="where UDP replies go (default port 7112)"
    )
    parser.add_argument(
        "--usbip", default="127.0.0.1:3240", metavar="HOST:PORT", help="USB/IP listen address"
    )
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this long (default: never)"
    )
    parser.set_defaults(handler=run)


def _start_listener(args: argparse.Namespace, front: Any) -> tuple[Any, str]:
    """Start the chosen front end; returns (object with close(), description)."""
    from tokenbench.emulators.transport import udp

    if args.listen == "udp":
        try:
            bind = udp.parse_address(args.udp, default_port=udp.DEFAULT_PORT)
            reply = udp.parse_address(args.reply_to or "", bind[0], udp.DEFAULT_REPLY_PORT)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        for address in (bind, reply):
            if not udp.is_loopback(address[0]):
                raise UserError(f"{address[0]} is not loopback: a trace stays on this machine")
        try:
            server = udp.UdpKeyServer(front, bind=bind, reply_to=reply).start()
        except OSError as exc:
            raise UserError(f"cannot bind udp {bind[0]}:{bind[1]}: {exc.strerror}") from None
        host, port = server.address
        return server, f"udp {host}:{port} (replies to {reply[0]}:{reply[1]})"
    if args.listen == "uhid":
        from tokenbench.emulators.transport.uhid import UhidUnavailable, attach_uhid

        try:
            device = attach_uhid(front, name="tokenbench trace")
        except UhidUnavailable as exc:
            raise UserError(exc.strerror or str(exc)) from None
        return device, "uhid (a new /dev/hidrawN)"
    from tokenbench.emulators.transport.usbip import serve_usbip

    try:
        host, port = udp.parse_address(args.usbip, default_port=3240)
        usbip_server = serve_usbip(front, host, port)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot serve USB/IP on {args.usbip}: {exc}") from None
    return usbip_server, f"usbip {host}:{port} (attach with: usbip attach -r {host} -b 1-1)"


def run(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.trace import TraceFrontEnd, TraceLog
    from tokenbench.emulators.clock import MonotonicClock

    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be positive")
    target = parse_target(args.target)
    if not isinstance(target, KeyTarget):
        raise UserError(f"{args.target} is not a security key target")
    clock = MonotonicClock()
    try:
        try:
            device = target.device()
        except UserError:
            raise
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot open {args.target}: {exc}") from None
        log = TraceLog(sys.stdout, args.log, clock)
        try:
            log.start_file()
        except OSError as exc:
            raise UserError(f"cannot write trace log {args.log}: {exc.strerror}") from None
        front = TraceFrontEnd(device, log, clock)
        try:
            listener, where = _start_listener(args, front)
            try:
                sys.stderr.write(f"tokenbench: tracing {args.target} on {where}\n")
                sys.stderr.flush()
                _wait(args.duration)
            finally:
                listener.close()
        finally:
            front.close()
    finally:
        target.close()
    sys.stderr.write(f"tokenbench: trace stopped, {len(log.records)} messages\n")
    return 0


def _wait(duration: float | None) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    else:
        previous = {}
    try:
        stop.wait(duration)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
