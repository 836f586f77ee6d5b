"""`tokenbench key ...`: the emulated key and tools for real keys.

Each `bench.commands.key_*` module adds its own subcommands through `register(subcommands)`,
so the emulator, attestation and real-key tools can grow independently.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from tokenbench.bench import commands


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser("key", help="emulated and real security keys")
    subcommands = parser.add_subparsers(dest="key_command", metavar="COMMAND")
    subcommands.required = True
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("key_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(subcommands)
