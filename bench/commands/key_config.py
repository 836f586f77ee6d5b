"""`tokenbench key config ...`: authenticatorConfig (CTAP 2.1 §6.11) from the command line.

`always-uv on|off`, `min-pin-length N [--rp-id RP]... [--force-pin-change]`,
`force-pin-change` and `enterprise-attestation`. Once a PIN is set the key wants it (an `acfg`
token): `--pin-file`, $TOKENBENCH_PIN or `--pin -`. Every verb prints the settings the key
reports afterwards, read back from getInfo.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from fido2.ctap2 import Ctap2

from tokenbench.bench.commands.keycli import add_key_arguments, key_session, report
from tokenbench.bench.keytools.key_settings import (
    Settings,
    enable_enterprise_attestation,
    set_always_uv,
    set_min_pin_length,
)
from tokenbench.bench.secret_input import PIN, read_secret

PIN_WHY = "required once the key has a PIN"
MAX_MIN_PIN_LENGTH = 63  # a PIN is at most 63 bytes (CTAP 2.1 §6.5.5.5)


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subcommands.add_parser(
        "config", help="alwaysUv, minimum PIN length, forced PIN change, enterprise attestation"
    )
    verbs = config.add_subparsers(dest="config_command", metavar="SETTING")
    verbs.required = True

    always_uv = verbs.add_parser("always-uv", help="require user verification for every use")
    always_uv.add_argument("state", choices=("on", "off"))
    _verb(always_uv, run_always_uv)

    min_length = verbs.add_parser("min-pin-length", help="raise the minimum PIN length")
    min_length.add_argument("length", type=_pin_length, help=f"4..{MAX_MIN_PIN_LENGTH}")
    min_length.add_argument(
        "--rp-id",
        action="append",
        dest="rp_ids",
        metavar="RP",
        help="an RP allowed to read the minimum length (minPinLength extension); repeatable",
    )
    min_length.add_argument(
        "--force-pin-change", action="store_true", help="also require a new PIN before next use"
    )
    _verb(min_length, run_min_pin_length)

    force = verbs.add_parser("force-pin-change", help="require a new PIN before the next use")
    _verb(force, run_force_pin_change)

    ep = verbs.add_parser("enterprise-attestation", help="enable enterprise attestation")
    _verb(ep, run_enterprise_attestation)


def _verb(parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace], int]) -> None:
    add_key_arguments(parser, pin_why=PIN_WHY)
    parser.set_defaults(handler=handler)


def _pin_length(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 4 <= value <= MAX_MIN_PIN_LENGTH:
        raise argparse.ArgumentTypeError(f"must be 4..{MAX_MIN_PIN_LENGTH}, not {value}")
    return value


def _apply(
    args: argparse.Namespace, setting: str, change: Callable[[Ctap2, str | None], Settings]
) -> int:
    pin = read_secret(args, PIN)
    with key_session(args.target) as (_, _, ctap):
        settings = change(ctap, pin)
    return report(args, {"changed": setting, "settings": settings.as_json()}, settings.lines())


def run_always_uv(args: argparse.Namespace) -> int:
    on = args.state == "on"
    return _apply(args, "always_uv", lambda ctap, pin: set_always_uv(ctap, pin, on))


def run_min_pin_length(args: argparse.Namespace) -> int:
    def change(ctap: Ctap2, pin: str | None) -> Settings:
        return set_min_pin_length(ctap, pin, args.length, args.rp_ids, args.force_pin_change)

    return _apply(args, "min_pin_length", change)


def run_force_pin_change(args: argparse.Namespace) -> int:
    def change(ctap: Ctap2, pin: str | None) -> Settings:
        return set_min_pin_length(ctap, pin, None, None, True)

    return _apply(args, "force_pin_change", change)


def run_enterprise_attestation(args: argparse.Namespace) -> int:
    return _apply(args, "enterprise_attestation", enable_enterprise_attestation)
