"""`tokenbench bench ...`: run the conformance suites, list suites and attached devices."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tokenbench.bench.errors import UserError
from tokenbench.bench.rig_hooks import add_hook_options, hooks_from_args
from tokenbench.bench.secret_input import PIN, add_secret_option, read_secret

EXIT_DIFF_TROUBLE = 2  # `bench diff` could not read a run (1 means: a new failure)


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
        "hid:serial=S, pcsc:auto, pcsc:READER, pcsc:serial=S, totp:emu, "
        "totp:manual,serial=S,pskc=FILE (repeatable)",
    )
    add_hook_options(run)  # --power-cycle-cmd/--touch-cmd: for the --target just before them
    run.add_argument("--suite", action="append", default=[], metavar="NAME")
    run.add_argument("-k", dest="keyword", default=None, metavar="EXPR", help="pytest -k filter")
    run.add_argument("--report", type=Path, default=None, metavar="DIR")
    add_secret_option(run, PIN, metavar="PIN", why="PIN tests")
    run.add_argument("--allow-destructive", action="store_true")
    run.add_argument("-j", dest="jobs", type=int, default=1, metavar="N")
    run.add_argument(
        "--mds", type=Path, default=None, metavar="FILE", help="MDS3 blob or statement: model name"
    )
    run.add_argument("--mds-root", type=Path, default=None, metavar="CERT", help="--mds's root")
    run.set_defaults(handler=_run)

    diff = commands.add_parser(
        "diff", help="what changed between two runs (exit 1 on a new failure)"
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="report directory or results.json")
    diff.add_argument("new", type=Path, metavar="NEW", help="report directory or results.json")
    diff.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="PERCENT",
        help="list commands whose median latency moved by more than this (default 20)",
    )
    diff.add_argument("--json", action="store_true", help="the differences as JSON")
    diff.set_defaults(handler=_diff)

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
        mds=args.mds,
        mds_root=args.mds_root,
        hooks=hooks_from_args(args),
    )
    summary, workdir = execute(options)
    sys.stderr.flush()
    print(workdir.resolve() / "report.html")  # the last line: where the report is
    return summary.exit_status


def _diff(args: argparse.Namespace) -> int:
    """0: no new failure; 1: a new failure; 2: the runs could not be read (as diff(1) does)."""
    from tokenbench.bench.report_diff import DEFAULT_THRESHOLD, diff_runs, load_results

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    try:
        result = diff_runs(load_results(args.old), load_results(args.new), threshold)
    except UserError as exc:
        from tokenbench.bench.cli import one_line

        print(f"tokenbench: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_DIFF_TROUBLE
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print("\n".join(result.lines()))
    return result.exit_status


def _list_suites(args: argparse.Namespace) -> int:
    from tokenbench.bench.targets import SUITES, SUITES_BY_KIND

    for name, text in SUITES.items():
        kinds = ", ".join(k.value for k, suites in SUITES_BY_KIND.items() if name in suites)
        print(f"{name:10} {text} [targets: {kinds}]")
    return 0


def _list_targets(args: argparse.Namespace) -> int:
    from tokenbench.bench.targets_attached import list_attached

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
