"""docs/webauthn-client.md's table says what `faults.EXPECTED` says (which the matrix test
checks against the libraries): every option, and every refusal text, appears in it."""

from __future__ import annotations

from pathlib import Path

from tokenbench.bench.webauthn.faults import EXPECTED, SERVERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "webauthn-client.md"


def table_rows() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2 + len(SERVERS):
            rows[cells[0].split()[0].strip("`")] = line
    return rows


def test_every_option_has_a_row_with_its_refusals() -> None:
    rows = table_rows()
    assert set(rows) == set(EXPECTED)
    for option, by_server in EXPECTED.items():
        for server, expected in by_server.items():
            for text in (expected.registration, expected.sign_in):
                assert text.lower() in rows[option].lower(), f"{option} at {server}: {text!r}"
