r"""Run one command with a fresh emulated key as its /dev/hidraw0 (umockdev; no root, no kernel).

    .venv/bin/python scripts/umockdev/with_emulated_key.py -- fido2-token -L
    .venv/bin/python scripts/umockdev/with_emulated_key.py --faults slow -- fido2-token -I \
        /dev/hidraw0

The command runs with libumockdev-preload and the testbed's UMOCKDEV_DIR (both also exported,
so a shell started this way can run several clients). Exits with the command's status; a setup
problem is one line on stderr and status 1.

`--rig-http HOST:PORT` also serves a test rig's controller for the key (power off pulls the node
and power-cycles the key, power on plugs a new one in, touch holds its button), e.g. for
python-fido2's device suite from its sdist:

    .venv/bin/python scripts/umockdev/with_emulated_key.py --rig-http 127.0.0.1:8800 -- sh -c \
        '.venv/bin/python -m pytest fido2-2.2.1/tests/device --controller "$TOKENBENCH_RIG_URL"'

The rig's URL carries a fresh secret token (the rig can touch and power-cycle the key, so only
whoever the command hands it to may); the command gets it in $TOKENBENCH_RIG_URL, never on a
command line others can read. The rig binds loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Iterator

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.rig_http import RigHttpServer
from tokenbench.emulators.transport.udp import is_loopback, parse_address
from tokenbench.emulators.transport.umockdev_hidraw import (
    UmockdevHidraw,
    UmockdevUnavailable,
    attach_umockdev,
)

RIG_URL_VARIABLE = "TOKENBENCH_RIG_URL"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help="device profile of the key")
    parser.add_argument("--faults", default="", help="faults to inject, comma-separated")
    parser.add_argument("--seed", type=int, default=None, help="reproducible key (tests only)")
    parser.add_argument(
        "--rig-http",
        metavar="HOST:PORT",
        help="serve a test rig's controller (power, touch); the key then waits for its button",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM [ARGS...]")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    return args


class SetupError(Exception):
    """Anything that stops the key, its node or its rig from starting: one line, status 1."""


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        rig_address = rig_address_of(args.rig_http)
        key = EmulatedKey.create(
            profile=args.profile,
            faults=args.faults,
            seed=args.seed,
            presence="button" if rig_address else "auto",
        )
    except (KeyError, ValueError, SetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with key:
        try:
            with attach_umockdev(key) as node, serve_rig(node, key, rig_address) as rig_url:
                return run_command(args.command, node, rig_url)
        except (UmockdevUnavailable, SetupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


def rig_address_of(text: str | None) -> tuple[str, int] | None:
    """--rig-http's address; loopback only, as the rig switches a key nobody else should."""
    if text is None:
        return None
    address = parse_address(text)
    if not is_loopback(address[0]):
        raise SetupError(f"--rig-http {address[0]} is not a loopback address")
    return address


def run_command(command: list[str], node: UmockdevHidraw, rig_url: str | None) -> int:
    env = node.client_env()
    if rig_url is not None:
        env[RIG_URL_VARIABLE] = rig_url
    try:
        return subprocess.run(command, env=env).returncode
    except OSError as exc:
        raise SetupError(f"cannot run {command[0]}: {exc.strerror}") from None


@contextlib.contextmanager
def serve_rig(
    node: UmockdevHidraw, key: EmulatedKey, address: tuple[str, int] | None
) -> Iterator[str | None]:
    """The rig controller for the command's lifetime, yielding its URL (None without one)."""
    if address is None:
        yield None
        return
    try:
        rig = RigHttpServer(node.rig_actions(key), address).start()
    except OSError as exc:
        raise SetupError(
            f"cannot serve the rig on {address[0]}:{address[1]}: {exc.strerror}"
        ) from None
    try:
        yield rig.url
    finally:
        rig.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
