"""`tokenbench key list/info/wink/reset/creds` through `bench.cli.main`, against `emu:` keys.

Keys that must keep a PIN or credentials between two commands use `emu:state=FILE`, the same
persistent state a real key keeps in flash; they are prepared with python-fido2 as a client.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from cli_capture import run_main
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from keytools_mds_blob import MdsTestSigner, entry

from tokenbench.emulators.key import EmulatedKey

PIN = "4711-otter"
# The warning for a secret given on the command line (tested in tests/bench/test_secret_input.py);
# these tests pass made-up secrets that way for brevity, so it is set aside here.
DATA = Path(__file__).parent.parent / "data" / "usb"
EMULATOR_AAGUID = "7b6e6b65-6e62-656e-6368-2d656d756c00"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_main(capsys, *argv)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("tokenbench: error: "), err
    return lines[0]


@pytest.fixture
def key_with_pin(tmp_path: Path) -> str:
    """A persistent emulated key with a PIN and two discoverable credentials; its target URI."""
    state = tmp_path / "key.json"
    key = EmulatedKey.create(state_path=state)
    try:
        ctap = Ctap2(key.hid_device())
        client_pin = ClientPin(ctap)
        client_pin.set_pin(PIN)
        for rp, user in (("a.example", b"ann"), ("b.example", b"bea")):
            token = client_pin.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, rp)
            cdh = hashlib.sha256(rp.encode()).digest()
            ctap.make_credential(
                cdh,
                {"id": rp, "name": rp},
                {"id": user, "name": user.decode(), "displayName": user.decode().title()},
                [{"type": "public-key", "alg": -7}],
                options={"rk": True},
                pin_uv_param=client_pin.protocol.authenticate(token, cdh),
                pin_uv_protocol=client_pin.protocol.VERSION,
            )
    finally:
        key.close()
    return f"emu:state={state}"


# ------------------------------------------------------------------------------------ list


def test_list_finds_the_recorded_yubikey_through_the_pyusb_backend_hook(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TOKENBENCH_PYUSB_BACKEND", "tokenbench.bench.keytools.usb_replay:replay_from_env"
    )
    monkeypatch.setenv(
        "TOKENBENCH_USB_RECORDINGS",
        os.pathsep.join(str(DATA / n) for n in ("plain-keyboard.json", "yubikey5-nfc.json")),
    )
    code, out, err = run(capsys, "key", "list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    usb = [d for d in listing["devices"] if d["source"] == "usb"]
    assert len(usb) == 1  # the keyboard is not a FIDO key
    yubikey = usb[0]
    assert yubikey["vid_pid"] == "1050:0407"
    assert yubikey["path"] == "usb:001:005"
    assert yubikey["product"] == "Yubico YubiKey OTP+FIDO+CCID"
    assert yubikey["interfaces"] == ["0:hid", "1:fido-hid (usage page 0xF1D0)", "2:ccid"]
    code, out, _ = run(capsys, "key", "list")
    assert code == 0
    assert "usb:001:005" in out and "1050:0407" in out and "2:ccid" in out


def test_list_shows_hid_keys_from_python_fido2_enumeration(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """hidraw enumeration replaced by an emulated key's real CtapHidDevice (no hidraw here)."""
    from fido2.hid import CtapHidDevice

    key = EmulatedKey.create()
    try:
        monkeypatch.setattr(
            CtapHidDevice, "list_devices", classmethod(lambda cls: iter([key.hid_device()]))
        )
        monkeypatch.setenv(
            "TOKENBENCH_PYUSB_BACKEND", "tokenbench.bench.keytools.usb_replay:replay_from_env"
        )
        monkeypatch.setenv("TOKENBENCH_USB_RECORDINGS", "")
        code, out, err = run(capsys, "key", "list", "--json")
    finally:
        key.close()
    assert code == 0, err
    hid = [d for d in json.loads(out)["devices"] if d["source"] == "hid"]
    assert len(hid) == 1
    assert hid[0]["path"].startswith("hid:") and hid[0]["product"] == "tokenbench CTAP 2.1 key"
    assert hid[0]["interfaces"] == ["fido-hid (usage page 0xF1D0)"]


def test_list_without_devices_explains_each_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TOKENBENCH_PYUSB_BACKEND", "tokenbench.bench.keytools.usb_replay:replay_from_env"
    )
    monkeypatch.setenv("TOKENBENCH_USB_RECORDINGS", str(DATA / "plain-keyboard.json"))
    code, out, err = run(capsys, "key", "list", "--json")
    assert code == 0, err
    notes = json.loads(out)["notes"]
    assert any(n.startswith("HID:") for n in notes)
    assert any(n.startswith("PC/SC:") for n in notes)  # no pcscd: a note, not an error
    assert "USB: no FIDO key or CCID reader" in notes


def test_list_without_pyusb_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyusb is an optional dependency ([hardware]): without it, a note, not a failure."""
    import sys

    for name in [m for m in sys.modules if m == "usb" or m.startswith("usb.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "usb", None)  # import usb -> ImportError
    code, out, err = run(capsys, "key", "list", "--json")
    assert code == 0, err
    assert any("pyusb is not installed" in n for n in json.loads(out)["notes"])


def test_list_with_a_bad_backend_hook_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENBENCH_PYUSB_BACKEND", "no_such_module:factory")
    code, _, err = run(capsys, "key", "list")
    assert code == 1
    assert "TOKENBENCH_PYUSB_BACKEND" in one_line_error(err)


# ------------------------------------------------------------------------------------ info


def test_info_explains_the_emulated_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "key", "info", "--target", "emu:")
    assert code == 0, err
    assert f"AAGUID: {EMULATOR_AAGUID}" in out
    assert "FIDO_2_1" in out and "CTAP 2.1" in out
    assert "hmac-secret" in out and "per-credential symmetric secret" in out
    assert "credMgmt" in out and "list/delete discoverable credentials" in out
    assert "ES256 (-7)" in out and "EdDSA (-8)" in out
    assert "maxMsgSize" in out and "1200" in out
    assert "PIN retries" not in out  # a fresh key has no PIN, so no retry counter to ask


def test_info_json_counts_credentials_with_the_pin(
    capsys: pytest.CaptureFixture[str], key_with_pin: str
) -> None:
    code, out, err = run(capsys, "key", "info", "--target", key_with_pin, "--json", "--pin", PIN)
    assert code == 0, err
    report = json.loads(out)
    assert report["credentials"]["existing"] == 2
    assert report["pin_retries"] == 8
    options = {o["name"]: o["value"] for o in report["info"]["options"]}
    assert options["clientPin"] is True
    assert [p["version"] for p in report["info"]["pin_uv_protocols"]] == [2, 1]
    assert PIN not in out


def test_info_with_a_wrong_pin_is_one_line_with_retries(
    capsys: pytest.CaptureFixture[str], key_with_pin: str
) -> None:
    code, _, err = run(capsys, "key", "info", "--target", key_with_pin, "--pin", "0000-wrong")
    assert code == 1
    line = one_line_error(err)
    assert "wrong PIN" in line and "7 retries left" in line
    assert "0000-wrong" not in err


def test_info_names_the_model_from_a_signed_mds_blob(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mds = MdsTestSigner.create()
    blob = tmp_path / "blob.jwt"
    blob.write_bytes(
        mds.blob(
            [
                entry(EMULATOR_AAGUID, "tokenbench emulated key (test MDS)"),
                entry("00000000-0000-0000-0000-000000000001", "someone else"),
            ]
        )
    )
    root = tmp_path / "root.pem"
    root.write_bytes(mds.root_pem())
    args = ("key", "info", "--target", "emu:", "--mds", str(blob))
    code, out, err = run(capsys, *args, "--mds-root", str(root))
    assert code == 0, err
    assert "Model:  tokenbench emulated key (test MDS)" in out
    assert "verified against the given root" in out and "FIDO_CERTIFIED_L1" in out
    code, out, _ = run(capsys, *args)
    assert code == 0 and "signature not verified" in out


def test_info_refuses_a_blob_signed_under_another_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blob = tmp_path / "blob.jwt"
    blob.write_bytes(MdsTestSigner.create().blob([entry(EMULATOR_AAGUID, "forged")]))
    other_root = tmp_path / "other.pem"
    other_root.write_bytes(MdsTestSigner.create().root_pem())
    code, out, err = run(
        capsys, "key", "info", "--target", "emu:", "--mds", str(blob), "--mds-root", str(other_root)
    )
    assert code == 1 and "forged" not in out
    assert "refused" in one_line_error(err)


def test_info_reads_unsigned_mds_json_entries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps([entry(EMULATOR_AAGUID, "from plain JSON")]))
    code, out, err = run(capsys, "key", "info", "--target", "emu:", "--mds", str(entries), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == "from plain JSON"
    assert report["model_source"].startswith("unsigned MDS JSON")


def test_info_reads_the_emulators_own_metadata_statement(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`key attestation-ca` writes the emulated model's statement; `key info --mds` reads it."""
    code, _, err = run(capsys, "key", "attestation-ca", "--out", str(tmp_path))
    assert code == 0, err
    statement = tmp_path / "metadata-statement.json"
    code, out, err = run(capsys, "key", "info", "--target", "emu:", "--mds", str(statement))
    assert code == 0, err
    assert "Model:  tokenbench CTAP 2.1 key (unsigned MDS JSON metadata-statement.json)" in out


def test_info_with_malformed_mds_json_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"aaguid": "not-a-uuid"}')
    code, _, err = run(capsys, "key", "info", "--target", "emu:", "--mds", str(bad))
    assert code == 1 and "refused" in one_line_error(err)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("key", "info", "--target", "bogus"), "bad target"),
        (("key", "info", "--target", "nope:x"), "unknown target scheme"),
        (("key", "info", "--target", "emu:profile=nonexistent"), "bad target"),
        (("key", "info", "--target", "hid:/dev/hidraw-missing"), "cannot open"),
        (("key", "info", "--target", "totp:emu"), "not a security key target"),
        (("key", "info", "--target", "emu:", "--mds", "/nonexistent.jwt"), "cannot read MDS"),
        (("key", "creds", "--target", "emu:", "--pin", "1234"), "no PIN is set"),
        (("key", "wink", "--target", "emu:profile=u2f-only"), None),
    ],
)
def test_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str | None
) -> None:
    code, _, err = run(capsys, *argv)
    if expected is None:  # a U2F-only key still winks
        assert code == 0, err
        return
    assert code == 1
    assert expected in one_line_error(err)


def test_no_hid_key_attached_is_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fido2.hid import CtapHidDevice

    monkeypatch.setattr(CtapHidDevice, "list_devices", classmethod(lambda cls: iter(())))
    code, _, err = run(capsys, "key", "info")  # default target hid:auto
    assert code == 1
    assert "no FIDO HID key attached" in one_line_error(err)


def test_info_on_a_u2f_only_key_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "key", "info", "--target", "emu:profile=u2f-only")
    assert code == 1
    assert "CTAP1/U2F" in one_line_error(err)


# ------------------------------------------------------------------------------------ wink


def test_wink_reaches_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "key", "wink", "--target", "emu:")
    assert code == 0, err
    assert "winked" in out


# ------------------------------------------------------------------------------------ creds


def test_creds_lists_and_deletes(capsys: pytest.CaptureFixture[str], key_with_pin: str) -> None:
    code, out, err = run(capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN, "--json")
    assert code == 0, err
    creds = json.loads(out)
    assert sorted((c["rp_id"], c["user_name"]) for c in creds) == [
        ("a.example", "ann"),
        ("b.example", "bea"),
    ]
    victim = next(c for c in creds if c["rp_id"] == "a.example")["credential_id"]
    code, out, err = run(
        capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN, "--delete", victim
    )
    assert code == 0, err
    assert f"deleted credential {victim}" in out
    code, out, _ = run(capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN)
    assert code == 0
    assert "b.example" in out and "a.example" not in out and PIN not in out
    code, _, err = run(
        capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN, "--delete", victim
    )
    assert code == 1 and "no credential with id" in one_line_error(err)
    code, _, err = run(
        capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN, "--delete", "xyz"
    )
    assert code == 1 and "must be hex" in one_line_error(err)


def test_creds_reads_the_pin_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key_with_pin: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    code, out, err = run(capsys, "key", "creds", "--target", key_with_pin, "--pin", "-")
    assert code == 0, err
    assert "a.example" in out and "b.example" in out


# ------------------------------------------------------------------------------------ reset


def test_reset_with_yes_clears_pin_and_credentials(
    capsys: pytest.CaptureFixture[str], key_with_pin: str
) -> None:
    code, out, err = run(capsys, "key", "reset", "--target", key_with_pin, "--yes")
    assert code == 0, err
    assert "reset done" in out and "10 s" in err
    code, out, _ = run(capsys, "key", "info", "--target", key_with_pin, "--json")
    options = {o["name"]: o["value"] for o in json.loads(out)["info"]["options"]}
    assert options["clientPin"] is False
    code, _, err = run(capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN)
    assert code == 1 and "no PIN is set" in one_line_error(err)


def test_reset_without_yes_needs_a_person(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key_with_pin: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a TTY: nobody to ask
    code, _, err = run(capsys, "key", "reset", "--target", key_with_pin)
    assert code == 1
    assert "needs a person at the terminal" in err.strip().splitlines()[-1]
    code, out, _ = run(capsys, "key", "creds", "--target", key_with_pin, "--pin", PIN)
    assert code == 0 and "a.example" in out  # nothing was reset


def test_reset_touches_a_key_that_waits_for_a_touch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "key", "reset", "--target", "emu:presence=touch", "--yes")
    assert code == 0, err
    assert "reset done" in out


def test_reset_refused_by_the_key_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "key", "reset", "--target", "emu:presence=deny", "--yes")
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("tokenbench: error: ") and "not confirmed" in line
