"""`tokenbench key pin set|change|retries` and `key config ...` against persistent `emu:` keys.

Each command is a fresh process-like run of `bench.cli.main` on `emu:state=FILE`, the key's
flash, so what one command changes the next one (and python-fido2 as an independent client)
must see. PINs reach the CLI only through the environment, a 0600 file or stdin.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from cli_capture import run_main
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.key_settings import check_new_pin
from tokenbench.emulators.key import EmulatedKey

PIN = "4711-otter"
NEW_PIN = "0815-badger"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "key.json"


@pytest.fixture
def uri(state: Path) -> str:
    return f"emu:state={state}"


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("tokenbench: error: "), err
    return lines[0]


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run_main(capsys, *argv, "--json", keep_warnings=True)
    assert code == 0, err
    assert err == ""  # nothing on argv, so no warning either
    assert out.count("\n") == 1  # one JSON object
    return dict(json.loads(out))


def failure(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run_main(capsys, *argv, keep_warnings=True)
    assert code != 0 and out == ""
    return one_line_error(err)


def key_info(state: Path) -> tuple[Ctap2, EmulatedKey]:
    key = EmulatedKey.create(state_path=state)
    return Ctap2(key.hid_device()), key


def independent_info(state: Path) -> dict:
    """getInfo as python-fido2 sees it on the stored key (not through our CLI)."""
    ctap, key = key_info(state)
    try:
        info = ctap.get_info()
        return {"options": dict(info.options), "min_pin_length": info.min_pin_length,
                "force_pin_change": info.force_pin_change}  # fmt: skip
    finally:
        key.close()


def pin_works(state: Path, pin: str) -> bool:
    ctap, key = key_info(state)
    try:
        ClientPin(ctap).get_pin_token(pin, ClientPin.PERMISSION.GET_ASSERTION, "x.example")
        return True
    except Exception:
        return False
    finally:
        key.close()


@pytest.fixture
def with_pin(capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The key with PIN set (through the CLI) and $TOKENBENCH_PIN holding it."""
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", PIN)
    ok_json(capsys, "key", "pin", "set", "--target", uri)
    monkeypatch.delenv("TOKENBENCH_NEW_PIN")
    monkeypatch.setenv("TOKENBENCH_PIN", PIN)
    return uri


# ------------------------------------------------------------------------------------ pin


def test_pin_set_from_the_environment(
    capsys: pytest.CaptureFixture[str], uri: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = ok_json(capsys, "key", "pin", "retries", "--target", uri)
    assert fresh["pin_set"] is False and fresh["pin_retries"] is None
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", PIN)
    code, out, err = run_main(capsys, "key", "pin", "set", "--target", uri, "--json")
    assert code == 0, err
    assert PIN not in out + err
    result = json.loads(out)
    assert result["action"] == "set" and result["target"] == uri
    assert result["pin_set"] is True and result["pin_retries"] == 8
    assert independent_info(state)["options"]["clientPin"] is True
    assert pin_works(state, PIN)
    assert "already has a PIN" in failure(capsys, "key", "pin", "set", "--target", uri)
    code, out, _ = run_main(capsys, "key", "pin", "retries", "--target", uri)
    assert code == 0 and out == "PIN: set, 8 retries left (minimum length 4)\n"


def test_pin_set_from_a_private_file_and_not_from_a_readable_one(
    capsys: pytest.CaptureFixture[str], uri: str, state: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "new-pin"
    secret.write_text(PIN + "\n")
    secret.chmod(0o644)
    line = failure(capsys, "key", "pin", "set", "--target", uri, "--new-pin-file", str(secret))
    assert "accessible to others" in line and PIN not in line
    secret.chmod(0o600)
    ok_json(capsys, "key", "pin", "set", "--target", uri, "--new-pin-file", str(secret))
    assert pin_works(state, PIN)


def test_pin_set_without_a_pin_names_the_safe_ways(
    capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENBENCH_NEW_PIN", raising=False)
    line = failure(capsys, "key", "pin", "set", "--target", uri)
    assert "needs the new PIN" in line and "--new-pin-file / TOKENBENCH_NEW_PIN" in line


def test_a_too_short_pin_is_refused_before_the_key_sees_it(
    capsys: pytest.CaptureFixture[str], uri: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", "123")
    line = failure(capsys, "key", "pin", "set", "--target", uri)
    assert "too short" in line and "at least 4" in line and "123" not in line
    assert independent_info(state)["options"]["clientPin"] is False
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", "x" * 64)
    assert "at most 63 bytes" in failure(capsys, "key", "pin", "set", "--target", uri)


def test_a_pin_that_is_not_utf8_is_one_line(
    capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", "1234\udcff")  # byte 0xff in the environment
    assert "the new PIN is not UTF-8 text" in failure(capsys, "key", "pin", "set", "--target", uri)


def test_pin_change_reads_both_pins_from_stdin(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENBENCH_PIN")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PIN}\n{NEW_PIN}\n"))
    result = ok_json(
        capsys, "key", "pin", "change", "--target", with_pin, "--pin", "-", "--new-pin", "-"
    )
    assert result["action"] == "change" and result["pin_retries"] == 8
    assert pin_works(state, NEW_PIN) and not pin_works(state, PIN)


def test_a_wrong_current_pin_is_one_line_naming_the_ctap_error(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENBENCH_PIN", "9999-wrong")
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", NEW_PIN)
    line = failure(capsys, "key", "pin", "change", "--target", with_pin)
    assert "wrong PIN (CTAP error PIN_INVALID, 7 retries left)" in line
    assert "9999-wrong" not in line and NEW_PIN not in line
    assert ok_json(capsys, "key", "pin", "retries", "--target", with_pin)["pin_retries"] == 7
    monkeypatch.delenv("TOKENBENCH_PIN")
    assert "needs the key's PIN" in failure(capsys, "key", "pin", "change", "--target", with_pin)


def test_pin_change_on_a_key_without_a_pin(
    capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENBENCH_PIN", PIN)
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", NEW_PIN)
    assert "use `key pin set`" in failure(capsys, "key", "pin", "change", "--target", uri)


# ------------------------------------------------------------------------------------ config


def test_always_uv_on_and_off_with_the_pin(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path
) -> None:
    result = ok_json(capsys, "key", "config", "always-uv", "on", "--target", with_pin)
    assert result["changed"] == "always_uv" and result["settings"]["always_uv"] is True
    assert independent_info(state)["options"]["alwaysUv"] is True
    # on again: no toggle (the wire command is a toggle)
    again = ok_json(capsys, "key", "config", "always-uv", "on", "--target", with_pin)
    assert again["settings"]["always_uv"] is True
    ok_json(capsys, "key", "config", "always-uv", "off", "--target", with_pin)
    assert independent_info(state)["options"]["alwaysUv"] is False


def test_config_needs_the_pin_once_one_is_set(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENBENCH_PIN")
    line = failure(capsys, "key", "config", "enterprise-attestation", "--target", with_pin)
    assert "this key has a PIN" in line
    monkeypatch.setenv("TOKENBENCH_PIN", "0000-wrong")
    line = failure(capsys, "key", "config", "always-uv", "on", "--target", with_pin)
    assert "PIN_INVALID" in line and "7 retries left" in line
    assert independent_info(state)["options"]["alwaysUv"] is False


def test_config_without_a_pin_is_open_until_always_uv_needs_one(
    capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    """CTAP 2.1 §6.11: a key not protected by UV takes configuration without a token."""
    assert ok_json(capsys, "key", "config", "always-uv", "on", "--target", uri)["settings"][
        "always_uv"
    ]
    line = failure(capsys, "key", "config", "always-uv", "off", "--target", uri)
    assert "no PIN is set" in line


def test_min_pin_length_grows_only_and_binds_the_next_pin(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("key", "config", "min-pin-length", "--target", with_pin)
    result = ok_json(capsys, *args, "12", "--rp-id", "a.example")
    assert result["settings"]["min_pin_length"] == 12
    # the current PIN (10 characters) is now too short: the key forces a change
    assert result["settings"]["force_pin_change"] is True
    info = independent_info(state)
    assert info["min_pin_length"] == 12 and info["force_pin_change"] is True
    assert "only grow" in failure(capsys, *args, "6")
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", "short-pin")
    line = failure(capsys, "key", "pin", "change", "--target", with_pin)
    assert "too short" in line and "at least 12" in line


def test_force_pin_change_blocks_use_until_the_pin_is_changed(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = ok_json(capsys, "key", "config", "force-pin-change", "--target", with_pin)
    assert result["settings"]["force_pin_change"] is True
    assert independent_info(state)["force_pin_change"] is True
    line = failure(capsys, "key", "config", "always-uv", "on", "--target", with_pin)
    assert "requires a new PIN first" in line and "key pin change" in line
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", NEW_PIN)
    changed = ok_json(capsys, "key", "pin", "change", "--target", with_pin)
    assert changed["force_pin_change"] is False
    assert independent_info(state)["force_pin_change"] is False


def test_force_pin_change_without_a_pin(capsys: pytest.CaptureFixture[str], uri: str) -> None:
    assert "no PIN is set" in failure(capsys, "key", "config", "force-pin-change", "--target", uri)


def test_enterprise_attestation(
    capsys: pytest.CaptureFixture[str], with_pin: str, state: Path
) -> None:
    assert independent_info(state)["options"]["ep"] is False
    result = ok_json(capsys, "key", "config", "enterprise-attestation", "--target", with_pin)
    assert result["settings"]["enterprise_attestation"] is True
    assert independent_info(state)["options"]["ep"] is True


def test_a_ctap20_key_has_no_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    line = failure(capsys, "key", "config", "always-uv", "on", "--target", "emu:profile=ctap20")
    assert "no authenticatorConfig" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("key", "config", "min-pin-length", "3"), "must be 4..63, not 3"),
        (("key", "config", "min-pin-length", "six"), "not a number"),
        (("key", "config", "always-uv", "maybe"), "invalid choice"),
        (("key", "pin", "retries", "--target", "nope"), "bad target"),
        (("key", "pin"), "required"),
    ],
)
def test_argument_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str
) -> None:
    code, _, err = run_main(capsys, *argv)
    assert code in (1, 2)  # 2: argparse's usage error, as one line too (bench/cli.py)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenbench") and ": error: " in lines[0]
    assert expected in lines[0]


@settings(max_examples=60, deadline=None)
@given(
    pin=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=40,
    ).filter(lambda p: len(p.encode("utf-8")) <= 80)
)
def test_our_pin_check_agrees_with_the_keys_policy(pin: str) -> None:
    """`check_new_pin` refuses exactly what the key would (so a refusal costs nothing there)."""
    with EmulatedKey.create() as key:
        ctap = Ctap2(key.hid_device())
        try:
            check_new_pin(ctap.info, pin)
            ours = True
        except UserError:
            ours = False
        try:
            ClientPin(ctap).set_pin(pin)
            theirs = True
        except (CtapError, ValueError):  # ValueError: python-fido2's own 4-character floor
            theirs = False
    assert ours == theirs
