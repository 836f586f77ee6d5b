"""The real yubikey-manager against the emulated card in vpcd behind a real pcscd.

Both its library (`yubikit` OathSession and ManagementSession over ykman's own PC/SC connection)
and its CLI (`ykman --reader "Virtual PCD 00 00" oath ...`, run as a subprocess that reaches the
private pcscd through PCSCLITE_CSOCK_NAME) must take the card for a YubiKey 5 NFC and get from
it the codes pyotp and our virtual authenticator app (emulators/totp) compute for the same seed
and moment. How pcscd runs in its own namespaces: tests/nfc/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from nfc.conftest import plugged_card
from oath_helpers import Hotp, Totp

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.totp.otp import OtpAccount, decode_base32

READER = "Virtual PCD 00 00"
YKMAN = Path(sys.executable).with_name("ykman")
HERE = Path(__file__).parent
SEED_B32 = "JBSWY3DPEHPK3PXP"
RFC4226_CODES = ["755224", "287082", "359152", "969429"]


@pytest.fixture(autouse=True)
def ykman_installed() -> None:
    """ykman comes with the dev extra: missing, it is an install step `make test` lost."""
    if not YKMAN.exists():
        pytest.fail(f"{YKMAN} is missing: make test installs yubikey-manager (the dev extra)")


@pytest.fixture(scope="module")
def card_key(private_pcscd, tmp_path_factory) -> Iterator[EmulatedKey]:  # type: ignore[no-untyped-def]
    """One emulated key (state in a file) plugged into slot 0 for the whole module."""
    state = tmp_path_factory.mktemp("oath-key") / "key.json"
    key = EmulatedKey.create(state_path=state)
    with plugged_card(private_pcscd, key.nfc_card(), READER):
        yield key
    key.close()


@pytest.fixture
def fresh(card_key: EmulatedKey) -> EmulatedKey:
    """The module's key with its OATH applet as from the factory (and auto-approved touch)."""
    store = card_key.authenticator.store
    with store.lock:
        store.state.oath = None
        store.save()
    return card_key


@pytest.fixture
def ykman(private_pcscd, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:  # type: ignore[no-untyped-def]
    """Run `ykman --reader READER ARGS...`; its keyring and settings live in tmp_path."""
    env = {
        **os.environ,
        "PCSCLITE_CSOCK_NAME": str(private_pcscd.socket_path),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
        "PYTHONPATH": str(HERE),
        "TOKENBENCH_TEST_KEYRING": str(tmp_path / "keyring.json"),
    }

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(YKMAN), "--reader", READER, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if ok:
            assert done.returncode == 0, f"ykman {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    return run


def totp_codes(seed_b32: str, before: float, after: float, period: int = 30) -> set[str]:
    """pyotp's codes over the window a command ran in (one, or two across a step boundary);
    checked equal to our virtual app's (emulators/totp) for the same seed and moments."""
    codes = {Totp(seed_b32, interval=period).at(int(t)) for t in (before, after)}
    account = OtpAccount(decode_base32(seed_b32), account="x", period=period)
    assert codes == {account.code_at(t) for t in (before, after)}
    return codes


# ------------------------------------------------------------------ ykman CLI


def test_ykman_info_sees_a_yubikey_5_nfc(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    out = ykman("info").stdout
    assert "Serial number: 31000001" in out
    assert "Firmware version: 5.7.1" in out
    assert "Keychain (USB-A)" in out
    oath_row = next(line for line in out.splitlines() if line.startswith("OATH"))
    assert oath_row.split()[-1] == "Enabled"
    assert "OATH version:        5.7.1" in ykman("oath", "info").stdout


def test_add_then_code_prints_pyotps_code(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    ykman("oath", "accounts", "add", "-o", "TOTP", "aws:alice", SEED_B32)
    before = time.time()
    out = ykman("oath", "accounts", "code", "aws:alice").stdout
    after = time.time()
    name, code = out.split()
    assert name == "aws:alice"
    assert code in totp_codes(SEED_B32, before, after)
    before = time.time()
    single = ykman("oath", "accounts", "code", "-s", "aws:alice").stdout.strip()
    assert single in totp_codes(SEED_B32, before, time.time())


def test_list_rename_delete(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    ykman("oath", "accounts", "add", "aws:alice", SEED_B32)
    ykman("oath", "accounts", "add", "-o", "HOTP", "-a", "SHA256", "-d", "8", "bank", SEED_B32)
    ykman("oath", "accounts", "add", "-P", "60", "slow:carol", SEED_B32)
    listed = ykman("oath", "accounts", "list", "-o", "-P").stdout.splitlines()
    assert listed == ["aws:alice, TOTP, 30", "bank, HOTP, 0", "60/slow:carol, TOTP, 60"]
    ykman("oath", "accounts", "rename", "-f", "aws:alice", "aws:bob")
    assert ykman("oath", "accounts", "list").stdout.split() == ["aws:bob", "bank", "60/slow:carol"]
    before = time.time()
    code = ykman("oath", "accounts", "code", "-s", "slow:carol").stdout.strip()
    assert code in totp_codes(SEED_B32, before, time.time(), period=60)
    ykman("oath", "accounts", "delete", "-f", "aws:bob")
    assert ykman("oath", "accounts", "list").stdout.split() == ["bank", "60/slow:carol"]
    assert "No matches" in ykman("oath", "accounts", "delete", "-f", "nobody").stdout


def test_hotp_codes_advance(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 4226's "12345678901234567890"
    ykman("oath", "accounts", "add", "-o", "HOTP", "rfc", seed)
    ykman("oath", "accounts", "add", "other", SEED_B32)
    codes = [ykman("oath", "accounts", "code", "-s", "rfc").stdout.strip() for _ in range(3)]
    assert codes == RFC4226_CODES[:3] == [Hotp(seed).at(i) for i in range(3)]
    listing = ykman("oath", "accounts", "code").stdout
    assert "[HOTP Account]" in listing  # CALCULATE ALL leaves HOTP uncomputed


def test_touch_account(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    ykman("oath", "accounts", "add", "--touch", "touchy", SEED_B32)
    ykman("oath", "accounts", "add", "other", SEED_B32)
    assert "[Requires Touch]" in ykman("oath", "accounts", "code").stdout
    requests = len(fresh.env.presence.requests)  # type: ignore[attr-defined]
    before = time.time()
    code = ykman("oath", "accounts", "code", "-s", "touchy").stdout.strip()
    assert code in totp_codes(SEED_B32, before, time.time())
    assert fresh.env.presence.requests[requests:] == ["oath calculate"]  # type: ignore[attr-defined]


def test_password_change_remember_and_clear(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    ykman("oath", "accounts", "add", "aws:alice", SEED_B32)
    ykman("oath", "access", "change", "-n", "s3cret")
    assert "Password protection: enabled" in ykman("oath", "info").stdout
    locked = ykman("oath", "accounts", "list", ok=False)
    assert locked.returncode != 0 and "aws:alice" not in locked.stdout
    wrong = ykman("oath", "accounts", "list", "-p", "wrong", ok=False)
    assert wrong.returncode != 0 and "Wrong password" in wrong.stderr
    assert ykman("oath", "accounts", "list", "-p", "s3cret").stdout.split() == ["aws:alice"]

    ykman("oath", "access", "remember", "-p", "s3cret")
    assert ykman("oath", "accounts", "list").stdout.split() == ["aws:alice"]  # remembered
    assert "remembered" in ykman("oath", "info").stdout

    ykman("oath", "access", "change", "-p", "s3cret", "-n", "other", "--remember")
    assert ykman("oath", "accounts", "list").stdout.split() == ["aws:alice"]
    ykman("oath", "access", "change", "-p", "other", "--clear")
    assert "Password protection: disabled" in ykman("oath", "info").stdout
    assert ykman("oath", "accounts", "list").stdout.split() == ["aws:alice"]


def test_oath_reset(fresh: EmulatedKey, ykman) -> None:  # type: ignore[no-untyped-def]
    ykman("oath", "accounts", "add", "aws:alice", SEED_B32)
    ykman("oath", "access", "change", "-n", "pw")
    out = ykman("oath", "reset", "-f")
    assert "All OATH accounts have been deleted" in out.stdout
    assert ykman("oath", "accounts", "list").stdout == ""
    assert "Password protection: disabled" in ykman("oath", "info").stdout


# ------------------------------------------------------------------ yubikit library


def open_session():  # type: ignore[no-untyped-def]
    from ykman.pcsc import list_devices
    from yubikit.core.smartcard import SmartCardConnection

    devices = list_devices(READER)
    assert len(devices) == 1
    return devices[0].open_connection(SmartCardConnection)


def test_yubikit_reads_device_info(fresh: EmulatedKey) -> None:
    from yubikit.core import TRANSPORT
    from yubikit.management import CAPABILITY, FORM_FACTOR
    from yubikit.support import read_info

    with open_session() as connection:
        assert connection.transport == TRANSPORT.NFC
        info = read_info(connection)
    assert info.serial == fresh.profile.serial
    assert tuple(info.version) == fresh.profile.card_version
    assert info.form_factor == FORM_FACTOR.USB_A_KEYCHAIN
    assert CAPABILITY.OATH in info.config.enabled_capabilities[TRANSPORT.NFC]


def test_yubikit_oath_session(fresh: EmulatedKey) -> None:
    from yubikit.core.smartcard import ApduError
    from yubikit.oath import HASH_ALGORITHM, OATH_TYPE, CredentialData, OathSession

    seed = decode_base32(SEED_B32)
    with open_session() as connection:
        session = OathSession(connection)
        for i in range(12):  # enough for LIST and CALCULATE ALL to need SEND REMAINING
            session.put_credential(
                CredentialData(f"user{i:02}" + "x" * 30, OATH_TYPE.TOTP, HASH_ALGORITHM.SHA1, seed)
            )
        session.put_credential(
            CredentialData("alice", OATH_TYPE.TOTP, HASH_ALGORITHM.SHA256, seed, issuer="aws")
        )
        now = int(time.time())
        codes = {c.id: code for c, code in session.calculate_all(now).items()}
        assert len(codes) == 13
        expected = Totp(SEED_B32, digest="sha256").at(now)
        assert codes[b"aws:alice"] is not None and codes[b"aws:alice"].value == expected
        assert codes[b"user00" + b"x" * 30].value == Totp(SEED_B32).at(now)  # type: ignore[union-attr]

        session.set_key(session.derive_key("pw"))
    with open_session() as connection:
        session = OathSession(connection)
        assert session.locked
        with pytest.raises(ApduError) as refused:
            session.list_credentials()
        assert refused.value.sw == 0x6982
        with pytest.raises(ApduError) as wrong:
            session.validate(session.derive_key("not it"))
        assert wrong.value.sw == 0x6A80
        session.validate(session.derive_key("pw"))  # checks the card's answer, too
        assert len(session.list_credentials()) == 13
        session.reset()
        assert session.list_credentials() == [] and not session.has_key


def test_touch_waits_for_the_users_touch(private_pcscd, ykman) -> None:  # type: ignore[no-untyped-def]
    """A key that waits for touches (presence=touch, as `key emulate --presence touch` whose
    control channel takes `touch`): ykman's CALCULATE blocks until the touch comes."""
    key = EmulatedKey.create(presence="touch")
    slot = "Virtual PCD 00 01"
    with plugged_card(private_pcscd, key.nfc_card(), slot):
        run = [str(YKMAN), "--reader", slot, "oath", "accounts"]
        env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(private_pcscd.socket_path)}
        subprocess.run([*run, "add", "--touch", "touchy", SEED_B32], check=True, env=env)
        before = time.time()
        waiting = subprocess.Popen(
            [*run, "code", "-s", "touchy"], env=env, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 20
        while not key.env.presence.requests and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        time.sleep(1.0)
        assert waiting.poll() is None, "answered before the touch"
        assert key.touch()
        out, _ = waiting.communicate(timeout=30)
        assert waiting.returncode == 0
        assert out.strip() in totp_codes(SEED_B32, before, time.time())
    key.close()
