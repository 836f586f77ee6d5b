"""The virtual authenticator app: its accounts, codes, countdown, and its account file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.errors import AppFileError, OtpauthError, TotpError

ALICE = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
BOB = "otpauth://totp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&algorithm=SHA256"
COUNTER = "otpauth://hotp/Door:carol?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=5"


def filled_app(path: Path | None = None, when: float = 1_700_000_000) -> VirtualTotpApp:
    app = VirtualTotpApp(FakeClock(when), path)
    for uri in (ALICE, BOB, COUNTER):
        app.add_uri(uri)
    return app


def test_codes_follow_the_clock() -> None:
    app = filled_app(when=59)
    first = app.code("Example:alice@google.com")
    app.clock.advance(1)  # t = 60: a new 30-second step
    assert app.code("Example:alice@google.com") != first
    app.clock.advance(29)
    assert app.code("Example:alice@google.com") == app.code("alice@google.com")


@pytest.mark.parametrize(("when", "left"), [(59, 1), (60, 30), (60.9, 30), (75, 15), (89.99, 1)])
def test_seconds_left(when: float, left: int) -> None:
    app = filled_app(when=when)
    assert app.seconds_left("Example:alice@google.com") == left
    assert app.seconds_left("Door:carol") is None


def test_accounts_are_found_by_value_label_or_unique_name() -> None:
    app = filled_app()
    bob = app.find("Bank:bob")
    assert app.find("bob") is bob and app.find(bob) is bob
    app.add_secret("JBSWY3DPEHPK3PXP", issuer="Other", account="bob")
    with pytest.raises(TotpError, match="several accounts"):
        app.find("bob")
    with pytest.raises(TotpError, match="no account"):
        app.code("nobody")


def test_re_enrolling_a_label_replaces_the_account() -> None:
    app = filled_app()
    old_code = app.code("Example:alice@google.com")
    app.add_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", issuer="Example", account="alice@google.com")
    assert len(app.accounts) == 3
    assert app.code("Example:alice@google.com") != old_code


def test_hotp_next_moves_the_counter_and_totp_has_none() -> None:
    app = filled_app()
    before = app.code("Door:carol")
    after = app.next_hotp("Door:carol")
    assert after != before and app.find("Door:carol").counter == 6
    with pytest.raises(TotpError, match="no counter"):
        app.next_hotp("Bank:bob")


def test_bad_input_leaves_the_app_unchanged() -> None:
    app = filled_app()
    before = app.accounts
    for bad in ("otpauth://totp/x?secret=0000", "garbage", "otpauth://totp/x"):
        with pytest.raises(OtpauthError):
            app.add_uri(bad)
    with pytest.raises(OtpauthError):
        app.add_secret("not base32!")
    assert app.accounts == before


def test_accounts_survive_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "phone" / "app.json"
    app = filled_app(path)
    app.next_hotp("Door:carol")
    app.save()
    again = VirtualTotpApp.load(path, FakeClock(1_700_000_000))
    assert again.accounts == app.accounts
    assert [again.code(a) for a in again.accounts] == [app.code(a) for a in app.accounts]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["app.json"]  # no temp files left


def test_a_failed_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.json"
    app = filled_app(path)
    app.save()
    before = path.read_bytes()
    app.add_secret("JBSWY3DPEHPK3PXP", account="new")

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        app.save()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["app.json"]


def test_export_and_import_between_two_phones() -> None:
    old_phone = filled_app()
    new_phone = VirtualTotpApp(FakeClock(1_700_000_000))
    imported = new_phone.import_migration(old_phone.export_migration())
    assert imported == list(old_phone.accounts)
    assert new_phone.code("Bank:bob") == old_phone.code("Bank:bob")
    only_bob = VirtualTotpApp(FakeClock(0))
    only_bob.import_migration(old_phone.export_migration(["Bank:bob"]))
    assert [a.label for a in only_bob.accounts] == ["Bank:bob"]


def test_saving_needs_a_file() -> None:
    with pytest.raises(AppFileError, match="no account file"):
        filled_app().save()


def _valid_document() -> dict:
    return {
        "format": "tokenbench-totp-app",
        "version": 1,
        "accounts": [
            {
                "type": "totp",
                "issuer": "I",
                "account": "a",
                "secret": "JBSWY3DPEHPK3PXP",
                "algorithm": "SHA1",
                "digits": 6,
                "period": 30,
                "counter": 0,
            }
        ],
    }


def _broken(change: str) -> object:
    document = _valid_document()
    entry = document["accounts"][0]
    match change:
        case "format":
            document["format"] = "something-else"
        case "version":
            document["version"] = 99
        case "accounts":
            document["accounts"] = {"a": 1}
        case "entry":
            document["accounts"] = ["x"]
        case "secret":
            entry["secret"] = "!!"
        case "digits":
            entry["digits"] = "6"
        case "bool":
            entry["period"] = True
        case "missing":
            del entry["type"]
        case "list":
            return [document]
    return document


@pytest.mark.parametrize(
    "change",
    ["format", "version", "accounts", "entry", "secret", "digits", "bool", "missing", "list"],
)
def test_corrupt_account_files_give_one_clear_error(tmp_path: Path, change: str) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(_broken(change)))
    with pytest.raises(AppFileError):
        VirtualTotpApp.load(path, FakeClock(0))


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b"[" * 100_000, b"NaN"])
def test_unparsable_account_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "app.json"
    path.write_bytes(content)
    with pytest.raises(AppFileError):
        VirtualTotpApp.load(path, FakeClock(0))


def test_a_valid_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(_valid_document()))
    assert VirtualTotpApp.load(path, FakeClock(59)).code("I:a") == "996554"


def test_missing_account_file(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match="no such"):
        VirtualTotpApp.load(tmp_path / "absent.json", FakeClock(0))
