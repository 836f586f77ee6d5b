"""The self-contained HTML report: inline CSS and inline SVG charts, no external assets,
so the page can be mailed or archived as one file and opened offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tokenbench.bench.device_identity import shown

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;text-align:left;
border-bottom:1px solid #eee;font-size:.9em}th{background:#f4f4f4}
.passed{color:#1a7f37}.failed,.error{color:#cf222e;font-weight:bold}.skipped{color:#9a6700}
.ok{background:#dafbe1;padding:2px 8px}.bad{background:#ffebe9;padding:2px 8px}
.msg{color:#555;font-family:monospace;font-size:.8em}svg text{font-size:11px}
table.device td{font-family:monospace;word-break:break-all}table.device{max-width:100%}
"""
BAR_HEIGHT = 16
CHART_WIDTH = 640
LABEL_WIDTH = 190


def _latency_chart(rows: list[dict[str, Any]]) -> str:
    """Horizontal bars: median latency per command, with a p95 whisker."""
    if not rows:
        return "<p>No CTAP commands were timed.</p>"
    scale_max = max(r["p95"] for r in rows) or 1.0
    span = CHART_WIDTH - LABEL_WIDTH - 90
    height = (BAR_HEIGHT + 6) * len(rows) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        'role="img" aria-label="median CTAP command latency">'
    ]
    for i, row in enumerate(rows):
        y = 4 + i * (BAR_HEIGHT + 6)
        median_w = max(1.0, span * row["median"] / scale_max)
        p95_x = LABEL_WIDTH + span * row["p95"] / scale_max
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 12}" text-anchor="end">'
            f"{escape(row['command'])} (n={row['count']})</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{median_w:.1f}" height="{BAR_HEIGHT}" '
            'fill="#4c8eda"/>'
            f'<line x1="{LABEL_WIDTH + median_w:.1f}" x2="{p95_x:.1f}" y1="{y + 8}" '
            f'y2="{y + 8}" stroke="#333"/>'
            f'<line x1="{p95_x:.1f}" x2="{p95_x:.1f}" y1="{y + 3}" y2="{y + 13}" stroke="#333"/>'
            f'<text x="{p95_x + 6:.1f}" y="{y + 12}">{row["median"]:.2f} ms '
            f"(p95 {row['p95']:.2f})</text>"
        )
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{height - 4}">bar: median; whisker: 95th percentile</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _outcome_chart(counts: dict[str, int]) -> str:
    """One stacked bar of outcomes; skips drawn apart from passes."""
    colors = {
        "passed": "#2da44e",
        "failed": "#cf222e",
        "error": "#8250df",
        "unclaimed": "#d4a72c",
        "not_permitted": "#bf8700",
        "other_skips": "#fb8f44",
    }
    total = sum(counts.values()) or 1
    x = 0.0
    width = CHART_WIDTH - 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="44">']
    legend_x = 0
    for name, color in colors.items():
        value = counts.get(name, 0)
        w = width * value / total
        if value:
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="18" fill="{color}">'
                f"<title>{name}: {value}</title></rect>"
            )
        x += w
        parts.append(
            f'<rect x="{legend_x}" y="26" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="35">{name} {value}</text>'
        )
        legend_x += 105
    parts.append("</svg>")
    return "".join(parts)


def _device_block(identity: dict[str, Any] | None) -> str:
    """The header block: which device (model, AAGUID, firmware, USB ids, reader) answered."""
    if not identity:
        return ""
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>"
        for _, label, text in shown(identity)
    )
    return f'<table class="device" aria-label="device identity">{rows}</table>'


def _tests_table(tests: list[dict[str, Any]]) -> str:
    rows = []
    for test in tests:
        outcome = test["outcome"]
        label = outcome if outcome != "skipped" else f"skipped ({test['skip_kind']})"
        commands = len(test.get("commands", []))
        rows.append(
            f"<tr><td>{escape(test['suite'])}</td><td>{escape(test['name'])}</td>"
            f'<td class="{escape(outcome)}">{escape(label)}</td>'
            f"<td>{test['duration'] * 1e3:.1f} ms</td><td>{commands}</td>"
            f'<td class="msg">{escape(test.get("message", ""))}</td></tr>'
        )
    return (
        "<table><tr><th>suite</th><th>test</th><th>outcome</th><th>duration</th>"
        "<th>CTAP calls</th><th>message</th></tr>" + "".join(rows) + "</table>"
    )


def render_html(document: dict[str, Any]) -> str:
    verdict = "PASS" if document["ok"] else "FAIL"
    sections = []
    for target in document["targets"]:
        status = '<span class="ok">ok</span>' if target["ok"] else '<span class="bad">FAIL</span>'
        body = [f"<h2>{escape(target['uri'])} {status}</h2>"]
        body.append(_device_block(target.get("device")))
        if target["problem"]:
            body.append(f'<p class="bad">did not run: {escape(target["problem"])}</p>')
        if target["counts"]:
            body.append(_outcome_chart(target["counts"]))
        if target["latency_ms"]:
            body.append("<h3>CTAP command latency</h3>")
            body.append(_latency_chart(target["latency_ms"]))
        body.append(_tests_table(target["tests"]))
        sections.append("".join(body))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>tokenbench report: {verdict}</title><style>{CSS}</style></head><body>"
        f"<h1>tokenbench conformance report: "
        f'<span class="{"ok" if document["ok"] else "bad"}">{verdict}</span></h1>'
        f"<p>{len(document['targets'])} target(s), {document['seconds']:.1f} s, "
        f"tokenbench {escape(str(document.get('tokenbench_version', 'unknown')))}. "
        f"{escape(document['skip_rule'])}.</p>" + "".join(sections) + "</body></html>"
    )
