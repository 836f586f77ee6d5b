"""The `tokenbench` command.

Each command group lives in `tokenbench.bench.commands.<group>` and exposes `register(subparsers)`.
Every failure ends as one line on stderr and a non-zero exit, never a traceback;
set TOKENBENCH_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from tokenbench.bench import commands
from tokenbench.bench.errors import UserError
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.totp.errors import TotpError
from tokenbench.verifier.errors import VerifierError

# What the libraries raise for input a person can fix; each becomes one line, like UserError.
ONE_LINE_ERRORS = (UserError, TotpError, StateError, VerifierError)

COMMAND_GROUPS = ("totp", "key", "iam", "serve", "bench", "webauthn")
EXIT_USAGE = 2
EXIT_FAILURE = 1


def one_line(text: str) -> str:
    """`text` made printable on one line: control characters (from user input) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {one_line(message)}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tokenbench", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", metavar="GROUP", parser_class=OneLineParser)
    groups.required = True
    for name in COMMAND_GROUPS:
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ONE_LINE_ERRORS as exc:
        sys.stderr.write(f"tokenbench: error: {one_line(str(exc))}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("tokenbench: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("TOKENBENCH_DEBUG"):
            traceback.print_exc()
        detail = one_line(str(exc).splitlines()[0]) if str(exc) else ""
        sys.stderr.write(f"tokenbench: internal error: {type(exc).__name__}: {detail}\n")
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
