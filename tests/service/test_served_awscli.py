"""The AWS CLI (the real `aws` from the registry) against `tokenbench serve`.

`AWS_SHARED_CREDENTIALS_FILE` points at the file `serve --admin-credentials` wrote, as the
README tells a user to do; every refusal is the CLI's own line and exit status.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from served import Served, ServedClock

from tokenbench.emulators.totp.app import VirtualTotpApp

AWS_CLI_SERVICE_ERROR = 255  # awscli v1's status for a service error (v2 uses 254)


def _aws_binary() -> str:
    found = shutil.which("aws", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.fail("the AWS CLI is not installed: `make test` installs it (the dev extra)")
    return found


class Aws:
    """`aws --endpoint-url ...` with one credentials file (a profile per identity)."""

    def __init__(self, server: Served, credentials: Path) -> None:
        self.server = server
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def run(self, *args: str, profile: str = "default") -> subprocess.CompletedProcess[str]:
        command = [_aws_binary(), "--endpoint-url", self.server.url, "--profile", profile, *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=60)

    def ok(self, *args: str, profile: str = "default") -> dict:
        done = self.run(*args, profile=profile)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}


def test_list_users_works_at_once(server: Served) -> None:
    aws = Aws(server, server.credentials_file)
    assert "Users" in aws.ok("iam", "list-users")
    identity = aws.ok("sts", "get-caller-identity")
    assert identity["Arn"].endswith(":root")


def test_enrol_and_sign_in_with_the_cli(server: Served, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    shutil.copy(server.credentials_file, credentials)
    aws = Aws(server, credentials)
    aws.ok("iam", "create-user", "--user-name", "cli-alice")
    key = aws.ok("iam", "create-access-key", "--user-name", "cli-alice")["AccessKey"]
    with credentials.open("a") as out:
        out.write(
            f"\n[alice]\naws_access_key_id = {key['AccessKeyId']}\n"
            f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        )
    seed_file = tmp_path / "seed.txt"
    created = aws.ok(
        "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "cli-phone",
        "--outfile", str(seed_file), "--bootstrap-method", "Base32StringSeed",
        profile="alice",
    )["VirtualMFADevice"]  # fmt: skip
    serial = created["SerialNumber"]
    clock = ServedClock(server)
    app = VirtualTotpApp(clock)
    account = app.add_secret(seed_file.read_text().strip(), "tokenbench", "cli-phone")
    first = app.code(account)
    clock.advance(30)
    second = app.code(account)
    aws.ok(
        "iam", "enable-mfa-device", "--user-name", "cli-alice", "--serial-number", serial,
        "--authentication-code1", first, "--authentication-code2", second, profile="alice",
    )  # fmt: skip
    clock.advance(30)
    code = app.code(account)
    session = aws.ok(
        "sts", "get-session-token", "--serial-number", serial, "--token-code", code,
        "--duration-seconds", "900", profile="alice",
    )["Credentials"]  # fmt: skip
    assert set(session) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    replay = aws.run(
        "sts", "get-session-token", "--serial-number", serial, "--token-code", code,
        profile="alice",
    )  # fmt: skip
    assert replay.returncode == AWS_CLI_SERVICE_ERROR
    assert replay.stderr.strip() == (
        "An error occurred (AccessDenied) when calling the GetSessionToken operation: "
        "MultiFactorAuthentication failed with invalid MFA one time pass code."
    )
    listed = aws.ok("iam", "list-mfa-devices", "--user-name", "cli-alice", profile="alice")
    assert [d["SerialNumber"] for d in listed["MFADevices"]] == [serial]


def test_qr_code_png_outfile_is_a_png(server: Served, tmp_path: Path) -> None:
    aws = Aws(server, server.credentials_file)
    outfile = tmp_path / "qr.png"
    aws.ok(
        "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "cli-qr",
        "--outfile", str(outfile), "--bootstrap-method", "QRCodePNG",
    )  # fmt: skip
    png = outfile.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    app = VirtualTotpApp(ServedClock(server))
    scanned = app.add_qr_png(png)
    assert (
        len(base64.b32decode(scanned.secret_base32 + "=" * (-len(scanned.secret_base32) % 8))) == 40
    )


def test_bad_signature_is_the_cli_error(server: Served, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    key_id = server.admin_key[0]
    credentials.write_text(
        f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {'x' * 40}\n"
    )
    done = Aws(server, credentials).run("iam", "list-users")
    assert done.returncode == AWS_CLI_SERVICE_ERROR
    assert "(SignatureDoesNotMatch) when calling the ListUsers operation" in done.stderr


def test_unknown_key_is_the_cli_error(server: Served, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = AKIAUNKNOWNUNKNOWN00\naws_secret_access_key = {'y' * 40}\n"
    )
    done = Aws(server, credentials).run("sts", "get-caller-identity")
    assert done.returncode == AWS_CLI_SERVICE_ERROR
    assert done.stderr.strip() == (
        "An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity "
        "operation: The security token included in the request is invalid."
    )
