"""Seed import (PSKC, CSV), all-or-nothing, and seeds sealed at rest under the KEK."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

import pskc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from verifier_helpers import DATA, Authenticator, b32

from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.seeds import (
    KEK_ENV,
    PSKC_TOTP,
    SeedCipher,
    SeedError,
    SeedImportError,
    load_kek,
    read_csv,
    read_pskc,
    read_seed_file,
)

RFC_PSK = bytes.fromhex("12345678901234567890123456789012")
RFC_SECRET = b"12345678901234567890"
PASSWORD = "correct horse battery staple"


def write_totp_pskc(
    path: Path,
    serials: list[str],
    *,
    password: str | None = PASSWORD,
    psk: bytes | None = None,
    digits: int = 6,
    period: int = 30,
) -> dict[str, bytes]:
    """A vendor-style TOTP seed file; returns serial -> secret."""
    container = pskc.PSKC()
    secrets_by_serial = {}
    for number, serial in enumerate(serials):
        secret = bytes([number + 1]) * 20
        container.add_key(
            id=f"key{number}",
            serial=serial,
            manufacturer="Tokenbench Vendor",
            secret=secret,
            algorithm=PSKC_TOTP,
            time_interval=period,
            response_length=digits,
        )
        secrets_by_serial[serial] = secret
    if psk is not None:
        container.encryption.setup_preshared_key(key=psk)
    elif password is not None:
        container.encryption.setup_pbkdf2(password, iterations=1000)
    container.write(str(path))
    return secrets_by_serial


def flip_value_mac(path: Path, occurrence: int) -> None:
    """Flip one bit in the `occurrence`-th ValueMAC of a PSKC file."""
    text = path.read_text()
    matches = list(re.finditer(r"<pskc:ValueMAC>([^<]+)</pskc:ValueMAC>", text))
    match = matches[occurrence]
    raw = bytearray(base64.b64decode(match.group(1)))
    raw[0] ^= 0x01
    text = text[: match.start(1)] + base64.b64encode(bytes(raw)).decode() + text[match.end(1) :]
    path.write_text(text)


# --- PSKC -----------------------------------------------------------------------------------


def test_rfc6030_figure6_pre_shared_key() -> None:
    (seed,) = read_pskc(DATA / "figure6.pskcxml", psk=RFC_PSK, allow_hotp=True)
    assert seed.serial == "987654321"
    assert seed.secret == bytes.fromhex("3132333435363738393031323334353637383930")
    assert seed.params.digits == 8 and seed.manufacturer == "Manufacturer"


def test_rfc6030_figure7_pbkdf2_password() -> None:
    (seed,) = read_pskc(DATA / "figure7.pskcxml", password="qwerty", allow_hotp=True)
    assert seed.secret == RFC_SECRET and seed.manufacturer == "TokenVendorAcme"


def test_rfc6030_plain_file_refused() -> None:
    # Figure 2 has no device serial and its key ID "12345678" is shorter than an IAM serial
    # (9+); its plain secret is also only "1234", far below RFC 4226's minimum.
    with pytest.raises(SeedImportError, match=r"key package 1: serial must be 9-64"):
        read_pskc(DATA / "figure2.pskcxml", allow_hotp=True)


def test_hotp_keys_are_not_imported() -> None:
    with pytest.raises(SeedImportError, match="not TOTP"):
        read_pskc(DATA / "figure6.pskcxml", psk=RFC_PSK)


def test_wrong_password_and_wrong_key_refused() -> None:
    refused = r"the MAC key does not decrypt: wrong password"  # checked before any package
    with pytest.raises(SeedImportError, match=refused):
        read_pskc(DATA / "figure7.pskcxml", password="qwertz", allow_hotp=True)
    with pytest.raises(SeedImportError, match="wrong password or key"):
        read_pskc(DATA / "figure6.pskcxml", psk=bytes(16), allow_hotp=True)


def test_encrypted_file_without_secret_says_so() -> None:
    with pytest.raises(SeedImportError, match="give the password or the pre-shared key"):
        read_pskc(DATA / "figure6.pskcxml", allow_hotp=True)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (DATA / "invalid").glob("*.pskcxml")), ids=str
)
def test_invalid_files_refused(name: str) -> None:
    with pytest.raises(SeedImportError) as info:
        read_pskc(DATA / "invalid" / name, psk=RFC_PSK, allow_hotp=True)
    assert "\n" not in str(info.value) and str(info.value)


def test_totp_pskc_with_password(tmp_path: Path) -> None:
    path = tmp_path / "batch.pskcxml"
    expected = write_totp_pskc(path, ["GAHT00000001", "GAHT00000002"], digits=8, period=60)
    seeds = read_seed_file(path, password=PASSWORD)
    assert {s.serial: s.secret for s in seeds} == expected
    assert all(s.params.digits == 8 and s.params.period == 60 for s in seeds)


def test_one_bad_mac_imports_nothing(tmp_path: Path, lite_service: IamService) -> None:
    path = tmp_path / "batch.pskcxml"
    write_totp_pskc(path, ["GAHT00000001", "GAHT00000002", "GAHT00000003"], psk=RFC_PSK)
    flip_value_mac(path, 1)
    with pytest.raises(SeedImportError, match=r"key package 2 \(.*MAC check failed"):
        lite_service.import_seed_file(path, psk=RFC_PSK)
    assert lite_service.store.devices() == []


def test_known_serial_imports_nothing(tmp_path: Path, lite_service: IamService) -> None:
    first, second = tmp_path / "a.pskcxml", tmp_path / "b.pskcxml"
    write_totp_pskc(first, ["GAHT00000001"])
    write_totp_pskc(second, ["GAHT00000002", "GAHT00000001"])
    lite_service.import_seed_file(first, password=PASSWORD)
    with pytest.raises(IamError) as info:
        lite_service.import_seed_file(second, password=PASSWORD)
    assert info.value.code == "EntityAlreadyExists"
    assert [d.serial for d in lite_service.store.devices()] == ["GAHT00000001"]


def test_duplicate_serial_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "dup.pskcxml"
    write_totp_pskc(path, ["GAHT00000001", "GAHT00000001"])
    with pytest.raises(SeedImportError, match="appears twice"):
        read_pskc(path, password=PASSWORD)


# --- CSV ----------------------------------------------------------------------------------


def test_csv_hex_and_base32() -> None:
    secret = bytes(range(20))
    text = (
        "serial,seed,type,digits,period\n"
        f"SN0000001,{secret.hex()},TOTP,6,30\n"
        f"SN0000002,base32:{b32(secret)},totp,8,60,SHA256\n"
    )
    first, second = read_csv(text)
    assert first.secret == second.secret == secret
    assert (second.params.digits, second.params.period, second.params.algorithm) == (
        8,
        60,
        "SHA256",
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("SN0000001,zz,TOTP,6,30", "neither hex nor base32"),
        ("SN0000001,0011,TOTP,6,30", "shorter than"),
        (f"SN0000001,{'ab' * 20},HOTP,6,30", "not TOTP"),
        (f"SN0000001,{'ab' * 20},TOTP,7,30", "digits"),
        (f"SN0000001,{'ab' * 20},TOTP,6,0", "period"),
        (f"SN0000001,{'ab' * 20},TOTP,6", "5 or 6 fields"),
        (f"bad serial!,{'ab' * 20},TOTP,6,30", "serial"),
        (f"SN0000001,{'ab' * 20},TOTP,6,30,MD5", "algorithm"),
    ],
)
def test_csv_bad_rows(row: str, reason: str) -> None:
    good = f"SN0000000,{'cd' * 20},TOTP,6,30\n"
    with pytest.raises(SeedImportError, match=reason):
        read_csv(good + row + "\n")


@given(st.text(max_size=200))
def test_csv_parser_never_crashes(text: str) -> None:
    try:
        seeds = read_csv(text)
    except SeedImportError as exc:
        assert "\n" not in str(exc)
    else:
        assert seeds and all(len(s.secret) >= 10 for s in seeds)


@given(st.binary(max_size=300))
def test_seed_file_parser_never_crashes(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".seeds") as handle:
        handle.write(data)
        handle.flush()
        with contextlib.suppress(SeedImportError):  # anything else fails the test
            read_seed_file(handle.name, password="x")


# --- at rest ------------------------------------------------------------------------------


def test_kek_file_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    first = load_kek(path, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_kek(path, environ={}) == first and len(first) == 32


def test_kek_file_readable_by_others_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    load_kek(path, environ={})
    os.chmod(path, 0o644)
    with pytest.raises(SeedError, match="accessible to others"):
        load_kek(path, environ={})


def test_kek_from_environment(tmp_path: Path) -> None:
    key = bytes(range(32))
    assert load_kek(None, environ={KEK_ENV: key.hex()}, default_file=tmp_path / "x") == key
    assert not (tmp_path / "x").exists()
    with pytest.raises(SeedError):
        load_kek(None, environ={KEK_ENV: "abcd"})


def test_sealed_seed_bound_to_serial_and_kek() -> None:
    cipher = SeedCipher(bytes(32))
    sealed = cipher.seal("SN0000001", b"secret-seed-bytes!!!")
    assert cipher.open("SN0000001", sealed) == b"secret-seed-bytes!!!"
    with pytest.raises(SeedError):
        cipher.open("SN0000002", sealed)
    with pytest.raises(SeedError):
        SeedCipher(bytes([1]) * 32).open("SN0000001", sealed)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(SeedError):
        cipher.open("SN0000001", bytes(tampered))


def test_imported_seed_repr_hides_secret(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    secret = b"\xab" * 20
    path.write_text(f"SN0000001,{secret.hex()},TOTP,6,30\n")
    (seed,) = read_seed_file(path)
    assert secret.hex() not in repr(seed) and "hidden" in repr(seed)


def test_seeds_not_in_plaintext_in_sqlite_file(tmp_path: Path, lite_service: IamService) -> None:
    path = tmp_path / "batch.pskcxml"
    hardware = write_totp_pskc(path, ["GAHT00000001", "GAHT00000002"])
    lite_service.import_seed_file(path, password=PASSWORD)
    virtual = lite_service.create_virtual_mfa_device(VirtualMFADeviceName="phone")
    seed_b32 = virtual["VirtualMFADevice"]["Base32StringSeed"]
    lite_service.create_user(UserName="alice")
    app = Authenticator(seed_b32, lite_service.clock)
    lite_service.enable_mfa_device(
        UserName="alice",
        SerialNumber=virtual["VirtualMFADevice"]["SerialNumber"],
        AuthenticationCode1=app.code(0),
        AuthenticationCode2=app.code(1),
    )
    database = str(lite_service.store.engine.url.database)
    files = [Path(database + suffix) for suffix in ("", "-wal")]
    blob = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"GAHT00000001" in blob  # the file is readable: the serials are there
    virtual_secret = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    for secret in [*hardware.values(), virtual_secret]:
        for form in (secret, secret.hex().encode(), base64.b32encode(secret).rstrip(b"=")):
            assert form not in blob


@given(
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_pskc_files_import_or_give_one_clear_error(flips: list[tuple[int, int]]) -> None:
    """Bytes of a real encrypted PSKC file changed at random: a result or a SeedImportError."""
    data = bytearray((DATA / "figure6.pskcxml").read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    try:
        seeds = read_pskc(bytes(data), psk=RFC_PSK, allow_hotp=True)
    except SeedImportError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(seed.secret for seed in seeds)
