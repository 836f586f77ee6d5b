"""`tokenbench totp app export NAME --to-key pcsc:READER` and the OATH part of `key info`,
run in-process against the emulated key's card in a private pcscd's vpcd reader (real pcscd,
pyscard and python-fido2 on the way). What the export wrote is read back afterwards with
yubikit (yubikey-manager's library), an implementation independent of the bench's client.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cli_capture import run_main
from yubikit.oath import OathSession as YubikitOath

from tokenbench.emulators.card.inproc import yubikit_connection
from tokenbench.emulators.clock import SystemClock
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.otp import HOTP, OtpAccount

READER = "Virtual PCD 00 00"
TARGET = f"pcsc:{READER}"
SEED = bytes(range(1, 21))  # made up for the test
PASSWORD = "oath password of the test"
PASSWORD_ENV = "TOKENBENCH_OATH_PASSWORD"


def app_file(tmp_path: Path, *accounts: OtpAccount) -> Path:
    path = tmp_path / "app.json"
    app = VirtualTotpApp(SystemClock(), path)
    for account in accounts:
        app.add(account)
    app.save()
    return path


def yubikit_session(key: EmulatedKey) -> YubikitOath:
    """The key's OATH applet through yubikit, in-process (the card is out of the reader)."""
    return YubikitOath(yubikit_connection(key.nfc_card()))


def export(capsys, path: Path, name: str, *extra: str) -> tuple[int, str, str]:
    return run_main(capsys, "totp", "app", "export", name, "--app", str(path), "--to-key", *extra)


def no_secret_in(text: str) -> bool:
    encoded = base64.b32encode(SEED).decode()
    return encoded not in text and encoded.rstrip("=") not in text and SEED.hex() not in text


def test_export_to_key_and_key_info(capsys, plug, emulated_key: EmulatedKey, tmp_path) -> None:
    alice = OtpAccount(secret=SEED, issuer="Example", account="alice", period=60, digits=8)
    counter = OtpAccount(secret=SEED, issuer="Example", account="hotp", kind=HOTP, counter=3)
    path = app_file(tmp_path, alice, counter)
    with plug(emulated_key.nfc_card(), READER):
        status, out, err = export(capsys, path, "Example:alice", TARGET)
        assert status == 0, err
        assert "its code matches the app's" in out
        status, out, err = export(capsys, path, "Example:hotp", TARGET)
        assert status == 0 and "not checked" in out, err
        status, again, err = export(capsys, path, "Example:alice", TARGET)
        assert status == 1 and "already holds" in err and len(err.splitlines()) == 1
        status, info_json, err = run_main(capsys, "key", "info", "--target", TARGET, "--json")
        assert status == 0, err
        status, info_text, err = run_main(capsys, "key", "info", "--target", TARGET)
        assert status == 0, err
    assert all(no_secret_in(text) for text in (out, again, info_json, info_text))
    assert json.loads(info_json)["oath"] == {
        "version": "5.7.1",
        "password_set": False,
        "accounts": 2,
    }
    assert "OATH applet:" in info_text and "alice" not in info_text, "key info shows a name"
    session = yubikit_session(emulated_key)
    by_name = {c.name: c for c in session.list_credentials()}
    assert set(by_name) == {"alice", "hotp"}
    assert by_name["alice"].period == 60 and by_name["alice"].issuer == "Example"
    now = int(time.time())
    assert session.calculate_code(by_name["alice"], now).value == alice.code_at(now)
    assert session.calculate_code(by_name["hotp"]).value == counter.code_at(now), "IMF not kept"


def test_export_needs_the_applet_password(
    capsys, plug, monkeypatch, emulated_key: EmulatedKey, tmp_path
) -> None:
    locked = yubikit_session(emulated_key)
    locked.set_key(locked.derive_key(PASSWORD))
    path = app_file(tmp_path, OtpAccount(secret=SEED, issuer="Example", account="bob"))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with plug(emulated_key.nfc_card(), READER):
        status, _, err = export(capsys, path, "Example:bob", TARGET)
        assert status == 1 and "has a password" in err and len(err.splitlines()) == 1
        monkeypatch.setenv(PASSWORD_ENV, "not it")
        status, _, err = export(capsys, path, "Example:bob", TARGET)
        assert status == 1 and "wrong OATH password" in err
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        status, out, err = export(capsys, path, "Example:bob", TARGET)
        assert status == 0 and "matches" in out, err
        status, info, err = run_main(capsys, "key", "info", "--target", TARGET, "--json")
        assert status == 0, err
    assert json.loads(info)["oath"]["password_set"] is True
    assert json.loads(info)["oath"]["accounts"] is None, "a locked applet was counted"
    assert PASSWORD not in out + err + info


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("Example:carol",), "both go together"),
        (("--to-key", TARGET), "both go together"),
        (("Example:carol", "--to-key", "emu:"), "through a PC/SC reader"),
        (("Example:nobody", "--to-key", TARGET), "no account"),
        (("Example:carol", "--to-key", TARGET, "--png", "x.png"), "--png belongs"),
    ],
)
def test_export_usage_errors_are_one_line(capsys, tmp_path, argv, message) -> None:
    path = app_file(tmp_path, OtpAccount(secret=SEED, issuer="Example", account="carol"))
    status, out, err = run_main(capsys, "totp", "app", "export", "--app", str(path), *argv)
    assert status != 0 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert no_secret_in(out + err)


def test_export_notices_a_key_that_computes_wrong_codes(capsys, plug, tmp_path) -> None:
    """The export's check is real: a key whose truncation is broken (the emulator's
    `oath-wrong-truncation` fault) is reported, not trusted."""
    path = app_file(tmp_path, OtpAccount(secret=SEED, issuer="Example", account="dave"))
    broken = EmulatedKey.create(seed=12, faults="oath-wrong-truncation")
    try:
        with plug(broken.nfc_card(), READER):
            status, out, err = export(capsys, path, "Example:dave", TARGET)
    finally:
        broken.close()
    assert status == 1 and "differs from the app's" in err and len(err.splitlines()) == 1
    assert no_secret_in(out + err)
