"""The `oath` suite on cards it must leave alone, run as a person runs it (`pytest --target
pcsc:READER`, a child process) against emulated cards in the private pcscd's two vpcd slots:
a key without the OATH applet (every non-destructive test `unclaimed`), and a key whose
applet a password locks (every test `not permitted` without --allow-destructive, and the
key's own account still there afterwards). Neither kind of skip fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from yubikit.oath import CredentialData
from yubikit.oath import OathSession as YubikitOath

from tokenbench.bench.targets import parse_target
from tokenbench.emulators.card.inproc import yubikit_connection
from tokenbench.emulators.key import EmulatedKey

PROJECT = Path(__file__).resolve().parents[2]
SLOTS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
USER_ACCOUNT = "otpauth://totp/Bank:me?secret=JBSWY3DPEHPK3PXPJBSWY3DP"  # a made-up seed


def test_suite_skips_cards_it_must_not_touch(plug, private_pcscd, tmp_path) -> None:
    bare = EmulatedKey.create(profile="u2f-only", seed=21)
    locked = EmulatedKey.create(seed=22)
    session = YubikitOath(yubikit_connection(locked.nfc_card()))
    session.put_credential(CredentialData.parse_uri(USER_ACCOUNT))
    session.set_key(session.derive_key("the user's password"))
    results = tmp_path / "gates.json"
    try:
        with plug(bare.nfc_card(), SLOTS[0]), plug(locked.nfc_card(), SLOTS[1]):
            env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(private_pcscd.socket_path))
            command = [sys.executable, "-m", "pytest", "--pyargs", "tokenbench.bench.suites"]
            command += ["--bench-suite", "oath", "--bench-json", str(results), "-q"]
            for slot in SLOTS:
                command += ["--target", f"pcsc:{slot}"]
            run = subprocess.run(
                command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
            )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        records = json.loads(results.read_text())["tests"]
        kinds = {
            slot: {r["skip_kind"] for r in records if r["target"] == f"pcsc:{slot}"}
            for slot in SLOTS
        }
        # destructive tests are gated before they look at the card: `not permitted` on both
        assert kinds == {SLOTS[0]: {"unclaimed", "not-permitted"}, SLOTS[1]: {"not-permitted"}}
        assert {r["outcome"] for r in records} == {"skipped"} and len(records) == 2 * 29
        assert locked.oath.summary() == {"credentials": 1, "password": True}
    finally:
        bare.close()
        locked.close()


def test_only_a_controlled_card_can_withhold_a_touch() -> None:
    """Without a control socket nobody can promise the key will not count a touch."""
    assert parse_target("pcsc:Some Reader").withhold_presence() is False
    assert parse_target("emu:").withhold_presence() is False
