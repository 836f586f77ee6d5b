"""A vendor-seeded hardware token through `tokenbench serve`: its PSKC seed file imported with
`tokenbench iam import-seeds` into the server's own store, the token (an emulated one, its
crystal drifting +50 ppm since manufacture) enabled with boto3, signed in with, then out of
step a year later until ResyncMFADevice, as AWS documents for drifting tokens."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from served import Served, ServedClock, served

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.factory import TokenFactory
from tokenbench.emulators.totp.token import HardwareTotpToken

YEAR = 365.25 * 86400
VENDOR_PASSWORD = "vendor-secret"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as running:
        yield running


def _press_twice(token: HardwareTotpToken, local: FakeClock) -> tuple[str, str]:
    """Two consecutive codes as a person reads them (press, wait for the display to change)."""
    first = token.press()
    for _ in range(2 * token.period):
        local.advance(1)
        second = token.press()
        if second != first:
            return first, second
    raise AssertionError("the token's display never changed")


def test_drifting_token_imported_enabled_and_resynced(server: Served, tmp_path: Path) -> None:
    remote = ServedClock(server)
    local = FakeClock(remote.now() - 2 * YEAR)  # the token's world: made two years ago
    factory = TokenFactory(local, prefix="GAHT")
    (token,) = factory.mint(1, drift_ppm=50)
    seed_file = tmp_path / "batch.pskcxml"
    factory.write_pskc([token], seed_file, password=VENDOR_PASSWORD)
    local.set(remote.now())
    password_file = tmp_path / "vendor.pw"
    password_file.write_text(VENDOR_PASSWORD + "\n")
    password_file.chmod(0o600)
    imported = subprocess.run(
        [sys.executable, "-m", "tokenbench.bench.cli", "iam", "import-seeds", str(seed_file),
         "--password-file", str(password_file), "--store", str(tmp_path / "iam.db")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr

    iam, sts_admin = server.client("iam"), server.client("sts")
    assert sts_admin.get_caller_identity()["Arn"].endswith(":root")
    iam.create_user(UserName="bob")
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob_sts = server.client("sts", (key["AccessKeyId"], key["SecretAccessKey"]))

    def sync_server() -> None:
        remote.set(local.now())

    def with_two_codes(operation: str) -> None:
        code1, code2 = _press_twice(token, local)
        sync_server()
        getattr(iam, operation)(
            UserName="bob",
            SerialNumber=token.serial,
            AuthenticationCode1=code1,
            AuthenticationCode2=code2,
        )

    def sign_in() -> None:
        local.advance(60)
        sync_server()
        bob_sts.get_session_token(SerialNumber=token.serial, TokenCode=token.press())

    with_two_codes("enable_mfa_device")
    sign_in()
    local.advance(YEAR)  # ~53 more steps ahead: out of the sign-in window
    sync_server()
    with pytest.raises(ClientError) as refused:
        sign_in()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    local.advance(60)
    with_two_codes("resync_mfa_device")
    sign_in()


def test_a_serial_never_imported_is_refused(server: Served) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="carol")
    with pytest.raises(ClientError) as refused:
        iam.enable_mfa_device(
            UserName="carol",
            SerialNumber="GAHT99999999",
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )
    assert refused.value.response["Error"]["Code"] == "NoSuchEntity"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
