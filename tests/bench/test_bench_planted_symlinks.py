"""Issue 14 #6: no writer of a user's files follows a symlink planted at a guessable temp path.

The attack: in a world-writable directory, another user plants `<name>.tmp` or `.<name>.tmp`
(the old temporary names of the trace log, the reports and `key attestation-ca`) as a symlink
to a victim file; the writer must leave the victim untouched. Every writer goes through
`emulators.private_file` (a random O_EXCL name from mkstemp, fsync, rename).
"""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tokenbench.bench.cli import main
from tokenbench.bench.keytools.trace import TraceLog
from tokenbench.bench.report_summary import Summary
from tokenbench.bench.report_write import HTML_NAME, JSON_NAME, write_reports
from tokenbench.emulators.clock import MonotonicClock

VICTIM_TEXT = b"the victim's own content\n"


def _trace_log(directory: Path) -> list[Path]:
    log = TraceLog(io.StringIO(), directory / "trace.json", MonotonicClock())
    log.start_file()
    log.message("host->key", "CBOR", {"command": "getInfo"})
    return [directory / "trace.json"]


def _reports(directory: Path) -> list[Path]:
    write_reports(directory, [], Summary(), 0.5)
    return [directory / JSON_NAME, directory / HTML_NAME]


def _attestation_ca(directory: Path) -> list[Path]:
    assert main(["key", "attestation-ca", "--out", str(directory)]) == 0
    return [directory / "root-ca.pem", directory / "metadata-statement.json"]


def _app_file(directory: Path) -> list[Path]:
    uri = "otpauth://totp/Plant:alice?secret=JBSWY3DPEHPK3PXP&issuer=Plant"
    assert main(["totp", "app", "add", "--app", str(directory / "app.json"), uri]) == 0
    return [directory / "app.json"]


WRITERS: dict[str, tuple[Callable[[Path], list[Path]], list[str], int]] = {
    # name: (writer, file names it writes, their mode)
    "trace log": (_trace_log, ["trace.json"], 0o600),
    "reports": (_reports, [JSON_NAME, HTML_NAME], 0o644),
    "attestation-ca": (_attestation_ca, ["root-ca.pem", "metadata-statement.json"], 0o644),
    "app file": (_app_file, ["app.json"], 0o600),
}


@pytest.mark.parametrize("writer_name", sorted(WRITERS))
def test_a_symlink_at_the_old_temp_path_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer_name: str
) -> None:
    monkeypatch.setenv("TOKENBENCH_HOME", str(tmp_path / "home"))
    writer, names, mode = WRITERS[writer_name]
    shared = tmp_path / "shared"  # stands for /tmp: anyone may plant names here
    shared.mkdir()
    victims = []
    for index, name in enumerate(names):
        for planted in (f"{name}.tmp", f".{name}.tmp"):
            victim = tmp_path / f"victim-{index}-{planted.lstrip('.')}"
            victim.write_bytes(VICTIM_TEXT)
            (shared / planted).symlink_to(victim)
            victims.append(victim)
    written = writer(shared)
    for victim in victims:
        assert victim.read_bytes() == VICTIM_TEXT, f"{writer_name} wrote through {victim.name}"
    for path in written:
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) and info.st_size > 0
        assert stat.S_IMODE(info.st_mode) == mode
    if writer_name == "trace log":
        assert json.loads(written[0].read_text())[0]["summary"] == {"command": "getInfo"}
