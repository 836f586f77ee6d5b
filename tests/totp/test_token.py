"""A hardware token: button and display, crystal drift, battery, sealed state that persists."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.errors import SealError, TokenStateError
from tokenbench.emulators.totp.otp import OtpAccount
from tokenbench.emulators.totp.sealing import SEALING_KEY_FILE, write_sealing_key
from tokenbench.emulators.totp.token import DISPLAY_SECONDS, YEAR_SECONDS, HardwareTotpToken

SEED = b"12345678901234567890"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
START = 1_599_999_995  # 5 s into a 30 s step
TRUE_CODES = OtpAccount(secret=SEED)  # what a verifier computes from the seed


def make_token(clock: FakeClock, **options: object) -> HardwareTotpToken:
    return HardwareTotpToken("GAHT00000042", SEED, clock, sealing_key=KEY, **options)


def test_the_display_is_blank_until_pressed_and_goes_blank_again() -> None:
    clock = FakeClock(START)
    token = make_token(clock)
    assert token.display() is None
    shown = token.press()
    assert shown == TRUE_CODES.code_at(START)
    assert token.display() == shown
    clock.advance(DISPLAY_SECONDS - 0.5)
    assert token.display() == shown
    clock.advance(0.5)
    assert token.display() is None
    assert token.press() == TRUE_CODES.code_at(clock.now())


def test_a_lit_display_follows_a_step_change() -> None:
    clock = FakeClock(START + 24)  # 1 s before the step ends
    token = make_token(clock)
    first = token.press()
    clock.advance(2)
    assert token.display() == TRUE_CODES.code_at(clock.now()) != first


def test_a_year_at_plus_20_ppm_puts_the_token_631_s_ahead() -> None:
    clock = FakeClock(START)
    token = make_token(clock, drift_ppm=20)
    clock.advance(YEAR_SECONDS)
    now = clock.now()
    ahead = token.clock.error_at(now)
    assert ahead == pytest.approx(631.15, abs=0.01)
    shown = token.press()
    assert shown == TRUE_CODES.code_at(now + 631)
    assert shown != TRUE_CODES.code_at(now)


def test_a_slow_crystal_falls_behind() -> None:
    clock = FakeClock(START)
    token = make_token(clock, drift_ppm=-25)
    clock.advance(2 * YEAR_SECONDS)
    now = clock.now()
    assert token.press() == TRUE_CODES.code_at(now - 1578)
    assert token.press() != TRUE_CODES.code_at(now)


def test_a_dead_battery_shows_nothing() -> None:
    clock = FakeClock(START)
    token = make_token(clock, battery_life=3600)
    assert token.press() is not None
    clock.advance(3600)
    assert token.battery_dead
    assert token.display() is None
    assert token.press() is None
    assert token.display() is None


def test_draining_the_battery_by_hand_blanks_a_lit_display() -> None:
    clock = FakeClock(START)
    token = make_token(clock)
    assert token.press() is not None
    token.battery_life = 0  # how the bench's dead-battery fault breaks a token
    assert token.display() is None and token.press() is None


def test_the_seed_is_not_on_show() -> None:
    token = make_token(FakeClock(START))
    forms = {SEED, SEED.hex(), base64.b32encode(SEED).decode(), base64.b64encode(SEED).decode()}
    assert not any(str(form) in repr(token) for form in forms)
    for name in dir(token):
        if name.startswith("_"):
            continue
        value = getattr(token, name)
        assert not callable(value) or name in {"press", "display", "save", "load"}
        if not callable(value):
            assert value not in forms and not any(str(f) in repr(value) for f in forms), name


def test_state_persists_and_the_codes_continue(tmp_path: Path) -> None:
    clock = FakeClock(START)
    token = make_token(clock, drift_ppm=12.5, clock_offset=-2.0, battery_life=4 * YEAR_SECONDS)
    clock.advance(100 * 86400)
    path = tmp_path / "batch" / "GAHT00000042.token.json"
    token.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert SEED.decode() not in text and base64.b64encode(SEED).decode() not in text
    later = HardwareTotpToken.load(path, clock, KEY)
    assert repr(later) == repr(token)
    assert (later.manufactured_at, later.battery_life) == (START, token.battery_life)
    for _ in range(5):
        clock.advance(91 * 86400 + 7)
        assert later.press() == token.press() is not None
    clock.advance(3 * YEAR_SECONDS)  # past four years of battery
    assert later.press() is None and token.press() is None


def test_the_sealing_key_file_beside_the_state_is_found(tmp_path: Path) -> None:
    clock = FakeClock(START)
    make_token(clock).save(tmp_path / "t.json")
    write_sealing_key(tmp_path / SEALING_KEY_FILE, KEY)
    assert stat.S_IMODE((tmp_path / SEALING_KEY_FILE).stat().st_mode) == 0o600
    assert HardwareTotpToken.load(tmp_path / "t.json", clock).press() == make_token(clock).press()
    assert HardwareTotpToken.load(tmp_path / "t.json", clock, tmp_path / SEALING_KEY_FILE)


def test_wrong_or_missing_sealing_key(tmp_path: Path) -> None:
    clock = FakeClock(START)
    make_token(clock).save(tmp_path / "t.json")
    with pytest.raises(SealError, match="different sealing key"):
        HardwareTotpToken.load(tmp_path / "t.json", clock, OTHER_KEY)
    with pytest.raises(SealError, match="no sealing key"):
        HardwareTotpToken.load(tmp_path / "t.json", clock)
    (tmp_path / SEALING_KEY_FILE).write_text("not a key\n")
    with pytest.raises(SealError, match="is not a sealing key"):
        HardwareTotpToken.load(tmp_path / "t.json", clock)
    with pytest.raises(SealError, match="32 bytes"):
        HardwareTotpToken.load(tmp_path / "t.json", clock, b"short")


def _edit(path: Path, change: str) -> None:
    state = json.loads(path.read_text())
    sealed = state["sealed_seed"]
    match change:
        case "ciphertext":
            raw = bytearray(base64.b64decode(sealed["ciphertext"]))
            raw[0] ^= 1
            sealed["ciphertext"] = base64.b64encode(raw).decode()
        case "nonce":
            sealed["nonce"] = base64.b64encode(bytes(12)).decode()
        case "digits":
            state["digits"] = 8
        case "serial":
            state["serial"] = "GAHT00000043"
        case "not-base64":
            sealed["ciphertext"] = "***"
        case "no-seal":
            del state["sealed_seed"]
    path.write_text(json.dumps(state))


@pytest.mark.parametrize(
    "change", ["ciphertext", "nonce", "digits", "serial", "not-base64", "no-seal"]
)
def test_tampered_state_does_not_open(tmp_path: Path, change: str) -> None:
    clock = FakeClock(START)
    path = tmp_path / "t.json"
    make_token(clock).save(path)
    _edit(path, change)
    with pytest.raises(SealError):
        HardwareTotpToken.load(path, clock, KEY)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "tokenbench-totp-app", "version": 1}',
        b'{"format": "tokenbench-totp-token", "version": 2}',
        b'{"format": "tokenbench-totp-token", "version": 1}',
    ],
)
def test_corrupt_or_foreign_state_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(content)
    with pytest.raises(TokenStateError):
        HardwareTotpToken.load(path, FakeClock(0), KEY)


@pytest.mark.parametrize(
    ("field", "value"), [("drift_ppm", "fast"), ("battery_life", None), ("model", 7)]
)
def test_malformed_fields(tmp_path: Path, field: str, value: object) -> None:
    path = tmp_path / "t.json"
    make_token(FakeClock(START)).save(path)
    state = json.loads(path.read_text())
    state[field] = value
    path.write_text(json.dumps(state))
    with pytest.raises(TokenStateError, match=field):
        HardwareTotpToken.load(path, FakeClock(START), KEY)


def test_missing_state_file(tmp_path: Path) -> None:
    with pytest.raises(TokenStateError, match="no such"):
        HardwareTotpToken.load(tmp_path / "absent.json", FakeClock(0), KEY)
