"""What the `key pin|config|make-credential|get-assertion` commands share: the target, `--json`,
the PIN options, and one way to print a result.

Not a `key_*` module, so `commands/key.py` does not register it as a verb.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fido2.ctap import CtapDevice
from fido2.ctap2 import Ctap2
from fido2.hid import ConnectionFailure

from tokenbench.bench.commands import key_tools
from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import PIN, add_secret_option
from tokenbench.bench.targets import KeyTarget


def add_key_arguments(parser: argparse.ArgumentParser, *, pin_why: str | None = None) -> None:
    """--target and --json; the PIN options too when `pin_why` says what the PIN is for."""
    key_tools.add_target_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    if pin_why is not None:
        add_secret_option(parser, PIN, metavar="PIN", why=pin_why)


@contextmanager
def key_session(uri: str) -> Iterator[tuple[KeyTarget, CtapDevice, Ctap2]]:
    """The target, its device and a CTAP2 session, released when the block ends.

    A key that breaks the transport or answers CBOR python-fido2 cannot parse (a faulty or
    a hostile one) is one line naming the target, not an internal error.
    """
    from tokenbench.bench.keytools.device_ops import open_ctap2

    try:
        with key_tools.open_target(uri) as (target, device):
            yield target, device, open_ctap2(device)
    except ConnectionFailure as exc:
        raise UserError(f"lost {uri}: {exc}") from None
    except (ValueError, IndexError) as exc:  # python-fido2's CBOR and structure decoding
        raise UserError(f"{uri} answered something that does not parse: {exc}") from None


def report(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> int:
    """`--json`: one object (with the target); otherwise the human lines."""
    if args.json:
        sys.stdout.write(json.dumps({"target": args.target, **data}, sort_keys=True) + "\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0
