"""`tokenbench bench ...`: run the conformance suites, list suites and attached devices."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import PIN, add_secret_option, read_secret


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser("bench", help="conformance suites against emulated and real devices")
    commands = parser.add_subparsers(dest="bench_command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", help="run the suites against targets")
    run.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="URI",
        help="emu:[profile=..,state=..,fault=..], udp:HOST:PORT, hid:auto, hid:/dev/hidrawN, "
        "pcsc:auto, pcsc:READER, totp:emu, totp:manual,serial=S,pskc=FILE (repeatable)",
    )
    run.add_argument("--suite", action="append", default=[], metavar="NAME")
    run.add_argument("-k", dest="keyword", default=None, metavar="EXPR", help="pytest -k filter")
    run.add_argument("--report", type=Path, default=None, metavar="DIR")
    add_secret_option(run, PIN, metavar="PIN", why="PIN tests")
    run.add_argument("--allow-destructive", action="store_true")
    run.add_argument("-j", dest="jobs", type=int, default=1, metavar="N")
    run.set_defaults(handler=_run)

    suites = commands.add_parser("list-suites", help="the suites and what they test")
    suites.set_defaults(handler=_list_suites)
    targets = commands.add_parser("list-targets", help="attached keys and readers, URI schemes")
    targets.set_defaults(handler=_list_targets)


def _run(args: argparse.Namespace) -> int:
    from tokenbench.bench.runner import RunOptions, execute

    options = RunOptions(
        targets=args.target,
        suites=args.suite,
        keyword=args.keyword,
        report_dir=args.report,
        pin=read_secret(args, PIN),
        allow_destructive=args.allow_destructive,
        jobs=args.jobs,
    )
    summary, workdir = execute(options)
    sys.stderr.flush()
    print(workdir.resolve() / "report.html")  # the last line: where the report is
    return summary.exit_status


def _list_suites(args: argparse.Namespace) -> int:
    from tokenbench.bench.targets import SUITES, SUITES_BY_KIND

    for name, text in SUITES.items():
        kinds = ", ".join(k.value for k, suites in SUITES_BY_KIND.items() if name in suites)
        print(f"{name:10} {text} [targets: {kinds}]")
    return 0


def _list_targets(args: argparse.Namespace) -> int:
    from tokenbench.bench.targets import list_attached

    print("emu:        an emulated key in-process (emu:profile=NAME,state=FILE,fault=NAME)")
    print("udp:H:P     an emulator started with `tokenbench key emulate --udp`")
    print("totp:emu    emulated TOTP tokens minted on the fly")
    print("attached:")
    try:
        for uri, text in list_attached():
            print(f"  {uri:20} {text}")
    except OSError as exc:
        raise UserError(f"cannot enumerate devices: {exc}") from None
    return 0
