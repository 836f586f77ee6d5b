"""`tokenbench bench diff OLD NEW`: what changed between two runs' results.json.

A lab re-runs the suites after a firmware update, or runs a second model of key, and wants
the differences, not two reports side by side: tests whose outcome changed, CTAP commands
whose median latency moved by more than a threshold, and the device identity members that
differ (so a changed AAGUID or firmwareVersion explains the rest). A new failure (a test
that fails, errors or is skipped for no accepted reason in NEW but did not in OLD, or a
target that no longer runs) makes the exit status 1; everything else is information.

Targets are paired by URI, and the ones left over in order (so `emu:` pairs with
`emu:profile=ctap20`); tests by module and name without the target parameter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tokenbench.bench.device_identity import FIELDS, shown
from tokenbench.bench.errors import UserError
from tokenbench.bench.report_records import SKIP_OTHER
from tokenbench.bench.report_write import JSON_NAME

DEFAULT_THRESHOLD = 20.0  # percent change in a command's median latency worth listing
ABSENT = "absent"
DID_NOT_RUN = "did not run"
BAD_OUTCOMES = frozenset({"failed", "error"})
IDENTITY_IGNORED = frozenset({"target", "tokenbench_version"})  # differ by design, shown apart
LONG_MEMBERS = frozenset({"get_info_hex"})  # the text output says "differs"; JSON has both
LABELS = dict(FIELDS)


@dataclass(frozen=True)
class OutcomeChange:
    target: str
    test: str
    old: str
    new: str
    new_failure: bool
    message: str = ""


@dataclass(frozen=True)
class LatencyChange:
    target: str
    command: str
    old_ms: float
    new_ms: float

    @property
    def percent(self) -> float:
        return (self.new_ms - self.old_ms) / self.old_ms * 100.0


@dataclass(frozen=True)
class IdentityChange:
    target: str
    member: str
    old: str
    new: str


@dataclass
class RunDiff:
    threshold: float
    pairs: list[tuple[str, str]] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    versions: tuple[str, str] = ("", "")
    identity: list[IdentityChange] = field(default_factory=list)
    outcomes: list[OutcomeChange] = field(default_factory=list)
    latency: list[LatencyChange] = field(default_factory=list)

    @property
    def new_failures(self) -> list[OutcomeChange]:
        return [c for c in self.outcomes if c.new_failure]

    @property
    def exit_status(self) -> int:
        return 1 if self.new_failures else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, change in zip(data["latency"], self.latency, strict=True):
            row["percent"] = round(change.percent, 1)
        data["new_failures"] = len(self.new_failures)
        return data

    def lines(self) -> list[str]:
        out = [f"targets: {old} -> {new}" for old, new in self.pairs]
        out += [f"not compared: {note}" for note in self.unpaired]
        if self.versions[0] != self.versions[1]:
            out.append(f"tokenbench: {self.versions[0]} -> {self.versions[1]}")
        for c in self.identity:
            change = "differs" if c.member in LONG_MEMBERS else f"{c.old} -> {c.new}"
            out.append(f"device {c.target}: {LABELS.get(c.member, c.member)}: {change}")
        for o in self.outcomes:
            head = "NEW FAILURE" if o.new_failure else "changed"
            tail = f"  ({o.message})" if o.message else ""
            out.append(f"{head} {o.target} {o.test}: {o.old} -> {o.new}{tail}")
        for lat in self.latency:
            out.append(
                f"latency {lat.target} {lat.command}: median {lat.old_ms:.2f} ms -> "
                f"{lat.new_ms:.2f} ms ({lat.percent:+.0f}%)"
            )
        out.append(
            f"result: {len(self.outcomes)} outcome change(s), {len(self.new_failures)} new "
            f"failure(s), {len(self.latency)} median latency move(s) over {self.threshold:g}%"
        )
        return out


def load_results(path: Path) -> dict[str, Any]:
    """A report directory's results.json, or the file itself; one UserError line if not."""
    file = path / JSON_NAME if path.is_dir() else path
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{file} is not JSON: {str(exc).splitlines()[0]}") from None
    return check_results(document, str(file))


def check_results(document: object, name: str) -> dict[str, Any]:
    """The document if it has the shape `diff_runs` reads (targets, each with its tests)."""
    targets = document.get("targets") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(targets, list):
        raise UserError(f"{name} is not a tokenbench results.json (no list of targets)")
    for target in targets:
        if not (
            isinstance(target, dict)
            and isinstance(target.get("uri"), str)
            and isinstance(target.get("tests"), list)
            and all(isinstance(test, dict) for test in target["tests"])
        ):
            raise UserError(f"{name} is not a tokenbench results.json (a target without tests)")
    return document


def outcome_label(test: dict[str, Any]) -> str:
    outcome = str(test.get("outcome", "?"))
    return f"skipped ({test.get('skip_kind') or SKIP_OTHER})" if outcome == "skipped" else outcome


def is_bad(test: dict[str, Any] | None) -> bool:
    """Counts against a run: a failure, an error, or a skip for no accepted reason."""
    if test is None:
        return False
    outcome = str(test.get("outcome"))
    return outcome in BAD_OUTCOMES or (
        outcome == "skipped" and str(test.get("skip_kind") or SKIP_OTHER) == SKIP_OTHER
    )


def test_key(test: dict[str, Any]) -> str:
    """Module and name without the target parameter: the same test against another target."""
    module = str(test.get("nodeid", "")).split("::")[0].rsplit("/", 1)[-1]
    return f"{module}::{test.get('name', '?')}"


def pair_targets(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[str]]:
    """Same URI first, then the leftovers in order; what stays unpaired is named."""
    new_by_uri = {t["uri"]: t for t in new}
    pairs = [(t, new_by_uri[t["uri"]]) for t in old if t["uri"] in new_by_uri]
    paired = {t["uri"] for t, _ in pairs}
    old_left = [t for t in old if t["uri"] not in paired]
    new_left = [t for t in new if t["uri"] not in paired]
    pairs += list(zip(old_left, new_left, strict=False))
    unpaired = [f"{t['uri']} (only in OLD)" for t in old_left[len(new_left) :]]
    unpaired += [f"{t['uri']} (only in NEW)" for t in new_left[len(old_left) :]]
    return pairs, unpaired


def _label(target: dict[str, Any], other: dict[str, Any]) -> str:
    old_uri, new_uri = target["uri"], other["uri"]
    return str(old_uri) if old_uri == new_uri else f"[{old_uri} vs {new_uri}]"


def _outcomes(old: dict[str, Any], new: dict[str, Any], where: str) -> list[OutcomeChange]:
    if new.get("problem") and not old.get("problem"):
        return [OutcomeChange(where, "(target)", "ran", DID_NOT_RUN, True, str(new["problem"]))]
    old_tests = {test_key(t): t for t in old["tests"]}
    new_tests = {test_key(t): t for t in new["tests"]}
    changes = []
    for key in [*old_tests, *(k for k in new_tests if k not in old_tests)]:
        before, after = old_tests.get(key), new_tests.get(key)
        old_text = outcome_label(before) if before else ABSENT
        new_text = outcome_label(after) if after else ABSENT
        if old_text == new_text:
            continue
        failure = is_bad(after) and not is_bad(before)
        message = str(after.get("message", "")) if after and failure else ""
        changes.append(OutcomeChange(where, key, old_text, new_text, failure, message))
    return changes


def _medians(target: dict[str, Any]) -> dict[str, float]:
    rows = target.get("latency_ms")
    return {
        str(row.get("command")): float(row["median"])
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict) and isinstance(row.get("median"), int | float)
    }


def _latency(
    old: dict[str, Any], new: dict[str, Any], where: str, threshold: float
) -> list[LatencyChange]:
    before, after = _medians(old), _medians(new)
    moved = [
        LatencyChange(where, name, before[name], after[name])
        for name in before
        if name in after and before[name] > 0
    ]
    return [m for m in moved if abs(m.percent) > threshold]


def _device(target: dict[str, Any]) -> dict[str, Any]:
    device = target.get("device")
    return device if isinstance(device, dict) else {}


def _identity(old: dict[str, Any], new: dict[str, Any], where: str) -> list[IdentityChange]:
    before = {k: text for k, _, text in shown(_device(old))}
    after = {k: text for k, _, text in shown(_device(new))}
    changes = []
    for key, _ in FIELDS:
        if key not in IDENTITY_IGNORED and before.get(key) != after.get(key):
            changes.append(IdentityChange(where, key, before.get(key, "-"), after.get(key, "-")))
    return changes


def diff_runs(
    old: dict[str, Any], new: dict[str, Any], threshold: float = DEFAULT_THRESHOLD
) -> RunDiff:
    if threshold < 0:
        raise UserError("the latency threshold must not be negative")
    pairs, unpaired = pair_targets(old["targets"], new["targets"])
    result = RunDiff(
        threshold,
        [(a["uri"], b["uri"]) for a, b in pairs],
        unpaired,
        (str(old.get("tokenbench_version", "?")), str(new.get("tokenbench_version", "?"))),
    )
    for before, after in pairs:
        where = _label(before, after)
        result.identity += _identity(before, after, where)
        result.outcomes += _outcomes(before, after, where)
        result.latency += _latency(before, after, where, threshold)
    return result
