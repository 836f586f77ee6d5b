"""A PC/SC target's identity names its reader and the card's ATR, and reads getInfo over NFC.

The emulated card sits in the private pcscd's vpcd reader (see conftest); the identity is
read through python-fido2's `CtapPcscDevice`, as for a real key in a real reader, and in a
child pytest run it reaches the bench JSON the reports are built from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tokenbench.bench.device_identity import gather
from tokenbench.bench.targets import parse_target
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.transport.nfc import NfcCard

PROJECT = Path(__file__).resolve().parents[2]
READER = "Virtual PCD 00 00"


def _card() -> NfcCard:
    return NfcCard(Authenticator(Env.for_tests(seed=3), get_profile("default")))


def test_pcsc_identity_names_the_reader(plug, private_pcscd, tmp_path) -> None:
    with plug(_card(), READER):
        target = parse_target(f"pcsc:{READER}")
        try:
            identity = gather(target).to_dict()
        finally:
            target.close()
        results = tmp_path / "bench.json"
        env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(private_pcscd.socket_path))
        suites = (sys.executable, "-m", "pytest", "--pyargs", "tokenbench.bench.suites", "-q")
        subprocess.run(
            [*suites, "-k", "get_info", "--target", f"pcsc:{READER}", "--bench-json", results],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            timeout=120,
        )
    assert identity["reader"] == READER and identity["atr"]
    assert identity["aaguid"] and "FIDO_2_1" in identity["versions"]
    assert identity["vid"] is None and identity["errors"] == []
    child = json.loads(results.read_text())["identities"][f"pcsc:{READER}"]
    assert child["reader"] == READER and child["aaguid"] == identity["aaguid"]
    assert child["get_info_hex"] == identity["get_info_hex"]
