"""`tokenbench key emulate-vpcd [HOST:PORT]`: the emulated key as a contactless card in vpcd.

The key becomes a virtual card in vsmartcard's `vpcd` PC/SC reader (Debian package
`vsmartcard-vpcd`, loaded by pcscd): it connects to the reader's TCP port (slot 0 is
127.0.0.1:35963, slot 1 35964) and from then on any PC/SC client — python-fido2's
`CtapPcscDevice`, the bench's `pcsc:` target, browsers through pcscd — sees a FIDO card.
Being in the field counts as the user's tap, so presence is approved by default. Runs until
SIGINT/SIGTERM, then leaves the reader (the card is removed) and exits 0; it reconnects if
pcscd restarts meanwhile.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from bench.errors import UserError
from emulators.ctap.faults import Fault, FaultSet
from emulators.ctap.profiles import PROFILES
from emulators.transport.nfc import NfcBreakage
from emulators.transport.vpcd import VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT

CLI_PRESENCE = ("auto", "deny", "prompt")
MAX_PORT = 65535


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "emulate-vpcd",
        help="plug an emulated key into vsmartcard's vpcd PC/SC reader (NFC/ISO 7816)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "address",
        nargs="?",
        default=f"{VPCD_DEFAULT_HOST}:{VPCD_DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"the vpcd reader slot (default {VPCD_DEFAULT_HOST}:{VPCD_DEFAULT_PORT})",
    )
    parser.add_argument("--state", metavar="FILE", help="keep the key's state in FILE")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument(
        "--presence",
        default="auto",
        choices=CLI_PRESENCE,
        help="user presence: approve (the tap), deny, or ask on the terminal",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"inject a core fault (repeatable): {', '.join(f.value for f in Fault)}",
    )
    parser.add_argument(
        "--nfc-break",
        action="append",
        default=[],
        metavar="NAME",
        help=f"break the ISO 7816 framing (repeatable): {', '.join(b.value for b in NfcBreakage)}",
    )
    parser.set_defaults(handler=run)


def parse_vpcd_address(text: str) -> tuple[str, int]:
    """HOST:PORT, HOST or :PORT -> (host, port); UserError on anything else."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, ""
    host = host.strip("[]") or VPCD_DEFAULT_HOST
    if not port_text:
        return host, VPCD_DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) <= MAX_PORT:
        raise UserError(f"bad vpcd address {text!r}: port must be 1-{MAX_PORT}")
    return host, int(port_text)


def run(args: argparse.Namespace) -> int:
    from emulators.ctap.authenticator import Authenticator
    from emulators.ctap.env import Env
    from emulators.ctap.profiles import get_profile
    from emulators.key import presence_policy
    from emulators.transport.nfc import NfcCard
    from emulators.transport.vpcd import VpcdClient

    host, port = parse_vpcd_address(args.address)
    try:
        breakages = NfcBreakage.parse(args.nfc_break)
        env = Env.system(
            state_path=args.state,
            presence=presence_policy(args.presence),
            faults=FaultSet.parse(args.fault),
        )
        core = Authenticator(env, get_profile(args.profile))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot use state file {args.state}: {exc.strerror}") from None
    client = VpcdClient(NfcCard(core, breakages=breakages), host, port)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sys.stderr.write(
        f"tokenbench: emulated key ({args.profile}) as a card in vpcd at {host}:{port}\n"
    )
    sys.stderr.flush()
    try:
        client.run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.stderr.write("tokenbench: emulated card removed\n")
    return 0
