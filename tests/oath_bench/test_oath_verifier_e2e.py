"""End to end: an AWS-style virtual MFA device whose seed lives in the emulated key's OATH applet.

CreateVirtualMFADevice hands out the seed as a QR code; the virtual app scans it; `tokenbench
totp app export NAME --to-key pcsc:READER` moves the account into the key (through pcscd and
the vpcd reader); EnableMFADevice takes two consecutive codes the key calculates, and the
sign-in a third. The verifier runs on its own fake clock; the bench turns that time into the
TOTP challenge the key answers (a YKOATH key holds no clock).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_capture import run_main

from tokenbench.bench.keytools.oath_key import open_oath
from tokenbench.bench.suites._oath import format_code, totp_challenge
from tokenbench.emulators.clock import FakeClock, SystemClock
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import IamService, open_account
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.store import Store

READER = "Virtual PCD 00 00"
TARGET = f"pcsc:{READER}"
START = 1_800_000_000.0
ACCOUNT_ID = "123456789012"


@pytest.fixture
def service(tmp_path: Path) -> IamService:
    store = Store.open(str(tmp_path / "iam.db"))
    clock = FakeClock(START)
    return IamService(
        store, SeedCipher(bytes(range(32))), clock, open_account(store, clock, ACCOUNT_ID)
    )


def key_code(account_name: bytes, when: float) -> str:
    """The code the key calculates for `when` (a fresh session each time, as a client does)."""
    with open_oath(TARGET) as session:
        return format_code(session.calculate(account_name, totp_challenge(int(when))))


def test_virtual_mfa_device_seeded_into_the_key(
    capsys, plug, emulated_key: EmulatedKey, service: IamService, tmp_path: Path
) -> None:
    service.create_user(UserName="alice")
    created = service.create_virtual_mfa_device(VirtualMFADeviceName="alice-key")[
        "VirtualMFADevice"
    ]
    serial = created["SerialNumber"]
    app_path = tmp_path / "app.json"
    app = VirtualTotpApp(SystemClock(), app_path)
    label = app.add_qr_png(created["QRCodePNG"]).label
    app.save()
    clock = service.clock
    assert isinstance(clock, FakeClock)
    with plug(emulated_key.nfc_card(), READER):
        status, out, err = run_main(
            capsys, "totp", "app", "export", label, "--app", str(app_path), "--to-key", TARGET
        )
        assert status == 0 and "matches" in out, err
        assert created["Base32StringSeed"] not in out + err
        name = label.encode()
        code1 = key_code(name, clock.now())
        clock.advance(30)
        code2 = key_code(name, clock.now())
        service.enable_mfa_device(
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=code1,
            AuthenticationCode2=code2,
        )
        clock.advance(30)
        code3 = key_code(name, clock.now())
        session = service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=code3)
        assert session.user_name == "alice" and session.serial_number == serial
        with pytest.raises(IamError) as replay:
            service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=code3)
        assert replay.value.code == "AccessDenied", "the same key code signed in twice"
        clock.advance(3600)
        with pytest.raises(IamError) as stale:
            service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=code2)
        assert stale.value.code == "AccessDenied", "an hour-old key code was accepted"
