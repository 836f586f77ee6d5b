"""`tokenbench iam ...`."""

from __future__ import annotations

import argparse


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("iam", help="iam commands (not yet available)")
    parser.set_defaults(handler=lambda args: parser.error("no iam commands yet"))
