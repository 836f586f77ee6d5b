"""The key tools against a card in a real pcscd: the emulated key as a vpcd virtual card.

`scripts/pcsc/with-emulated-card.sh` runs each command in private network and mount namespaces
with a pcscd that knows only the vpcd reader and `tokenbench key emulate --vpcd` in slot 0, so
the machine's own PC/SC stack is untouched. Needs root (unshare).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WITH_CARD = ROOT / "scripts" / "pcsc" / "with-emulated-card.sh"
TOKENBENCH = ROOT / ".venv" / "bin" / "tokenbench"
PYTHON = ROOT / ".venv" / "bin" / "python"
READER = "Virtual PCD 00 00"
EMULATOR_AAGUID = "7b6e6b65-6e62-656e-6368-2d656d756c00"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for private namespaces")


def with_card(*command: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    done = subprocess.run(
        [str(WITH_CARD), *map(str, command)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_list_finds_the_card_in_its_reader() -> None:
    listing = json.loads(with_card(TOKENBENCH, "key", "list", "--json").stdout)
    pcsc = [d for d in listing["devices"] if d["source"] == "pcsc"]
    assert [d["path"] for d in pcsc] == [f"pcsc:{READER}"]
    assert pcsc[0]["interfaces"] == ["fido-iso7816"]
    assert "PC/SC: reader 'Virtual PCD 00 01' holds no FIDO card" in listing["notes"]


def test_info_over_pcsc() -> None:
    report = json.loads(
        with_card(TOKENBENCH, "key", "info", "--target", f"pcsc:{READER}", "--json").stdout
    )
    assert report["info"]["aaguid"] == EMULATOR_AAGUID
    options = {o["name"]: o["value"] for o in report["info"]["options"]}
    assert options["clientPin"] is False and report["pin_retries"] is None


def test_trace_forwards_to_a_card_over_pcsc() -> None:
    """python-fido2 over UDP -> trace -> CtapPcscDevice -> pcscd -> vpcd -> emulated card."""
    result = json.loads(
        with_card(PYTHON, ROOT / "tests" / "keytools" / "keytools_pcsc_trace.py", f"pcsc:{READER}")
        .stdout.strip()
        .splitlines()[-1]
    )
    assert "FIDO_2_1" in result["versions"]
    assert result["fmt"] == "packed"
    assert "makeCredential" in result["commands"]
