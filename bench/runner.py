"""`tokenbench bench run`: the suites against one or more targets, one pytest process each.

Each target runs in its own pytest subprocess (so a crashing or hanging device cannot take
the others down, and independent targets run in parallel with `-j`). The child writes its
results as JSON through the plugin (`--bench-json`) and a line per finished test
(`--bench-events`), which the runner follows to draw its progress bars. Targets that need
a person (real keys without rig hooks, manual TOTP tokens) run one at a time, attached to the
terminal, after the unattended ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenbench.bench.device_identity import one_line
from tokenbench.bench.errors import UserError
from tokenbench.bench.pytest_entry import SUITES_DIR
from tokenbench.bench.report_records import TestRecord
from tokenbench.bench.report_summary import COLUMNS, Summary, latency_table, summarize
from tokenbench.bench.rig_hooks import RigHooks
from tokenbench.bench.secret_input import PIN_ENV
from tokenbench.bench.targets import SUITES, KeyTarget, Target, attach_hooks, parse_target

POLL_SECONDS = 0.1
EXIT_NO_TESTS = 5  # pytest: nothing collected
TARGET_TIMEOUT = 600.0


@dataclass
class RunOptions:
    targets: Sequence[str]
    suites: Sequence[str] = ()
    keyword: str | None = None
    report_dir: Path | None = None
    pin: str | None = None
    allow_destructive: bool = False
    jobs: int = 1
    extra_pytest_args: Sequence[str] = ()
    hooks: Sequence[RigHooks] = ()  # per target, in order: a rig's commands for a real key
    mds: Path | None = None  # MDS3 blob or statement naming the model by AAGUID
    mds_root: Path | None = None


@dataclass
class TargetRun:
    index: int
    target: Target
    workdir: Path
    interactive: bool
    returncode: int | None = None
    records: list[TestRecord] = field(default_factory=list)
    problem: str = ""
    identity: dict[str, Any] | None = None  # device_identity, as the child read it

    @property
    def slug(self) -> str:
        clean = re.sub(r"[^A-Za-z0-9]+", "-", self.target.uri).strip("-")
        return f"{self.index:02d}-{clean or 'target'}"[:60]

    @property
    def json_path(self) -> Path:
        return self.workdir / f"results-{self.slug}.json"

    @property
    def events_path(self) -> Path:
        return self.workdir / f"events-{self.slug}.jsonl"

    @property
    def junit_path(self) -> Path:
        return self.workdir / f"junit-{self.slug}.xml"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"pytest-{self.slug}.log"


def validate(options: RunOptions) -> list[Target]:
    """Check every argument before anything runs: one UserError line for the first problem."""
    if not options.targets:
        raise UserError("no target given (e.g. --target emu: --target totp:emu)")
    unknown = [s for s in options.suites if s not in SUITES]
    if unknown:
        raise UserError(f"unknown suite {unknown[0]!r} (known: {', '.join(SUITES)})")
    if options.jobs < 1:
        raise UserError("-j must be at least 1")
    if options.mds is not None:  # a bad file is one line now, not a note per target later
        from tokenbench.bench.keytools.mds import load_models

        load_models(options.mds, options.mds_root)
    elif options.mds_root is not None:
        raise UserError("--mds-root needs --mds")
    targets = [parse_target(uri) for uri in options.targets]
    for target, hooks in zip(targets, options.hooks, strict=False):
        attach_hooks(target, hooks)
    for target in targets:
        if options.suites and not set(options.suites) & set(target.suites):
            raise UserError(
                f"no selected suite applies to {target.uri} (it takes: {', '.join(target.suites)})"
            )
    return targets


def pytest_command(run: TargetRun, options: RunOptions) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITES_DIR),
        # The suites' own settings and the package root as rootdir: the repository or project
        # the bench is started from (its pytest config, its tests/ conftest) must not leak in.
        "-c",
        str(SUITES_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITES_DIR.parents[1]),
        "--target",
        run.target.uri,
        "--bench-json",
        str(run.json_path),
        "--bench-events",
        str(run.events_path),
        f"--junitxml={run.junit_path}",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "-q" if run.interactive else "-qq",
        "-rfE",
    ]
    for suite in options.suites:
        args += ["--bench-suite", suite]
    if options.keyword:
        args += ["-k", options.keyword]
    if options.allow_destructive:
        args.append("--allow-destructive")
    if isinstance(run.target, KeyTarget):
        args += run.target.hooks.pytest_args()
    if options.mds is not None:
        args += ["--bench-mds", str(options.mds.resolve())]
        if options.mds_root is not None:
            args += ["--bench-mds-root", str(options.mds_root.resolve())]
    if run.interactive:
        args.append("-s")  # prompts must reach the person
    args += list(options.extra_pytest_args)
    return args


def _count_events(path: Path) -> tuple[int | None, int]:
    if not path.exists():
        return None, 0
    total, done = None, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line still being written
        if "collected" in event:
            total = int(event["collected"])
        elif "outcome" in event:
            done += 1
    return total, done


def preflight(target: Target) -> str:
    """Why a device target cannot be reached (empty when it can): checked once, up front,
    so that a missing key is one line instead of an error per test."""
    from tokenbench.bench.targets import EmulatedKeyTarget, KeyTarget

    if not isinstance(target, KeyTarget) or isinstance(target, EmulatedKeyTarget):
        return ""
    try:
        target.device()
    except UserError as exc:
        return str(exc)
    finally:
        target.close()
    return ""


def _child_environment(options: RunOptions) -> dict[str, str]:
    """The PIN travels in the environment, never on a command line others can read."""
    env = dict(os.environ)
    if options.pin:
        env[PIN_ENV] = options.pin
    return env


def _run_one(run: TargetRun, options: RunOptions, cwd: Path) -> None:
    run.problem = preflight(run.target)
    if run.problem:
        return
    command = pytest_command(run, options)
    env = _child_environment(options)
    if run.interactive:
        completed = subprocess.run(command, cwd=cwd, env=env, timeout=None, check=False)
    else:
        with run.log_path.open("w") as log:
            completed = subprocess.run(
                command,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=TARGET_TIMEOUT,
                check=False,
            )
    run.returncode = completed.returncode
    if run.json_path.exists():
        data = json.loads(run.json_path.read_text())
        run.records = [TestRecord.from_dict(t) for t in data["tests"]]
        run.identity = data.get("identities", {}).get(run.target.uri)
    if completed.returncode == EXIT_NO_TESTS or (completed.returncode != 0 and not run.records):
        run.problem = _last_error_line(run) or f"pytest exited {completed.returncode}"


def _last_error_line(run: TargetRun) -> str:
    if not run.log_path.exists():
        return ""
    lines = [ln.strip() for ln in run.log_path.read_text(errors="replace").splitlines()]
    for line in reversed(lines):
        if "error" in line.lower() and line:
            return line[:300]
    return next((ln for ln in reversed(lines) if ln), "")[:300]


def execute(options: RunOptions, console: Console | None = None) -> tuple[Summary, Path]:
    """Run every target; returns the summary and the directory holding the reports."""
    console = console or Console(stderr=True)
    targets = validate(options)
    if options.report_dir is not None:
        workdir = Path(options.report_dir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="tokenbench-report-"))
    runs = [
        TargetRun(i, t, workdir, interactive=not t.unattended) for i, t in enumerate(targets, 1)
    ]
    for run in runs:
        for path in (run.json_path, run.events_path, run.junit_path):
            path.unlink(missing_ok=True)
    cwd = Path.cwd()
    started = time.perf_counter()
    automatic = [r for r in runs if not r.interactive]
    _run_with_progress(automatic, options, cwd, console)
    for run in (r for r in runs if r.interactive):
        console.print(f"[bold]{escape(run.target.uri)}[/]: this target needs you at the device")
        _run_one(run, options, cwd)
    elapsed = time.perf_counter() - started
    records = [rec for run in runs for rec in run.records]
    summary = summarize(records)
    for run in runs:
        if run.problem:
            summary.targets.pop(run.target.uri, None)
            summary.problems[run.target.uri] = run.problem
    from tokenbench.bench.report_write import write_reports

    write_reports(workdir, runs, summary, elapsed)
    for run in runs:
        if run.identity is not None:
            line = f"device {escape(run.target.uri)} {escape(one_line(run.identity))}"
            console.print(line, soft_wrap=True)  # one line per device, for grep
    print_summary(console, summary, records, elapsed)
    return summary, workdir


def _run_with_progress(
    runs: list[TargetRun], options: RunOptions, cwd: Path, console: Console
) -> None:
    if not runs:
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks = {r.index: progress.add_task(r.target.uri, total=None) for r in runs}
    finished = threading.Event()

    def follow() -> None:
        while not finished.wait(POLL_SECONDS):
            for run in runs:
                total, done = _count_events(run.events_path)
                progress.update(tasks[run.index], total=total, completed=done)

    with progress:
        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(max_workers=options.jobs) as pool:
            list(pool.map(lambda r: _run_one(r, options, cwd), runs))
        finished.set()
        watcher.join()
        for run in runs:
            total, done = _count_events(run.events_path)
            progress.update(tasks[run.index], total=total or done, completed=done)


def print_summary(
    console: Console, summary: Summary, records: list[TestRecord], elapsed: float
) -> None:
    table = Table(title=f"tokenbench results ({elapsed:.1f} s) — skips are never passes")
    table.add_column("target", no_wrap=True)
    for column in COLUMNS:
        table.add_column(column, justify="right", min_width=len(column.split()[0]))
    for counts in summary.targets.values():
        style = "green" if counts.ok else "red"
        table.add_row(f"[{style}]{escape(counts.target)}[/]", *(str(v) for v in counts.row))
    console.print(table)
    for uri, problem in summary.problems.items():
        console.print(f"[red]{escape(uri)}: did not run: {escape(problem)}[/]")
    for record in summary.failures:
        where = escape(record.nodeid.removeprefix("bench/suites/"))
        console.print(f"[red]{record.outcome.upper()}[/] {where}: {escape(record.message)}")
    latencies = latency_table(records)
    if latencies:
        lat = Table(title="CTAP command latency (ms)")
        for column in ("command", "count", "median", "p95", "max"):
            lat.add_column(column, justify="left" if column == "command" else "right")
        for name, count, median, p95, worst in latencies:
            lat.add_row(name, str(count), f"{median:.2f}", f"{p95:.2f}", f"{worst:.2f}")
        console.print(lat)
    verdict = "[green]PASS[/]" if summary.ok else "[red]FAIL[/]"
    console.print(f"result: {verdict}")
