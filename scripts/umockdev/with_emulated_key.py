r"""Run one command with a fresh emulated key as its /dev/hidraw0 (umockdev; no root, no kernel).

    .venv/bin/python scripts/umockdev/with_emulated_key.py -- fido2-token -L
    .venv/bin/python scripts/umockdev/with_emulated_key.py --faults slow -- fido2-token -I \
        /dev/hidraw0

The command runs with libumockdev-preload and the testbed's UMOCKDEV_DIR (both also exported,
so a shell started this way can run several clients). Exits with the command's status; a setup
problem is one line on stderr and status 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.umockdev_hidraw import UmockdevUnavailable, attach_umockdev


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help="device profile of the key")
    parser.add_argument("--faults", default="", help="faults to inject, comma-separated")
    parser.add_argument("--seed", type=int, default=None, help="reproducible key (tests only)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM [ARGS...]")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        key = EmulatedKey.create(profile=args.profile, faults=args.faults, seed=args.seed)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with key:
        try:
            node = attach_umockdev(key)
        except UmockdevUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        with node:
            try:
                return subprocess.run(args.command, env=node.client_env()).returncode
            except OSError as exc:
                print(f"error: cannot run {args.command[0]}: {exc.strerror}", file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
