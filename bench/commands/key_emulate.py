"""`tokenbench key emulate --udp`: serve an emulated security key over the UDP simulator port.

Any client that speaks the simulator convention (python-fido2 through
`emulators.transport.udp.open_udp_device`, the bench's `udp:HOST:PORT` target, other FIDO test
tools) can then use the key. Runs until SIGINT/SIGTERM, then closes the sockets and exits 0;
the key's state file is written on every change, so nothing is lost at shutdown.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from bench.errors import UserError
from emulators.ctap.errors import StateError
from emulators.ctap.faults import Fault
from emulators.ctap.profiles import PROFILES
from emulators.transport.udp import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REPLY_PORT,
    Address,
    default_control_address,
    is_loopback,
    parse_address,
)

CLI_PRESENCE = ("auto", "deny", "prompt", "touch")


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "emulate",
        help="serve an emulated security key (UDP simulator convention)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--udp",
        nargs="?",
        const=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        required=True,
        help=f"bind address for HID reports (default {DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--reply-to",
        metavar="HOST:PORT",
        help=f"where replies go (default: port {DEFAULT_REPLY_PORT} of the bind host)",
    )
    parser.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="control socket: touch/replug/status (default: bind port + 1)",
    )
    parser.add_argument("--state", metavar="FILE", help="keep the key's state in FILE")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument(
        "--presence",
        default="auto",
        choices=CLI_PRESENCE,
        help="user presence: approve, deny, ask on the terminal, or wait for a control 'touch'",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"inject a fault (repeatable): {', '.join(f.value for f in Fault)}",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    parser.set_defaults(handler=run)


def _addresses(args: argparse.Namespace) -> tuple[Address, Address, Address]:
    try:
        bind = parse_address(args.udp, default_port=DEFAULT_PORT)
        reply = parse_address(args.reply_to or "", bind[0], DEFAULT_REPLY_PORT)
        control = (
            parse_address(args.control, bind[0]) if args.control else default_control_address(bind)
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for label, address in (("bind", bind), ("reply", reply), ("control", control)):
        if not is_loopback(address[0]) and not args.allow_remote:
            raise UserError(
                f"{label} address {address[0]} is not loopback; "
                "pass --allow-remote to expose the key"
            )
    return bind, reply, control


def run(args: argparse.Namespace) -> int:
    from emulators.key import EmulatedKey
    from emulators.transport.udp import UdpKeyServer

    bind, reply, control = _addresses(args)
    try:
        key = EmulatedKey.create(
            profile=args.profile,
            state_path=args.state,
            faults="+".join(args.fault),
            presence=args.presence,
        )
    except (ValueError, StateError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot use key state {args.state}: {exc.strerror}") from None
    try:
        server = UdpKeyServer(key, bind=bind, reply_to=reply, control=control)
    except OSError as exc:
        key.close()
        raise UserError(f"cannot bind {bind[0]}:{bind[1]}: {exc.strerror}") from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    host, port = server.address
    chost, cport = server.control_address
    sys.stderr.write(
        f"tokenbench: emulated key ({args.profile}) on udp {host}:{port}, replies to "
        f"{reply[0]}:{reply[1]}, control {chost}:{cport}\n"
    )
    sys.stderr.flush()
    try:
        server.serve(stop)
    finally:
        server.close()
        key.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.stderr.write("tokenbench: emulated key stopped\n")
    return 0
