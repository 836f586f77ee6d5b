"""The verifier against the project's emulated devices: a virtual authenticator app that scans
the enrolment QR code, and hardware tokens minted by `TokenFactory` (their PSKC seed file
imported, their crystals drifting)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.factory import TokenFactory
from tokenbench.emulators.totp.token import HardwareTotpToken
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.seeds import SeedImportError

YEAR = 365.25 * 86400
PSK = bytes(range(16))


def press_twice(token: HardwareTotpToken, clock: FakeClock) -> tuple[str, str]:
    """Two consecutive codes, as a person reads them: one code, then the next one to appear
    (pressing again each second until it changes; a token's steps follow its own clock)."""
    first = token.press()
    second = first
    for _ in range(2 * token.period):
        clock.advance(1)
        second = token.press()
        if second != first:
            break
    assert first and second and first != second
    return first, second


def with_two_codes(
    operation: Callable[..., object], user: str, token: HardwareTotpToken, clock: FakeClock
) -> None:
    """EnableMFADevice or ResyncMFADevice with two consecutive codes read off the token."""
    code1, code2 = press_twice(token, clock)
    operation(
        UserName=user,
        SerialNumber=token.serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )


def test_virtual_app_scans_qr_enables_and_signs_in(service: IamService) -> None:
    service.create_user(UserName="alice")
    created = service.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")
    device = created["VirtualMFADevice"]
    app = VirtualTotpApp(service.clock)
    account = app.add_qr_png(device["QRCodePNG"])
    code1 = app.code(account)
    service.clock.advance(30)
    code2 = app.code(account)
    service.enable_mfa_device(
        UserName="alice",
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )
    service.clock.advance(30)
    session = service.sign_in(
        UserName="alice", SerialNumber=device["SerialNumber"], TokenCode=app.code(account)
    )
    assert session.user_name == "alice"
    with pytest.raises(IamError) as info:  # the same code again: a replay
        service.sign_in(
            UserName="alice", SerialNumber=device["SerialNumber"], TokenCode=app.code(account)
        )
    assert info.value.code == "AccessDenied"


def _factory_batch(service: IamService, tmp_path: Path, **mint) -> tuple[list, Path]:
    """Tokens made two years before the service's now, and their seed file."""
    clock = service.clock
    clock.advance(-2 * YEAR)
    factory = TokenFactory(clock, prefix="GAHT")
    tokens = factory.mint(3, **mint)
    path = tmp_path / "batch.pskcxml"
    factory.write_pskc(tokens, path, password="vendor-secret")
    clock.advance(2 * YEAR)
    return tokens, path


def test_factory_pskc_import_and_drifting_token(service: IamService, tmp_path: Path) -> None:
    tokens, path = _factory_batch(service, tmp_path, drift_ppm=50)
    imported = service.import_seed_file(path, password="vendor-secret")
    assert imported["SerialNumbers"] == [t.serial for t in tokens]
    token = tokens[0]
    ahead = token.clock.now() - service.clock.now()
    assert 3100 < ahead < 3200  # ~105 steps ahead after two years at +50 ppm
    service.create_user(UserName="alice")
    with_two_codes(service.enable_mfa_device, "alice", token, service.clock)
    service.clock.advance(60)
    service.sign_in(UserName="alice", SerialNumber=token.serial, TokenCode=token.press())
    # a year on, the token is ~53 steps further ahead: sign-in fails until a resync
    service.clock.advance(YEAR)
    with pytest.raises(IamError):
        service.sign_in(UserName="alice", SerialNumber=token.serial, TokenCode=token.press())
    service.clock.advance(60)
    with_two_codes(service.resync_mfa_device, "alice", token, service.clock)
    service.clock.advance(60)
    service.sign_in(UserName="alice", SerialNumber=token.serial, TokenCode=token.press())


def test_factory_pskc_wrong_password_imports_nothing(service: IamService, tmp_path: Path) -> None:
    _, path = _factory_batch(service, tmp_path)
    with pytest.raises(SeedImportError, match="wrong password"):
        service.import_seed_file(path, password="guess")
    assert service.store.devices(kinds=["hardware"]) == []


def test_factory_pskc_with_pre_shared_key(service: IamService, tmp_path: Path) -> None:
    clock = service.clock
    factory = TokenFactory(clock, prefix="GAPS")
    tokens = factory.mint(2, algorithm="SHA256", digits=8, period=60)
    path = tmp_path / "psk.pskcxml"
    factory.write_pskc(tokens, path, psk=PSK)
    service.import_seed_file(path, psk=PSK)
    device = service.store.device(tokens[1].serial)
    assert (device.algorithm, device.digits, device.period) == ("SHA256", 8, 60)
    service.create_user(UserName="bob")
    # imported as they are, but IAM's AuthenticationCode is 6 digits: 8-digit codes are refused
    with pytest.raises(IamError) as info:
        with_two_codes(service.enable_mfa_device, "bob", tokens[1], clock)
    assert info.value.code == "ValidationError"
    six = factory.mint(1, algorithm="SHA256", digits=6, period=60)
    factory.write_pskc(six, tmp_path / "six.pskcxml", psk=PSK)
    service.import_seed_file(tmp_path / "six.pskcxml", psk=PSK)
    with_two_codes(service.enable_mfa_device, "bob", six[0], clock)
