"""Counting a run's results per target, and the exit status rule.

A skip is never a pass. Skips for unclaimed features and for tests not permitted in this
run are shown apart and do not fail the run; any other skip does, as does a failure or an
error, or a run in which nothing passed at all.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tokenbench.bench.report_records import (
    SKIP_NOT_PERMITTED,
    SKIP_OTHER,
    SKIP_UNCLAIMED,
    TestRecord,
)

COLUMNS = ("passed", "failed", "error", "unclaimed", "not permitted", "other skips")


@dataclass
class TargetCounts:
    target: str
    passed: int = 0
    failed: int = 0
    error: int = 0
    unclaimed: int = 0
    not_permitted: int = 0
    other_skips: int = 0
    seconds: float = 0.0

    def add(self, record: TestRecord) -> None:
        self.seconds += record.duration
        if record.outcome == "skipped":
            if record.skip_kind == SKIP_UNCLAIMED:
                self.unclaimed += 1
            elif record.skip_kind == SKIP_NOT_PERMITTED:
                self.not_permitted += 1
            else:
                self.other_skips += 1
        elif record.outcome == "passed":
            self.passed += 1
        elif record.outcome == "failed":
            self.failed += 1
        else:
            self.error += 1

    @property
    def row(self) -> tuple[int, ...]:
        return (
            self.passed,
            self.failed,
            self.error,
            self.unclaimed,
            self.not_permitted,
            self.other_skips,
        )

    @property
    def ok(self) -> bool:
        return self.passed > 0 and not (self.failed or self.error or self.other_skips)


@dataclass
class Summary:
    targets: dict[str, TargetCounts] = field(default_factory=dict)
    failures: list[TestRecord] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # target -> why it did not run

    @property
    def ok(self) -> bool:
        return bool(self.targets) and not self.problems and all(t.ok for t in self.targets.values())

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    def lines(self) -> list[str]:
        width = max([len(t) for t in self.targets] + [6])
        head = f"{'target':<{width}}  " + "  ".join(f"{c:>13}" for c in COLUMNS)
        out = [head]
        for counts in self.targets.values():
            cells = "  ".join(f"{v:>13}" for v in counts.row)
            out.append(f"{counts.target:<{width}}  {cells}")
        for uri, problem in self.problems.items():
            out.append(f"{uri}: did not run: {problem}")
        for record in self.failures:
            out.append(f"{record.outcome.upper():7} {record.nodeid}: {record.message}")
        out.append("result: " + ("PASS" if self.ok else "FAIL"))
        return out


def summarize(records: Iterable[TestRecord]) -> Summary:
    summary = Summary()
    for record in records:
        counts = summary.targets.setdefault(record.target, TargetCounts(record.target))
        counts.add(record)
        if record.outcome in ("failed", "error") or (
            record.outcome == "skipped" and record.skip_kind == SKIP_OTHER
        ):
            summary.failures.append(record)
    return summary


def command_latencies(records: Iterable[TestRecord]) -> dict[str, list[float]]:
    """Every timed CTAP command's latencies (seconds), by command name."""
    by_command: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for timing in record.commands:
            by_command[timing.command].append(timing.seconds)
    return dict(by_command)


def latency_table(records: Iterable[TestRecord]) -> list[tuple[str, int, float, float, float]]:
    """(command, count, median ms, p95 ms, max ms), most frequent first."""
    rows = []
    for name, values in command_latencies(records).items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        rows.append(
            (name, len(values), statistics.median(values) * 1e3, p95 * 1e3, ordered[-1] * 1e3)
        )
    return sorted(rows, key=lambda r: (-r[1], r[0]))
