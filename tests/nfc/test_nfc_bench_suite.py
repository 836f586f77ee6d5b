"""The bench's `nfc` suite (bench/suites/test_nfc_iso7816.py) run the way a person runs it,
`pytest --target pcsc:READER`, against emulated cards in the private pcscd's vpcd reader:
it passes on the good card and fails, in the test that checks the broken thing, on cards
broken on purpose (`NfcBreakage`). Two cards (the reader's two slots) per suite run keep the
child pytest runs few.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.transport.nfc import NfcBreakage, NfcCard

PROJECT = Path(__file__).resolve().parents[2]
SUITE = PROJECT / "bench" / "suites" / "test_nfc_iso7816.py"
U2F_SUITE = PROJECT / "bench" / "suites" / "test_u2f_ctap1.py"
SLOTS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
GOOD = "good"
RUNS: tuple[tuple[str, ...], ...] = (
    (GOOD, NfcBreakage.SELECT_ANY_AID),
    (NfcBreakage.NO_RESPONSE_CHAINING, NfcBreakage.NO_COMMAND_CHAINING),
    (NfcBreakage.SHORT_ANSWERS,),
)
CATCHING_TESTS = {
    NfcBreakage.SELECT_ANY_AID: ("test_select_of_an_unknown_aid_is_refused",),
    NfcBreakage.NO_RESPONSE_CHAINING: (
        "test_response_chaining_with_a_small_le[16]",
        "test_response_chaining_with_a_small_le[32]",
        "test_response_chaining_with_a_small_le[255]",
        "test_get_response_takes_the_readers_le",
        "test_interrupted_response_chain_is_dropped[select]",
        "test_interrupted_response_chain_is_dropped[ctap-msg]",
        "test_u2f_register_in_a_short_apdu_answers_through_get_response",
    ),
    NfcBreakage.NO_COMMAND_CHAINING: (
        "test_command_chaining_carries_a_long_request[16]",
        "test_command_chaining_carries_a_long_request[64]",
        "test_command_chaining_carries_a_long_request[200]",
    ),
    NfcBreakage.SHORT_ANSWERS: ("test_u2f_register_in_an_extended_apdu_answers_in_one_piece",),
}


def card(label: str, faults: str = "") -> NfcCard:
    core = Authenticator(
        Env.for_tests(seed=9, faults=FaultSet.parse(faults)), get_profile("default")
    )
    return NfcCard(core, breakages=[] if label == GOOD else [NfcBreakage(label)])


def run_suite(
    socket_path: Path, results: Path, suite: Path = SUITE, slots: tuple[str, ...] = SLOTS
) -> list[dict]:
    """The suite in a child pytest against the slots; the bench JSON test records."""
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(socket_path))
    targets = [arg for slot in slots for arg in ("--target", f"pcsc:{slot}")]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-q", *targets, "--bench-json", str(results)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert results.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(results.read_text())["tests"]


@pytest.fixture(scope="module")
def outcomes(plug, private_pcscd, tmp_path_factory) -> dict[str, dict[str, str]]:
    """{card label: {suite test name: outcome}} for the good card and every broken one."""
    found: dict[str, dict[str, str]] = {}
    for run, labels in enumerate(RUNS):
        slots = SLOTS[: len(labels)]
        with contextlib.ExitStack() as stack:
            for label, slot in zip(labels, slots, strict=True):
                stack.enter_context(plug(card(label), slot))
            results = tmp_path_factory.mktemp("suite") / f"run{run}.json"
            records = run_suite(private_pcscd.socket_path, results, slots=slots)
        by_uri = {f"pcsc:{slot}": label for label, slot in zip(labels, slots, strict=True)}
        for record in records:
            found.setdefault(by_uri[record["target"]], {})[record["name"]] = record["outcome"]
    return found


def test_nfc_suite_passes_on_the_emulated_card(outcomes) -> None:
    good = outcomes[GOOD]
    assert len(good) >= 18
    assert set(good.values()) == {"passed"}, good


@pytest.mark.parametrize("breakage", list(NfcBreakage))
def test_nfc_suite_catches_a_broken_card(outcomes, breakage: NfcBreakage) -> None:
    caught = {name: outcomes[breakage].get(name, "not run") for name in CATCHING_TESTS[breakage]}
    assert set(caught.values()) == {"failed"}, caught


def test_u2f_suite_runs_over_nfc(plug, private_pcscd, tmp_path) -> None:
    """The u2f suite claims U2F from the card's SELECT answer, passes on a good card and
    fails on one whose status words lie (the emulator's `u2f-status` fault)."""
    with plug(card(GOOD), SLOTS[0]), plug(card(GOOD, faults="u2f-status"), SLOTS[1]):
        records = run_suite(private_pcscd.socket_path, tmp_path / "u2f.json", U2F_SUITE)
    good = {r["name"]: r["outcome"] for r in records if r["target"] == f"pcsc:{SLOTS[0]}"}
    lying = {r["name"]: r["outcome"] for r in records if r["target"] == f"pcsc:{SLOTS[1]}"}
    assert len(good) >= 30 and set(good.values()) == {"passed"}, good
    assert set(lying.values()) == {"failed"}, lying
