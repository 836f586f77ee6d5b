"""`tokenbench key pin set|change|retries`: a key's PIN, never on the command line.

The new PIN comes from `--new-pin-file FILE` (0600), $TOKENBENCH_NEW_PIN or `--new-pin -`
(stdin), the current one from `--pin-file`, $TOKENBENCH_PIN or `--pin -`; with both on stdin the
current PIN is the first line and the new one the second (see `secret_input`).
"""

from __future__ import annotations

import argparse

from tokenbench.bench.commands.keycli import add_key_arguments, key_session, report
from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import (
    NEW_PIN,
    PIN,
    SecretOption,
    add_secret_option,
    read_secret,
)


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pin = subcommands.add_parser("pin", help="set or change a key's PIN, or read its retries")
    verbs = pin.add_subparsers(dest="pin_command", metavar="COMMAND")
    verbs.required = True

    set_pin = verbs.add_parser("set", help="set the first PIN on a key that has none")
    add_key_arguments(set_pin)
    add_secret_option(set_pin, NEW_PIN, metavar="PIN", why="required")
    set_pin.set_defaults(handler=run_set)

    change = verbs.add_parser("change", help="change the PIN (also after a forced change)")
    add_key_arguments(change, pin_why="the current PIN; required")
    add_secret_option(change, NEW_PIN, metavar="PIN", why="required")
    change.set_defaults(handler=run_change)

    retries = verbs.add_parser("retries", help="PIN (and built-in UV) retries left")
    add_key_arguments(retries)
    retries.set_defaults(handler=run_retries)


def _required(args: argparse.Namespace, option: SecretOption) -> str:
    value = read_secret(args, option)
    if value is None:
        raise UserError(f"key pin {args.pin_command} needs {option.what}: {option.safe_forms}")
    return value


def run_set(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.key_settings import pin_status, set_pin

    new_pin = _required(args, NEW_PIN)
    with key_session(args.target) as (_, _, ctap):
        set_pin(ctap, new_pin)
        status = pin_status(ctap)
    return report(args, {"action": "set", **status.as_json()}, ["PIN set", *status.lines()])


def run_change(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.key_settings import change_pin, pin_status

    pin = _required(args, PIN)
    new_pin = _required(args, NEW_PIN)
    with key_session(args.target) as (_, _, ctap):
        change_pin(ctap, pin, new_pin)
        status = pin_status(ctap)
    return report(args, {"action": "change", **status.as_json()}, ["PIN changed", *status.lines()])


def run_retries(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.key_settings import pin_status

    with key_session(args.target) as (_, _, ctap):
        status = pin_status(ctap)
    return report(args, status.as_json(), status.lines())
