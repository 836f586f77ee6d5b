"""Writing a run's reports: JSON (every test, its outcome, duration and CTAP latencies),
JUnit XML (pytest's own, one file per target, already written by the children), and a
self-contained HTML page (`report_html`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenbench.bench.device_identity import tokenbench_version, unavailable
from tokenbench.bench.report_summary import Summary, latency_table
from tokenbench.emulators.private_file import PUBLIC_FILE_MODE, write_private_file

JSON_NAME = "results.json"
HTML_NAME = "report.html"
FORMAT_VERSION = 1


def results_document(runs: list[Any], summary: Summary, elapsed: float) -> dict[str, Any]:
    targets = []
    for run in runs:
        counts = summary.targets.get(run.target.uri)
        targets.append(
            {
                "uri": run.target.uri,
                "kind": str(run.target.kind),
                "emulated": run.target.emulated,
                "device": run.identity
                or unavailable(run.target.uri, run.problem or "no test ran against it"),
                "junit": run.junit_path.name if run.junit_path.exists() else None,
                "problem": run.problem or None,
                "counts": None
                if counts is None
                else dict(
                    zip(
                        ("passed", "failed", "error", "unclaimed", "not_permitted", "other_skips"),
                        counts.row,
                        strict=True,
                    )
                ),
                "ok": bool(counts and counts.ok and not run.problem),
                "latency_ms": [
                    dict(zip(("command", "count", "median", "p95", "max"), row, strict=True))
                    for row in latency_table(run.records)
                ],
                "tests": [r.to_dict() for r in run.records],
            }
        )
    return {
        "format": FORMAT_VERSION,
        "tokenbench_version": tokenbench_version(),
        "ok": summary.ok,
        "seconds": round(elapsed, 3),
        "skip_rule": "skips are never passes; unclaimed and not-permitted skips do not fail "
        "the run, any other skip does",
        "targets": targets,
    }


def _atomic_write(path: Path, text: str) -> None:
    """Through the private-file writer (no guessable temporary name), readable by others."""
    write_private_file(path, text.encode("utf-8"), mode=PUBLIC_FILE_MODE, make_parents=False)


def write_reports(workdir: Path, runs: list[Any], summary: Summary, elapsed: float) -> Path:
    """Write results.json and report.html into `workdir`; returns the HTML path."""
    from tokenbench.bench.report_html import render_html

    document = results_document(runs, summary, elapsed)
    _atomic_write(workdir / JSON_NAME, json.dumps(document, indent=1))
    html_path = workdir / HTML_NAME
    _atomic_write(html_path, render_html(document))
    for run in runs:
        run.json_path.unlink(missing_ok=True)
        run.events_path.unlink(missing_ok=True)
    return html_path
