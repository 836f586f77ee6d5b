"""`tokenbench webauthn`: a software authenticator for any relying party.

    tokenbench webauthn create --options FILE|- --origin URL [--target T] [--fault F] [--uv on|off]
    tokenbench webauthn get    --options FILE|- --origin URL [--target T] [--fault F] [--uv on|off]
    tokenbench webauthn faults

`create` reads PublicKeyCredentialCreationOptions JSON as a server sends it (bare or as
`{"publicKey": ...}`, base64url binary fields) and prints the RegistrationResponse JSON to post
back; `get` does the same for assertions. Keep `--target emu:state=FILE` the same between the two
so the key that created the credential is the one asked for it. See docs/webauthn-client.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import PIN, STDIN, add_secret_option, read_secret
from tokenbench.bench.webauthn.faults import EXPECTED, SERVERS, UV_OFF, WEBAUTHN_FAULTS
from tokenbench.bench.webauthn.options import UV_CHOICES

MAX_OPTIONS_BYTES = 1 << 20  # a server's options are a few kB; refuse to slurp a wrong file


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "webauthn",
        help="software authenticator: a server's options JSON in, the response JSON out",
        description=__doc__.splitlines()[0],
    )
    commands = parser.add_subparsers(dest="webauthn_command", metavar="COMMAND")
    commands.required = True
    for name, what in (
        ("create", "navigator.credentials.create(): creation options -> RegistrationResponse"),
        ("get", "navigator.credentials.get(): request options -> AuthenticationResponse"),
    ):
        ceremony = commands.add_parser(name, help=what, description=what)
        ceremony.add_argument(
            "--options", required=True, metavar="FILE|-", help="the server's options JSON"
        )
        ceremony.add_argument(
            "--origin", required=True, metavar="URL", help="the page's origin, e.g. https://HOST"
        )
        ceremony.add_argument(
            "--target",
            default="emu:",
            metavar="URI",
            help="the key (default emu:; "
            "emu:state=FILE keeps credentials between create and get; udp:, hid:, pcsc:)",
        )
        ceremony.add_argument(
            "--fault",
            action="append",
            default=[],
            choices=list(WEBAUTHN_FAULTS),
            help="unusual authenticator data from an emulated key (repeatable)",
        )
        ceremony.add_argument(
            "--uv", choices=list(UV_CHOICES), help="override the options' userVerification"
        )
        add_secret_option(ceremony, PIN, metavar="PIN", why="for user verification")
        ceremony.set_defaults(handler=_run, ceremony=name)
    faults = commands.add_parser("faults", help="the fault options and who rejects them")
    faults.set_defaults(handler=_list_faults)


def _read_options(where: str) -> str:
    try:
        if where == STDIN:
            text = sys.stdin.read(MAX_OPTIONS_BYTES + 1)
        else:
            with Path(where).open(encoding="utf-8") as handle:
                text = handle.read(MAX_OPTIONS_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read --options {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"--options {where} is not UTF-8 text") from None
    if len(text) > MAX_OPTIONS_BYTES:
        raise UserError(f"--options {where} is larger than {MAX_OPTIONS_BYTES} bytes")
    return text


def _run(args: argparse.Namespace) -> int:
    from tokenbench.bench.webauthn.authenticator import SoftwareAuthenticator

    if args.options == STDIN and getattr(args, PIN.dest) == STDIN:
        raise UserError(
            f"--options - and --pin - cannot both read stdin; use --pin-file or ${PIN.env}"
        )
    pin = read_secret(args, PIN)
    with SoftwareAuthenticator(  # checks origin, target and faults before reading anything
        args.origin, args.target, faults=args.fault, uv=args.uv, pin=pin
    ) as authenticator:
        options = _read_options(args.options)
        call = authenticator.create if args.ceremony == "create" else authenticator.get
        response: dict[str, Any] = call(options)
    sys.stdout.write(json.dumps(response) + "\n")
    return 0


def _list_faults(args: argparse.Namespace) -> int:
    rows = [(f.name, f.what) for f in WEBAUTHN_FAULTS.values()]
    rows.append((UV_OFF, "--uv off: no user verification whatever the options ask"))
    for name, what in rows:
        sys.stdout.write(f"{name}: {what}\n")
        for server in SERVERS:
            expected = EXPECTED[name][server]
            registration = expected.registration or "accepted"
            sign_in = expected.sign_in or "accepted"
            if expected.sign_in:
                sign_in += f" (sign-in {expected.sign_in_number})"
            note = f"; {expected.note}" if expected.note else ""
            sys.stdout.write(f"  {server}: registration {registration}; sign-in {sign_in}{note}\n")
    return 0
