"""Issue 14 item 8: secrets (PINs, PSKC passwords and keys) need not be on the command line.

Each secret option takes its value from a named environment variable, a 0600 file
(`--x-file`) or stdin (`--x -`); the command-line form still works but warns on stderr that
other users can read it. The secret itself never appears in any output.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pskc
import pytest
from cli_capture import run_main

PASSWORD = "hunter2-batch-pw"
PSK_HEX = "00112233445566778899aabbccddeeff"
PIN = "4711-otter"
WARNING = "visible to other users in the process list; use "


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_main(capsys, *argv, keep_warnings=True)


def private_file(path: Path, text: str, mode: int = 0o600) -> str:
    path.write_text(text + "\n")
    os.chmod(path, mode)
    return str(path)


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENBENCH_HOME", str(tmp_path / "home"))
    for name in ("TOKENBENCH_PIN", "TOKENBENCH_PSKC_PASSWORD", "TOKENBENCH_PSKC_PSK_HEX"):
        monkeypatch.delenv(name, raising=False)


# (option, environment variable, secret) for the PSKC key of `totp mint`, `totp pskc`, import
PSKC_SECRETS = [
    ("--password", "TOKENBENCH_PSKC_PASSWORD", PASSWORD),
    ("--psk-hex", "TOKENBENCH_PSKC_PSK_HEX", PSK_HEX),
]
FORMS = ["env", "file", "stdin", "argv"]


def secret_args(
    form: str, flag: str, env: str, secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The command-line words (and environment or stdin) that hand over `secret` by `form`."""
    if form == "env":
        monkeypatch.setenv(env, secret)
        return []
    if form == "file":
        return [f"{flag}-file", private_file(tmp_path / f"{env}.txt", secret)]
    if form == "stdin":
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        return [flag, "-"]
    return [flag, secret]


def check_warning(form: str, flag: str, env: str, err: str) -> None:
    if form == "argv":
        assert f"tokenbench: warning: {flag} on the command line is {WARNING}" in err
        assert f"{flag}-file / {env} / {flag} -" in err
    else:
        assert "warning" not in err


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("flag", "env", "secret"), PSKC_SECRETS, ids=["password", "psk"])
def test_totp_mint_pskc_and_import_take_the_secret_every_way(
    capsys, tmp_path, monkeypatch, form, flag, env, secret
) -> None:
    out = tmp_path / "batch"
    words = secret_args(form, flag, env, secret, tmp_path, monkeypatch)
    status, stdout, err = run(capsys, "totp", "mint", "--count", "2", "--out", str(out), *words)
    assert status == 0, err
    check_warning(form, flag, env, err)
    outputs = [stdout, err]
    container = pskc.PSKC(str(out / "seeds.pskc"))  # the batch is sealed under this very secret
    if flag == "--password":
        container.encryption.derive_key(secret)
    else:
        container.encryption.key = bytes.fromhex(secret)
    assert all(len(key.secret or b"") == 20 for key in container.keys)

    words = secret_args(form, flag, env, secret, tmp_path, monkeypatch)
    status, stdout, err = run(capsys, "totp", "pskc", str(out / "seeds.pskc"), *words)
    assert status == 0 and "2 keys decrypted and MAC-checked" in stdout, err
    check_warning(form, flag, env, err)
    outputs += [stdout, err]

    words = secret_args(form, flag, env, secret, tmp_path, monkeypatch)
    store = ["--store", str(tmp_path / "iam.db"), "--kek-file", str(tmp_path / "kek")]
    status, stdout, err = run(
        capsys, "iam", "import-seeds", str(out / "seeds.pskc"), *store, *words
    )
    assert status == 0, err
    assert json.loads(stdout)["SerialNumbers"] == ["GAHT00000001", "GAHT00000002"]
    check_warning(form, flag, env, err)
    outputs += [stdout, err]
    assert not any(secret in text for text in outputs)


def test_a_secret_file_others_can_read_is_refused(capsys, tmp_path) -> None:
    loose = private_file(tmp_path / "pw.txt", PASSWORD, mode=0o644)
    argv = ["totp", "mint", "--count", "1", "--out", str(tmp_path / "b"), "--password-file", loose]
    status, out, err = run(capsys, *argv)
    assert (status, out) == (1, "")
    assert err == (
        f"tokenbench: error: --password-file {loose} is accessible to others (mode 644); use 0600\n"
    )
    assert PASSWORD not in err and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["totp", "pskc", "x.pskc"], "give the PSKC password (--password-file / "),
        (["totp", "mint", "--count", "1", "--out", "o", "--password-file", "none"], "cannot read"),
        (
            ["totp", "mint", "--count", "1", "--out", "o", "--password", "-"],
            "nothing on stdin for --password",
        ),
        (["totp", "pskc", "x", "--password", "pw", "--psk-hex-file", "f"], "not allowed with"),
    ],
    ids=["none given", "missing file", "empty stdin", "two at once"],
)
def test_missing_or_conflicting_secrets_are_one_line(
    capsys, tmp_path, monkeypatch, argv, message
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    status, out, err = run(capsys, *argv)
    assert status != 0 and out == ""
    lines = [line for line in err.splitlines() if "warning" not in line]
    assert len(lines) == 1 and message in lines[0], err


def test_both_pskc_variables_set_is_refused(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOKENBENCH_PSKC_PASSWORD", PASSWORD)
    monkeypatch.setenv("TOKENBENCH_PSKC_PSK_HEX", PSK_HEX)
    status, _, err = run(capsys, "totp", "pskc", str(tmp_path / "x.pskc"))
    assert status == 1 and "unset one" in err and PASSWORD not in err


@pytest.mark.parametrize("form", FORMS)
def test_key_info_takes_the_pin_every_way(capsys, tmp_path, monkeypatch, form) -> None:
    """A fresh emulated key has no PIN: reaching "no PIN is set" proves the PIN was read."""
    words = secret_args(form, "--pin", "TOKENBENCH_PIN", PIN, tmp_path, monkeypatch)
    status, out, err = run(capsys, "key", "creds", "--target", "emu:", *words)
    assert status == 1 and err.endswith("tokenbench: error: no PIN is set on this key\n"), err
    check_warning(form, "--pin", "TOKENBENCH_PIN", err)
    assert PIN not in out + err


def test_key_creds_without_any_pin_says_where_to_put_it(capsys) -> None:
    status, _, err = run(capsys, "key", "creds", "--target", "emu:")
    assert status == 1
    safe_forms = "--pin-file / TOKENBENCH_PIN / --pin -"
    assert err == f"tokenbench: error: key creds needs the key's PIN: {safe_forms}\n"


@pytest.mark.parametrize("form", FORMS)
def test_bench_run_takes_the_pin_every_way(capsys, tmp_path, monkeypatch, form) -> None:
    """The runner itself (pytest over the suites) is replaced: this checks only the hand-over."""
    seen: list[str | None] = []

    def execute(options):
        seen.append(options.pin)
        raise SystemExit(0)

    monkeypatch.setattr("tokenbench.bench.runner.execute", execute)
    words = secret_args(form, "--pin", "TOKENBENCH_PIN", PIN, tmp_path, monkeypatch)
    status, out, err = run(capsys, "bench", "run", "--target", "emu:", *words)
    assert status == 0 and seen == [PIN]
    check_warning(form, "--pin", "TOKENBENCH_PIN", err)
    assert PIN not in out + err
