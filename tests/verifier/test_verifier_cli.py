"""`tokenbench iam ...` through `bench.cli.main`: AWS CLI shapes, error lines, exit codes."""

from __future__ import annotations

import base64
import io
import json
import re
import stat
from pathlib import Path

import pskc
import pyotp
import pytest
import zxingcpp
from cli_capture import without_secret_warnings
from PIL import Image
from sqlalchemy import create_engine
from verifier_helpers import pg_url

from tokenbench.bench.cli import main
from tokenbench.emulators.clock import SystemClock
from tokenbench.verifier.seeds import PSKC_TOTP

# The warning for a secret given on the command line (tested in tests/bench/test_secret_input.py);
# these tests pass made-up secrets that way for brevity, so it is set aside here.
AWS_ERROR = re.compile(
    r"An error occurred \((?P<code>\w+)\) when calling the (?P<op>\w+) operation: [^\n]+\n"
)


class Cli:
    """Runs commands against one store and key file, capturing what a terminal would show."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.base = ["--store", store, "--kek-file", str(tmp_path / "kek")]
        self.seen: list[str] = []

    def run(self, *argv: str) -> tuple[int, str, str]:
        verb, *rest = argv
        status = main(["iam", verb, *self.base, *rest])
        out, err = self.capsys.readouterr()
        err = without_secret_warnings(err)
        self.seen += [out, err]
        return status, out, err

    def ok(self, *argv: str) -> dict:
        status, out, err = self.run(*argv)
        assert (status, err) == (0, ""), err
        return json.loads(out) if out.strip() else {}

    def fails(self, code: str, operation: str, *argv: str) -> str:
        status, out, err = self.run(*argv)
        match = AWS_ERROR.fullmatch(err)
        assert status == 254 and out == "" and match, err
        assert (match["code"], match["op"]) == (code, operation)
        return err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> Cli:
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path, capsys, str(tmp_path / "iam.db"))


def codes(seed: str, *offsets: int) -> list[str]:
    now = SystemClock().now()
    return [pyotp.TOTP(seed).at(now + 30 * k) for k in offsets]


def enrol(cli: Cli, user: str, name: str) -> tuple[str, str]:
    outfile = cli.tmp_path / f"{name}.seed"
    created = cli.ok(
        "create-virtual-mfa-device",
        "--virtual-mfa-device-name", name,
        "--outfile", str(outfile),
        "--bootstrap-method", "Base32StringSeed",
    )  # fmt: skip
    serial = created["VirtualMFADevice"]["SerialNumber"]
    assert stat.S_IMODE(outfile.stat().st_mode) == 0o600
    seed = outfile.read_text()
    code1, code2 = codes(seed, 0, 1)
    cli.ok(
        "enable-mfa-device", "--user-name", user, "--serial-number", serial,
        "--authentication-code1", code1, "--authentication-code2", code2,
    )  # fmt: skip
    return serial, seed


def test_virtual_device_flow(cli: Cli) -> None:
    assert cli.ok("create-user", "--user-name", "alice")["User"]["UserName"] == "alice"
    serial, seed = enrol(cli, "alice", "alice-phone")
    assert set(cli.ok("create-virtual-mfa-device", "--virtual-mfa-device-name", "x",
                      "--outfile", str(cli.tmp_path / "x.png"),
                      "--bootstrap-method", "QRCodePNG")) == {"VirtualMFADevice"}  # fmt: skip
    (barcode,) = zxingcpp.read_barcodes(
        Image.open(io.BytesIO((cli.tmp_path / "x.png").read_bytes()))
    )
    assert barcode.text.startswith("otpauth://totp/x@")
    listed = cli.ok("list-mfa-devices", "--user-name", "alice")
    (entry,) = listed["MFADevices"]
    assert (
        set(entry) == {"UserName", "SerialNumber", "EnableDate"} and entry["SerialNumber"] == serial
    )
    assigned = cli.ok("list-virtual-mfa-devices", "--assignment-status", "Assigned")
    assert [d["SerialNumber"] for d in assigned["VirtualMFADevices"]] == [serial]
    unassigned = cli.ok("list-virtual-mfa-devices", "--assignment-status", "Unassigned")
    assert len(unassigned["VirtualMFADevices"]) == 1
    (code,) = codes(seed, 2)
    session = cli.ok("sign-in", "--user-name", "alice", "--serial-number", serial,
                     "--token-code", code)  # fmt: skip
    assert set(session) == {"Credentials"}  # STS's shape, nothing more
    assert set(session["Credentials"]) == {
        "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"
    }  # fmt: skip
    cli.fails("AccessDenied", "GetSessionToken", "sign-in", "--user-name", "alice",
              "--serial-number", serial, "--token-code", code)  # fmt: skip
    cli.fails("DeleteConflict", "DeleteVirtualMFADevice", "delete-virtual-mfa-device",
              "--serial-number", serial)  # fmt: skip
    cli.ok("deactivate-mfa-device", "--user-name", "alice", "--serial-number", serial)
    cli.ok("delete-virtual-mfa-device", "--serial-number", serial)
    assert cli.ok("list-mfa-devices", "--user-name", "alice")["MFADevices"] == []
    assert all(seed not in text for text in cli.seen)


def test_error_lines(cli: Cli) -> None:
    cli.ok("create-user", "--user-name", "alice")
    cli.fails("EntityAlreadyExists", "CreateUser", "create-user", "--user-name", "alice")
    cli.fails("NoSuchEntity", "EnableMFADevice", "enable-mfa-device", "--user-name", "alice",
              "--serial-number", "arn:aws:iam::123456789012:mfa/none",
              "--authentication-code1", "123456", "--authentication-code2", "234567")  # fmt: skip
    cli.fails(
        "ValidationError", "ListVirtualMFADevices", "list-virtual-mfa-devices"
    ) if False else None
    cli.fails("ValidationError", "CreateVirtualMFADevice", "create-virtual-mfa-device",
              "--virtual-mfa-device-name", "bad name", "--outfile", str(cli.tmp_path / "o"),
              "--bootstrap-method", "QRCodePNG")  # fmt: skip
    assert not (cli.tmp_path / "o").exists()


def test_bad_arguments_are_one_line(cli: Cli) -> None:
    with pytest.raises(SystemExit) as info:
        cli.run("enable-mfa-device", "--user-name", "alice")
    assert info.value.code == 2
    err = cli.capsys.readouterr().err
    assert err.count("\n") == 1 and "required" in err
    with pytest.raises(SystemExit):
        cli.run("create-virtual-mfa-device", "--virtual-mfa-device-name", "n", "--outfile", "f",
                "--bootstrap-method", "Nope")  # fmt: skip
    assert cli.capsys.readouterr().err.count("\n") == 1


def test_self_service_as_user(cli: Cli) -> None:
    cli.ok("create-user", "--user-name", "alice")
    first, seed = enrol(cli, "alice", "first")
    outfile = cli.tmp_path / "second.seed"
    created = cli.ok("create-virtual-mfa-device", "--virtual-mfa-device-name", "second",
                     "--outfile", str(outfile),
                     "--bootstrap-method", "Base32StringSeed")  # fmt: skip
    second = created["VirtualMFADevice"]["SerialNumber"]
    code1, code2 = codes(outfile.read_text(), 0, 1)
    enable = ("enable-mfa-device", "--as-user", "alice", "--serial-number", second,
              "--authentication-code1", code1, "--authentication-code2", code2)  # fmt: skip
    cli.fails("AccessDenied", "EnableMFADevice", *enable)
    (code,) = codes(seed, 2)
    cli.ok(*enable, "--mfa-serial-number", first, "--mfa-token-code", code)
    assert len(cli.ok("list-mfa-devices", "--as-user", "alice")["MFADevices"]) == 2


def _pskc(path: Path, password: str) -> None:
    container = pskc.PSKC()
    container.add_key(serial="GAHT00000001", secret=b"\x07" * 20, algorithm=PSKC_TOTP,
                      time_interval=30, response_length=6)  # fmt: skip
    container.encryption.setup_pbkdf2(password, iterations=1000)
    container.write(str(path))


def test_import_seeds(cli: Cli) -> None:
    path = cli.tmp_path / "tokens.pskcxml"
    _pskc(path, "pw")
    status, out, err = cli.run("import-seeds", str(path), "--password", "wrong")
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("tokenbench: error: nothing imported from") and "wrong password" in err
    imported = cli.ok("import-seeds", str(path), "--password", "pw")
    assert imported == {"SerialNumbers": ["GAHT00000001"]}
    cli.ok("create-user", "--user-name", "bob")
    seed = base64.b32encode(b"\x07" * 20).decode()
    code1, code2 = codes(seed, 0, 1)
    cli.ok("enable-mfa-device", "--user-name", "bob", "--serial-number", "GAHT00000001",
           "--authentication-code1", code1, "--authentication-code2", code2)  # fmt: skip
    cli.fails("InvalidInput", "TagMFADevice", "tag-mfa-device", "--serial-number", "GAHT00000001",
              "--tags", "Key=a,Value=b")  # fmt: skip


def test_tags(cli: Cli) -> None:
    created = cli.ok("create-virtual-mfa-device", "--virtual-mfa-device-name", "t",
                     "--outfile", str(cli.tmp_path / "t"), "--bootstrap-method", "QRCodePNG",
                     "--tags", "Key=team,Value=blue")  # fmt: skip
    serial = created["VirtualMFADevice"]["SerialNumber"]
    cli.ok("tag-mfa-device", "--serial-number", serial, "--tags", "Key=env,Value=lab")
    tags = cli.ok("list-mfa-device-tags", "--serial-number", serial)["Tags"]
    assert tags == [{"Key": "env", "Value": "lab"}, {"Key": "team", "Value": "blue"}]
    cli.ok("untag-mfa-device", "--serial-number", serial, "--tag-keys", "team")
    assert len(cli.ok("list-mfa-device-tags", "--serial-number", serial)["Tags"]) == 1
    status, _, err = cli.run("tag-mfa-device", "--serial-number", serial, "--tags", "oops")
    assert status == 1 and err.count("\n") == 1


def test_unreachable_store_is_one_line(cli: Cli) -> None:
    cli.base[1] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    status, _, err = cli.run("list-users")
    assert (
        status == 1
        and err.startswith("tokenbench: error: cannot open store")
        and (err.count("\n") == 1)
    )


def test_postgres_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    schema = f"tbvcli_{tmp_path.name[-8:].lower().replace('-', '_')}"
    engine = create_engine(pg_url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{pg_url()}?options=-csearch_path%3D{schema}"
        cli = Cli(tmp_path, capsys, url)
        cli.ok("create-user", "--user-name", "alice")
        serial, _ = enrol(cli, "alice", "pg-phone")
        assert (
            cli.ok("list-mfa-devices", "--user-name", "alice")["MFADevices"][0]["SerialNumber"]
            == serial
        )
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_wrong_kek_is_refused_before_use(cli: Cli) -> None:
    """A key the store's key-check value rejects never reaches a seed (see test_verifier_kek)."""
    cli.ok("create-user", "--user-name", "alice")
    outfile = cli.tmp_path / "p.seed"
    created = cli.ok("create-virtual-mfa-device", "--virtual-mfa-device-name", "p",
                     "--outfile", str(outfile),
                     "--bootstrap-method", "Base32StringSeed")  # fmt: skip
    another = cli.tmp_path / "another-kek"
    another.write_text((bytes([7]) * 32).hex())
    another.chmod(0o600)
    cli.base[3] = str(another)
    code1, code2 = codes(outfile.read_text(), 0, 1)
    status, out, err = cli.run("enable-mfa-device", "--user-name",
                    "alice", "--serial-number", created["VirtualMFADevice"]["SerialNumber"],
                    "--authentication-code1", code1, "--authentication-code2", code2)  # fmt: skip
    assert (status, out, err.count("\n")) == (1, "", 1)
    assert f"key file {another} is not the key-encryption key" in err


def test_group_without_verb(cli: Cli) -> None:
    with pytest.raises(SystemExit) as info:
        main(["iam"])
    assert info.value.code == 2
    assert cli.capsys.readouterr().err.count("\n") == 1


def test_at_moves_the_cli_to_another_time(cli: Cli) -> None:
    """`--at` rehearses another moment: codes made for that moment pass there, not now, and the
    STS session it opens expires by that moment's clock."""
    at = 1_800_000_000.0
    cli.ok("create-user", "--user-name", "later")
    outfile = cli.tmp_path / "later.seed"
    serial = cli.ok(
        "create-virtual-mfa-device", "--virtual-mfa-device-name", "later-phone",
        "--outfile", str(outfile), "--bootstrap-method", "Base32StringSeed", "--at", str(at),
    )["VirtualMFADevice"]["SerialNumber"]  # fmt: skip
    totp = pyotp.TOTP(outfile.read_text().strip())
    cli.ok("enable-mfa-device", "--user-name", "later", "--serial-number", serial,
           "--authentication-code1", totp.at(at - 30), "--authentication-code2", totp.at(at),
           "--at", str(at))  # fmt: skip
    cli.fails("AccessDenied", "GetSessionToken", "sign-in", "--user-name", "later",
              "--serial-number", serial, "--token-code", totp.at(at + 60))  # fmt: skip
    session = cli.ok("sign-in", "--user-name", "later", "--serial-number", serial,
                     "--token-code", totp.at(at + 60), "--at", str(at + 60),
                     "--duration-seconds", "900")  # fmt: skip
    assert session["Credentials"]["Expiration"].startswith("2027-01-15T08:16:00")


def test_at_refuses_what_is_not_a_time(cli: Cli) -> None:
    with pytest.raises(SystemExit):
        cli.run("list-users", "--at", "yesterday")


def test_list_verbs_page_like_the_aws_cli(cli: Cli) -> None:
    """`--max-items` / `--starting-token` as the AWS CLI spells them; `NextToken` while more
    remain, and every user exactly once across the pages."""
    names = [f"paged{n}" for n in range(5)]
    for name in names:
        cli.ok("create-user", "--user-name", name)
    seen: list[str] = []
    page = cli.ok("list-users", "--max-items", "2")
    while True:
        assert "IsTruncated" not in page and "Marker" not in page
        assert len(page["Users"]) <= 2
        seen += [user["UserName"] for user in page["Users"]]
        if "NextToken" not in page:
            break
        page = cli.ok("list-users", "--max-items", "2", "--starting-token", page["NextToken"])
    assert sorted(seen) == names
    cli.fails("ValidationError", "ListUsers", "list-users", "--starting-token", "not-a-token")
    with pytest.raises(SystemExit):
        cli.run("list-users", "--max-items", "0")
