"""`tokenbench key ...`: the emulated key and tools for real keys.

Each `bench.commands.key_*` module adds its own subcommands through `register(subcommands)`,
so the emulator, attestation and real-key tools can grow independently.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import bench.commands


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("key", help="emulated and real security keys")
    subcommands = parser.add_subparsers(dest="key_command", metavar="COMMAND")
    subcommands.required = True
    for info in pkgutil.iter_modules(bench.commands.__path__):
        if info.name.startswith("key_"):
            importlib.import_module(f"bench.commands.{info.name}").register(subcommands)
