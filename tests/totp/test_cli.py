"""`tokenbench totp ...` end to end, and its errors: one line on stderr, a non-zero exit."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pskc
import pytest
import segno

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.factory import TokenFactory
from tokenbench.emulators.totp.otp import OtpAccount
from tokenbench.emulators.totp.sealing import write_sealing_key

PSK_HEX = "000102030405060708090a0b0c0d0e0f"
ALICE = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
BOB = "otpauth://hotp/Door:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0"


def mint(run_cli, out: Path, *extra: str) -> list[str]:
    status, stdout, stderr = run_cli(
        "totp", "mint", "--count", "3", "--out", str(out), "--psk-hex", PSK_HEX, *extra
    )
    assert (status, stderr) == (0, "")
    return stdout.split()


def test_mint_writes_the_batch(run_cli, tmp_path: Path, _private_home: Path) -> None:
    out = tmp_path / "batch"
    serials = mint(run_cli, out, "--drift-ppm", "0", "--at", "1700000000")
    assert serials == ["GAHT00000001", "GAHT00000002", "GAHT00000003"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["seeds.pskc", "sealing.key"] + [f"{s}.token.json" for s in serials]
    )
    assert (_private_home / "factory" / "factory.json").exists()
    # Serials stay unique across batches: the factory registry lives in $TOKENBENCH_HOME.
    assert mint(run_cli, tmp_path / "second") == ["GAHT00000004", "GAHT00000005", "GAHT00000006"]

    container = pskc.PSKC(str(out / "seeds.pskc"))
    container.encryption.key = bytes.fromhex(PSK_HEX)
    for key, serial in zip(container.keys, serials, strict=True):
        assert key.serial == serial
        for when in ("1700000000", "1700000123", "1800000000"):
            status, shown, _ = run_cli(
                "totp", "press", str(out / f"{serial}.token.json"), "--at", when
            )
            assert status == 0
            assert shown.strip() == OtpAccount(secret=key.secret).code_at(float(when))


def test_mint_options_and_password(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    status, stdout, _ = run_cli(
        "totp", "mint", "--count", "1", "--prefix", "ACME", "--out", str(out),
        "--password", "s3cret", "--algorithm", "sha256", "--digits", "8", "--period", "60",
    )  # fmt: skip
    assert status == 0 and stdout.strip() == "ACME00000001"
    status, listing, _ = run_cli("totp", "pskc", str(out / "seeds.pskc"), "--password", "s3cret")
    assert status == 0
    assert re.search(r"ACME00000001\s+TB-TOTP-8\s+HMAC-SHA256\s+8\s+60 s", listing)
    assert "1 keys decrypted and MAC-checked" in listing
    assert re.fullmatch(
        r"\d{8}", run_cli("totp", "press", str(out / "ACME00000001.token.json"))[1].strip()
    )


def test_mint_output_and_files_hold_no_seed(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    status, stdout, _ = run_cli(
        "totp", "mint", "--count", "2", "--out", str(out), "--password", "pw"
    )
    assert status == 0
    container = pskc.PSKC(str(out / "seeds.pskc"))
    container.encryption.derive_key("pw")
    for key in container.keys:
        forms = (key.secret.hex(), base64.b64encode(key.secret).decode())
        forms += (base64.b32encode(key.secret).decode().rstrip("="),)
        for form in forms:
            assert form not in stdout
            for path in out.iterdir():
                assert form not in path.read_text(errors="replace"), path


def test_a_dead_battery_presses_blank(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    mint(run_cli, out, "--at", "1700000000")
    state_file = out / "GAHT00000001.token.json"
    state = json.loads(state_file.read_text())
    ten_years = str(1700000000 + 10 * 365 * 86400)
    assert run_cli("totp", "press", str(state_file), "--at", ten_years)[1] == "(blank)\n"
    assert state["battery_life"] < 10 * 365 * 86400


def test_the_app_commands(run_cli, tmp_path: Path, _private_home: Path) -> None:
    png = tmp_path / "alice.png"
    segno.make(ALICE, error="m").save(str(png), scale=4)
    assert run_cli("totp", "app", "add", str(png))[:2] == (
        0,
        "added Example:alice@google.com (totp, SHA1, 6 digits)\n",
    )
    assert run_cli("totp", "app", "add", BOB)[0] == 0
    app_file = _private_home / "totp-app.json"
    assert app_file.exists()
    status, table, _ = run_cli("totp", "app", "codes", "--at", "59")
    assert status == 0
    assert table.splitlines() == [
        "ISSUER   ACCOUNT           CODE    LEFT",
        "Example  alice@google.com  996554  1 s",
        "Door     bob               755224  -",
    ]
    status, exported, _ = run_cli("totp", "app", "export", "--png", str(tmp_path / "e.png"))
    assert status == 0 and exported.startswith("otpauth-migration://offline?data=")
    other = tmp_path / "other.json"
    status, said, _ = run_cli("totp", "app", "import", exported.strip(), "--app", str(other))
    assert (status, said) == (0, "imported 2 accounts: Example:alice@google.com, Door:bob\n")
    from_png = tmp_path / "from-png.json"
    assert run_cli("totp", "app", "import", str(tmp_path / "e.png"), "--app", str(from_png))[0] == 0
    for path in (other, from_png):
        assert run_cli("totp", "app", "codes", "--at", "59", "--app", str(path))[1] == table


def test_the_demo_runs_and_shows_no_seed(run_cli) -> None:
    status, out, err = run_cli("totp", "demo", "--at", "1700000000")
    assert (status, err) == (0, "")
    assert "DEMO00000003" in out and "codes match: True" in out
    for secret in (b"12345678901234567890", b"12345678901234567890123456789012", bytes(range(20))):
        for form in (secret.decode("latin-1"), secret.hex(), base64.b32encode(secret).decode()):
            assert form.rstrip("=") not in out


@pytest.fixture(scope="module")
def error_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each bad invocation, with the files it needs made once (through the library)."""
    tmp_path = tmp_path_factory.mktemp("errors")
    batch = tmp_path / "ok"
    factory = TokenFactory(FakeClock(1_700_000_000), state_dir=tmp_path / "factory")
    tokens = factory.mint(1)
    factory.write_pskc(tokens, batch / "seeds.pskc", psk=bytes.fromhex(PSK_HEX))
    write_sealing_key(batch / "sealing.key", factory.sealing_key)
    token = str(batch / "GAHT00000001.token.json")
    tokens[0].save(token)
    tampered = tmp_path / "tampered.pskc"
    text = (batch / "seeds.pskc").read_text()
    mac = re.search(r"<pskc:ValueMAC>(.*?)</pskc:ValueMAC>", text).group(1)
    raw = bytearray(base64.b64decode(mac))
    raw[0] ^= 0x80
    tampered.write_text(text.replace(mac, base64.b64encode(raw).decode(), 1))
    not_png = tmp_path / "notes.txt"
    not_png.write_text("hello")
    blank_png = tmp_path / "blank.png"
    segno.make("x").save(str(blank_png), scale=1, dark="white")  # an all-white picture
    other_key = tmp_path / "other.key"
    other_key.write_text("00" * 32)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    buffer = io.BytesIO()
    segno.make("https://example.com").save(buffer, kind="png")
    web_png = tmp_path / "web.png"
    web_png.write_bytes(buffer.getvalue())
    mint_one = ["totp", "mint", "--count", "1", "--out", str(tmp_path / "new")]
    return {
        "bad uri": ["totp", "app", "add", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=12"],
        "bad scheme": ["totp", "app", "add", "https://example.com/"],
        "bad base32": ["totp", "code", "--secret", "not-base32!"],
        "short secret": ["totp", "code", "--secret", "JBSWY3DP"],
        "migration in add": ["totp", "app", "add", "otpauth-migration://offline?data=CjEK"],
        "bad migration": ["totp", "app", "import", "otpauth-migration://offline?data=%%"],
        "tampered pskc": ["totp", "pskc", str(tampered), "--psk-hex", PSK_HEX],
        "wrong psk": ["totp", "pskc", str(batch / "seeds.pskc"), "--psk-hex", "ff" * 16],
        "wrong password": ["totp", "pskc", str(batch / "seeds.pskc"), "--password", "guess"],
        "not pskc": ["totp", "pskc", token, "--psk-hex", PSK_HEX],
        "missing pskc": ["totp", "pskc", str(tmp_path / "none.pskc"), "--password", "x"],
        "not a png": ["totp", "app", "add", str(not_png)],
        "png without qr": ["totp", "app", "add", str(blank_png)],
        "qr not otpauth": ["totp", "app", "add", str(web_png)],
        "missing png": ["totp", "app", "add", str(tmp_path / "none.png")],
        "missing token": ["totp", "press", str(tmp_path / "none.token.json")],
        "wrong sealing key": ["totp", "press", token, "--sealing-key", str(other_key)],
        "corrupt token": ["totp", "press", str(corrupt)],
        "corrupt app": ["totp", "app", "codes", "--app", str(corrupt)],
        "no app yet": ["totp", "app", "codes", "--app", str(tmp_path / "none.json")],
        "export no app": ["totp", "app", "export", "--app", str(tmp_path / "none.json")],
        "bad time": ["totp", "code", "--secret", "JBSWY3DPEHPK3PXP", "--at", "soon"],
        "negative time": ["totp", "press", token, "--at", "-5"],
        "bad digits": ["totp", "code", "--secret", "JBSWY3DPEHPK3PXP", "--digits", "10"],
        "bad count": ["totp", "mint", "--count", "x", "--out", "o", "--password", "p"],
        "bad psk": [*mint_one, "--psk-hex", "abc"],
        "psk and pw": [*mint_one, "--psk-hex", PSK_HEX, "--password", "p"],
        "bad prefix": [*mint_one, "--prefix", "a-b", "--password", "p"],
        "bad drift": [*mint_one, "--password", "p", "--drift-ppm", "nan"],
        "existing batch": ["totp", "mint", "--count", "1", "--out", str(batch), "--password", "p"],
        "no command": ["totp"],
        "unknown command": ["totp", "frobnicate"],
    }  # fmt: skip


ERROR_CASES = [
    "bad uri", "bad scheme", "bad base32", "short secret", "migration in add", "bad migration",
    "tampered pskc", "wrong psk", "wrong password", "not pskc", "missing pskc", "not a png",
    "png without qr", "qr not otpauth", "missing png", "missing token", "wrong sealing key",
    "corrupt token", "corrupt app", "no app yet", "export no app", "bad time", "negative time",
    "bad digits", "bad count", "bad psk", "psk and pw", "bad prefix", "bad drift",
    "existing batch", "no command", "unknown command",
]  # fmt: skip


def test_every_error_case_is_run(error_cases: dict[str, list[str]]) -> None:
    assert sorted(ERROR_CASES) == sorted(error_cases)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_each_error_is_one_line_and_a_failing_exit(run_cli, error_cases, case: str) -> None:
    argv = error_cases[case]
    status, stdout, stderr = run_cli(*argv)
    assert status != 0
    assert stdout == ""
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("tokenbench") and "Traceback" not in stderr
    assert "internal error" not in stderr


def test_errors_leave_the_app_file_alone(run_cli, tmp_path: Path) -> None:
    app = tmp_path / "app.json"
    assert run_cli("totp", "app", "add", ALICE, "--app", str(app))[0] == 0
    before = app.read_bytes()
    assert run_cli("totp", "app", "add", "otpauth://totp/x?secret=1", "--app", str(app))[0] != 0
    assert app.read_bytes() == before
