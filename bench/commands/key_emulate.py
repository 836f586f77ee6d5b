"""`tokenbench key emulate --udp|--uhid|--usbip|--vpcd`: serve an emulated security key.

- `--udp`: the simulator convention (python-fido2 through `tokenbench.emulators.transport.udp`, the
  bench's `udp:HOST:PORT` target, other FIDO test tools);
- `--uhid`: a kernel HID device through /dev/uhid, so a /dev/hidrawN appears for browsers
  and libfido2;
- `--usbip`: a USB device on a USB/IP server, for `usbip attach -r HOST -b 1-1`;
- `--vpcd`: a contactless card in vsmartcard's vpcd PC/SC reader (slot 0 is 127.0.0.1:35963),
  so that pcscd clients (python-fido2's `CtapPcscDevice`, the bench's `pcsc:` target) see it;
  being in the field counts as the user's tap.
`--udp` and `--vpcd` also listen for control datagrams (`--control`; touch, replug, status:
`emulators.transport.control`), so the bench can touch and re-plug the key unattended. The
control socket is loopback-only whatever `--allow-remote` says, and answers only datagrams that
carry the token this process writes to a 0600 file of its user: another user of the machine
can neither approve presence nor reset the key. A vpcd card's control socket defaults to
loopback port vpcd port + 1000 (36963 for slot 0); its replug takes the card out of the
reader's field and back. A non-loopback vpcd reader needs `--allow-remote`, like a non-loopback
UDP or USB/IP address.
`--rig-http HOST:PORT` (with `--vpcd`) also serves a test rig's HTTP controller
(`emulators.transport.rig_http`: /usb<N>/power/on|off, /usb<N>/touch/on|off), as python-fido2's
device tests expect with `--controller`; power off/on takes the card out of the field and back,
and presence comes from the rig's button (`--presence button`, the default with a rig). The rig
is loopback-only and every path starts with a token (`--rig-token-file FILE`, else a fresh one
written to this user's runtime directory): pass `--controller http://HOST:PORT/TOKEN`.
Runs until SIGINT/SIGTERM, then closes everything and exits 0; the key's state file is
written on every change, so nothing is lost at shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING

from tokenbench.bench.errors import UserError
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.faults import Fault
from tokenbench.emulators.ctap.profiles import PROFILES
from tokenbench.emulators.transport.control import ControlError, require_loopback
from tokenbench.emulators.transport.nfc import NfcBreakage
from tokenbench.emulators.transport.udp import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REPLY_PORT,
    Address,
    default_control_address,
    is_loopback,
    parse_address,
)
from tokenbench.emulators.transport.usbip import USBIP_PORT
from tokenbench.emulators.transport.vpcd import VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT

if TYPE_CHECKING:
    from tokenbench.emulators.key import EmulatedKey
    from tokenbench.emulators.transport.control import ControlSocket
    from tokenbench.emulators.transport.rig_http import RigActions, RigHttpServer
    from tokenbench.emulators.transport.vpcd import CardControl

CLI_PRESENCE = ("auto", "deny", "prompt", "touch", "button")
RIG_PRESENCE = "button"  # the only presence a rig's touch relay can drive
MOVED_BY = {"HID": "--udp", "control": "--control"}  # the flag that moves each UDP socket


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "emulate",
        help="serve an emulated security key over UDP, uhid, USB/IP or vpcd",
        description=__doc__.splitlines()[0],
    )
    transport = parser.add_mutually_exclusive_group(required=True)
    transport.add_argument(
        "--udp",
        nargs="?",
        const=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"bind address for HID reports (default {DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    transport.add_argument(
        "--uhid", action="store_true", help="create a kernel HID device through /dev/uhid"
    )
    transport.add_argument(
        "--usbip",
        nargs="?",
        const=f"{DEFAULT_HOST}:{USBIP_PORT}",
        metavar="HOST:PORT",
        help=f"serve the key as USB/IP bus id 1-1 (default {DEFAULT_HOST}:{USBIP_PORT})",
    )
    transport.add_argument(
        "--vpcd",
        nargs="?",
        const=f"{VPCD_DEFAULT_HOST}:{VPCD_DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"plug into the vpcd reader slot (default {VPCD_DEFAULT_HOST}:{VPCD_DEFAULT_PORT})",
    )
    parser.add_argument(
        "--reply-to",
        metavar="HOST:PORT",
        help=f"where replies go (default: port {DEFAULT_REPLY_PORT} of the bind host)",
    )
    parser.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="control socket: touch/replug/status (default: udp bind port + 1; "
        "vpcd: 127.0.0.1, vpcd port + 1000)",
    )
    parser.add_argument("--state", metavar="FILE", help="keep the key's state in FILE")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument(
        "--presence",
        choices=CLI_PRESENCE,
        help="user presence: approve, deny, ask on the terminal, wait for a control 'touch', "
        "or a button held by --rig-http (default: auto; button with --rig-http)",
    )
    parser.add_argument(
        "--rig-http",
        metavar="HOST:PORT",
        help="with --vpcd, serve a test rig's HTTP controller (power and touch) on loopback "
        "HOST:PORT",
    )
    parser.add_argument(
        "--rig-token-file",
        metavar="FILE",
        help="the rig's URL token, read from FILE (mode 0600); default: a fresh token, "
        "written to this user's runtime directory",
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
    parser.add_argument(
        "--nfc-break",
        action="append",
        default=[],
        metavar="NAME",
        help="with --vpcd, break the ISO 7816 framing on purpose (repeatable): "
        + ", ".join(b.value for b in NfcBreakage),
    )
    parser.set_defaults(handler=run)


def _check_exposure(label: str, host: str, args: argparse.Namespace) -> None:
    if not is_loopback(host) and not args.allow_remote:
        raise UserError(
            f"{label} address {host} is not loopback; pass --allow-remote to expose the key"
        )


def _check_loopback(label: str, host: str) -> None:
    """The control channel and the rig never leave loopback, whatever --allow-remote says."""
    try:
        require_loopback(label, host)
    except ControlError as exc:
        raise UserError(str(exc)) from None


def _addresses(args: argparse.Namespace) -> tuple[Address, Address, Address]:
    try:
        bind = parse_address(args.udp, default_port=DEFAULT_PORT)
        reply = parse_address(args.reply_to or "", bind[0], DEFAULT_REPLY_PORT)
        control = (
            parse_address(args.control, bind[0]) if args.control else default_control_address(bind)
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for label, address in (("bind", bind), ("reply", reply)):
        _check_exposure(label, address[0], args)
    _check_loopback("control", control[0])
    if control == reply:
        origin = "--control" if args.control else "the control socket's default (HID port + 1)"
        raise UserError(
            f"{origin} {control[0]}:{control[1]} is also the --reply-to address; "
            "move one of them (--control HOST:PORT)"
        )
    return bind, reply, control


def run(args: argparse.Namespace) -> int:
    if args.nfc_break and args.vpcd is None:
        raise UserError("--nfc-break applies to --vpcd only")
    if args.rig_http is not None and args.vpcd is None:
        raise UserError("--rig-http applies to --vpcd only")
    if args.rig_token_file is not None and args.rig_http is None:
        raise UserError("--rig-token-file applies to --rig-http only")
    if args.uhid:
        return _serve_until_stopped(args, _start_uhid)
    if args.usbip is not None:
        return _serve_until_stopped(args, _start_usbip)
    if args.vpcd is not None:
        return _serve_until_stopped(args, _start_vpcd)
    return _run_udp(args)


_STATE_CLAIMS: list[int] = []
"""Lock descriptors on the key-state files this process serves: kept open until it exits."""


def _claim_state(path: str) -> None:
    """One emulator per state file: two would each save their own view over the other's."""
    from tokenbench.emulators.private_file import FileInUse, claim

    try:
        _STATE_CLAIMS.append(claim(path))
    except FileInUse:
        raise UserError(f"key state {path} is in use by another emulator") from None
    except OSError as exc:
        raise UserError(f"cannot use key state {path}: {exc.strerror}") from None


def _create_key(args: argparse.Namespace) -> EmulatedKey:
    from tokenbench.emulators.key import EmulatedKey

    if args.state is not None:
        _claim_state(args.state)
    try:
        key = EmulatedKey.create(
            profile=args.profile,
            state_path=args.state,
            faults="+".join(args.fault),
            presence=_presence_mode(args),
        )
    except (ValueError, StateError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot use key state {args.state}: {exc.strerror}") from None
    return key


def _presence_mode(args: argparse.Namespace) -> str:
    """--presence, defaulted: a rig's button when --rig-http is given, else auto-approve."""
    if args.rig_http is None:
        return str(args.presence or "auto")
    if args.presence not in (None, RIG_PRESENCE):
        raise UserError(
            f"--rig-http drives the key's button: --presence must be {RIG_PRESENCE} (the default)"
        )
    return RIG_PRESENCE


def _start_uhid(key: EmulatedKey, args: argparse.Namespace) -> tuple[str, Callable[[], None]]:
    from tokenbench.emulators.transport.uhid import UhidUnavailable, attach_uhid

    try:
        device = attach_uhid(key)
    except UhidUnavailable as exc:
        raise UserError(
            f"{exc.strerror} (is the uhid module loaded, and are you allowed?)"
        ) from None
    nodes = ", ".join(str(node) for node in device.hidraw_nodes()) or "a new /dev/hidraw node"
    return f"uhid device {nodes}", device.close


def _start_usbip(key: EmulatedKey, args: argparse.Namespace) -> tuple[str, Callable[[], None]]:
    from tokenbench.emulators.transport.usbip import serve_usbip

    try:
        host, port = parse_address(args.usbip, default_port=USBIP_PORT)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_exposure("usbip", host, args)
    try:
        server = serve_usbip(key, host, port, allow_remote=args.allow_remote)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    where = f"usbip {host}:{port} bus id {server.busid} (usbip attach -r {host} -b {server.busid})"
    return where, server.close


def _start_vpcd(key: EmulatedKey, args: argparse.Namespace) -> tuple[str, Callable[[], None]]:
    from tokenbench.emulators.transport.control import token_path, withdraw_token
    from tokenbench.emulators.transport.vpcd import CardControl, VpcdClient

    try:
        host, port = parse_address(args.vpcd, default_port=VPCD_DEFAULT_PORT)
        breakages = NfcBreakage.parse(args.nfc_break)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if port == 0:
        raise UserError("the vpcd reader port must be 1-65535")
    _check_exposure("vpcd reader", host, args)
    client = VpcdClient(key.nfc_card(breakages=breakages), host, port)
    card = CardControl(key, client)
    control = _start_card_control(card, args, (host, port))
    try:
        rig = _start_rig(card.rig_actions(), args)
    except BaseException:
        control.close()
        raise
    leave = threading.Event()
    worker = threading.Thread(target=client.run, args=(leave,), name="vpcd", daemon=True)
    worker.start()

    def close() -> None:
        if rig is not None:
            rig.close()
            if args.rig_token_file is None:  # the token this process published
                withdraw_token(token_path("rig-http", rig.address[1]), rig.token)
        control.close()
        leave.set()
        worker.join(timeout=10)
        sys.stderr.write("tokenbench: emulated card removed\n")

    chost, cport = control.address
    where = f"a card in vpcd at {host}:{port}, control {chost}:{cport}"
    if rig is not None:
        token_file = args.rig_token_file or token_path("rig-http", rig.address[1])
        where += f", rig controller http://{rig.address[0]}:{rig.address[1]}/TOKEN"
        where += f" (TOKEN in {token_file})"
    return where, close


def _start_rig(actions: RigActions, args: argparse.Namespace) -> RigHttpServer | None:
    """The rig's HTTP controller (--rig-http), answering on its own thread; None without it."""
    from tokenbench.emulators.transport.control import publish_token
    from tokenbench.emulators.transport.rig_http import RigHttpServer

    if args.rig_http is None:
        return None
    try:
        host, port = parse_address(args.rig_http)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_loopback("rig controller", host)
    token = _rig_token(args.rig_token_file)
    try:
        rig = RigHttpServer(actions, (host, port), token=token).start()
    except OSError as exc:
        raise UserError(
            f"cannot bind the rig controller {host}:{port}: {exc.strerror} "
            "(choose another with --rig-http HOST:PORT)"
        ) from None
    if token is None:
        try:
            publish_token("rig-http", rig.address[1], rig.token)
        except (OSError, ControlError) as exc:
            rig.close()
            raise UserError(f"cannot write the rig's token: {exc}") from None
    return rig


def _rig_token(path: str | None) -> str | None:
    """The token in --rig-token-file (a harness's own secret), None without the option.

    A file others may read is refused: the token is what keeps them off the rig.
    """
    if path is None:
        return None
    try:
        with open(path, encoding="ascii") as file:
            if os.fstat(file.fileno()).st_mode & 0o077:
                raise UserError(f"--rig-token-file {path} must be readable by its owner only")
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read --rig-token-file {path}: {exc}") from None
    if not token or not token.isascii() or not token.isprintable() or "/" in token or " " in token:
        raise UserError(f"--rig-token-file {path} holds no usable token (one URL-safe word)")
    return token


def _start_card_control(
    card: CardControl, args: argparse.Namespace, vpcd: Address
) -> ControlSocket:
    """The vpcd card's control socket, answering on its own thread (the card has no loop)."""
    from tokenbench.emulators.transport.control import ControlSocket
    from tokenbench.emulators.transport.vpcd import default_control_address

    try:
        address = parse_address(args.control, DEFAULT_HOST) if args.control else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    address = address or default_control_address(vpcd)
    _check_loopback("control", address[0])
    try:
        return ControlSocket(card, address).start()
    except ControlError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(
            f"cannot bind the control socket {address[0]}:{address[1]}: {exc.strerror}"
        ) from None


def _serve_until_stopped(
    args: argparse.Namespace,
    start: Callable[[EmulatedKey, argparse.Namespace], tuple[str, Callable[[], None]]],
) -> int:
    key = _create_key(args)
    stop = threading.Event()
    try:
        where, close = start(key, args)
    except BaseException:
        key.close()
        raise
    with _stop_on_signals(stop):
        sys.stderr.write(f"tokenbench: emulated key ({args.profile}) as {where}\n")
        sys.stderr.flush()
        try:
            stop.wait()
        finally:
            close()
            key.close()
    sys.stderr.write("tokenbench: emulated key stopped\n")
    return 0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_udp(args: argparse.Namespace) -> int:
    from tokenbench.emulators.transport.udp import SocketBindError, UdpKeyServer

    bind, reply, control = _addresses(args)
    key = _create_key(args)
    try:
        server = UdpKeyServer(key, bind=bind, reply_to=reply, control=control)
    except ControlError as exc:
        key.close()
        raise UserError(str(exc)) from None
    except SocketBindError as exc:
        key.close()
        host, port = exc.address
        flag = MOVED_BY[exc.role]
        raise UserError(
            f"cannot bind the {exc.role} socket {host}:{port}: {exc.strerror} "
            f"(choose another with {flag} HOST:PORT)"
        ) from None

    stop = threading.Event()
    host, port = server.address
    chost, cport = server.control_address
    with _stop_on_signals(stop):
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
    sys.stderr.write("tokenbench: emulated key stopped\n")
    return 0
