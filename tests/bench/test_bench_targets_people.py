"""Targets that need a person: destructive-test confirmation and manually read TOTP tokens.

The person is played by a scripted prompter (the terminal prompter itself refuses to ask
when stdin is not a terminal, which is also checked).
"""

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import pytest

from tokenbench.bench import plugin
from tokenbench.bench.errors import UserError
from tokenbench.bench.suites._totp import find_step_offset, read_seeds
from tokenbench.bench.targets import TerminalPrompter, parse_target
from tokenbench.bench.targets_totp import ManualTotpTarget
from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.factory import TokenFactory

PSK = bytes(range(16))


class ScriptedPerson:
    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = []

    def ask(self, question):
        self.asked.append(question)
        return self.answers.pop(0)

    def confirm(self, question):
        return self.ask(question) == "y"

    def countdown(self, message, seconds, done):
        return done()

    def notify(self, message):
        self.asked.append(message)


def _bench(allow):
    return SimpleNamespace(allow_destructive=allow, confirmed=set())


def _real_key(answers):
    return SimpleNamespace(
        emulated=False,
        unattended=False,  # no rig hooks: the person confirms
        identity=lambda: "the key at /dev/hidraw7",
        prompter=ScriptedPerson(answers),
    )


def test_destructive_needs_the_flag():
    with pytest.raises(pytest.skip.Exception, match="not permitted"):
        plugin._gate_destructive(_bench(False), _real_key([]))


def test_destructive_on_a_real_key_needs_confirmation_once():
    bench, key = _bench(True), _real_key(["y"])
    plugin._gate_destructive(bench, key)
    plugin._gate_destructive(bench, key)  # asked once per key
    assert len(key.prompter.asked) == 1 and "/dev/hidraw7" in key.prompter.asked[0]
    with pytest.raises(pytest.skip.Exception, match="declined"):
        plugin._gate_destructive(_bench(True), _real_key(["n"]))


def test_terminal_prompter_refuses_without_a_terminal():
    prompter = TerminalPrompter(out=io.StringIO(), inp=io.StringIO("y\n"))
    with pytest.raises(UserError, match="needs a person"):
        prompter.confirm("Proceed?")


def test_manual_token_codes_check_against_the_pskc_seed(tmp_path, monkeypatch):
    clock = FakeClock(1_700_000_000.0)
    factory = TokenFactory(clock, prefix="REAL", rng=random.Random(5))
    [token] = factory.mint(1, drift_ppm=0.0)
    factory.write_pskc([token], tmp_path / "seeds.pskc", psk=PSK)
    monkeypatch.setenv("TOKENBENCH_PSKC_PSK", PSK.hex())
    target = parse_target(f"totp:manual,serial={token.serial},pskc={tmp_path / 'seeds.pskc'}")
    assert isinstance(target, ManualTotpTarget) and not target.emulated
    person = ScriptedPerson([token.press(), ""])
    source = target.tokens()[0]
    source._prompter = person
    source._clock = clock
    code = source.read_code()
    assert code and token.serial in person.asked[0]
    seed = read_seeds(target.pskc())[token.serial]
    assert find_step_offset(seed, code, source.now()) == 0
    assert source.read_code() is None, "an empty answer means a blank display"


def test_manual_target_needs_its_pskc_file(tmp_path):
    with pytest.raises(UserError, match="PSKC file not found"):
        parse_target(f"totp:manual,serial=X,pskc={tmp_path / 'absent.pskc'}")
