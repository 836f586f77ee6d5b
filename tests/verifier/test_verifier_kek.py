"""The KEK belongs to its store: found next to it, recorded by a key-check value, never mixed.

Reproduces the attack of issue 14 item 4 (a command run from another directory created a new
key file there and sealed seeds under it, leaving one store under two keys) and checks the
rules that replace it: the key file sits next to the SQLite file, a key the store's check value
rejects is refused in one line naming its origin, a key is created only for a store that holds
no sealed seed, and a PostgreSQL store needs the key named explicitly.
"""

from __future__ import annotations

import base64
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine
from test_verifier_cli import Cli
from verifier_helpers import pg_url

from tokenbench.bench.cli import main
from tokenbench.emulators.clock import SystemClock
from tokenbench.verifier.kek import bind_cipher
from tokenbench.verifier.migrations import kek_check
from tokenbench.verifier.seeds import SeedCipher, SeedError
from tokenbench.verifier.store import Device, Store

SEED = bytes(range(20))
HW_SERIAL = "GALT90000001"


def seed_csv(directory: Path, serial: str = HW_SERIAL) -> Path:
    path = directory / "seeds.csv"
    path.write_text(f"serial,seed,type,digits,period\n{serial},{SEED.hex()},totp,6,30\n")
    return path


def hw_codes() -> list[str]:
    now = SystemClock().now()
    totp = pyotp.TOTP(base64.b32encode(SEED).decode())
    return [totp.at(now), totp.at(now + 30)]


def create_virtual(outfile: Path, method: str) -> list[str]:
    return ["create-virtual-mfa-device", "--virtual-mfa-device-name", outfile.stem,
            "--outfile", str(outfile), "--bootstrap-method", method]  # fmt: skip


def one_line_error(status: int, err: str) -> str:
    assert status == 1 and err.startswith("tokenbench: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    return a, b


def test_two_directories_one_key(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = dirs
    cli = Cli(a, capsys, str(a / "tokenbench-iam.db"))
    cli.base = ["--store", str(a / "tokenbench-iam.db")]  # the default key location
    monkeypatch.chdir(a)
    cli.ok("create-user", "--user-name", "alice")
    cli.ok(*create_virtual(a / "phone.seed", "Base32StringSeed"))
    monkeypatch.chdir(b)
    cli.ok("import-seeds", str(seed_csv(b)))
    monkeypatch.chdir(a)
    code1, code2 = hw_codes()  # used to fail here: "wrong key-encryption key"
    cli.ok("enable-mfa-device", "--user-name", "alice", "--serial-number", HW_SERIAL,
           "--authentication-code1", code1, "--authentication-code2", code2)  # fmt: skip
    assert list(b.iterdir()) == [b / "seeds.csv"]  # no key file appeared in B


@pytest.fixture
def sealed_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> Cli:
    """A SQLite store holding one sealed seed, its key given with --kek-file."""
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    monkeypatch.chdir(tmp_path)
    cli = Cli(tmp_path, capsys, str(tmp_path / "iam.db"))
    cli.ok("import-seeds", str(seed_csv(tmp_path)))
    return cli


def test_other_key_file_refused(sealed_cli: Cli) -> None:
    other = sealed_cli.tmp_path / "other.kek"
    other.write_text(secrets.token_hex(32) + "\n")
    other.chmod(0o600)
    sealed_cli.base[3] = str(other)
    err = one_line_error(*sealed_cli.run("list-virtual-mfa-devices")[::2])
    assert str(other) in err and "key-encryption key" in err


def test_other_key_in_environment_refused(sealed_cli: Cli, monkeypatch) -> None:
    monkeypatch.setenv("TOKENBENCH_KEK", secrets.token_hex(32))
    sealed_cli.base = sealed_cli.base[:2]
    second = seed_csv(sealed_cli.tmp_path, "GALT90000002")
    err = one_line_error(*sealed_cli.run("import-seeds", str(second))[::2])
    assert "$TOKENBENCH_KEK" in err
    store = Store.open(sealed_cli.base[1])
    assert [d.serial for d in store.devices()] == [HW_SERIAL]  # nothing sealed under the other
    store.close()


def test_missing_key_file_not_created_for_sealed_store(sealed_cli: Cli) -> None:
    missing = sealed_cli.tmp_path / "elsewhere" / "new.kek"
    missing.parent.mkdir()
    sealed_cli.base[3] = str(missing)
    err = one_line_error(*sealed_cli.run("list-users")[::2])
    assert str(missing) in err and not missing.exists()
    sealed_cli.base = sealed_cli.base[:2]  # default: next to iam.db, which does not exist either
    one_line_error(*sealed_cli.run("list-users")[::2])
    assert not (sealed_cli.tmp_path / "iam.kek").exists()


def test_fresh_store_key_created_next_to_it(dirs: tuple[Path, Path], capsys, monkeypatch) -> None:
    a, b = dirs
    monkeypatch.chdir(b)
    status = main(["iam", "list-users", "--store", str(a / "bench.db")])
    assert status == 0, capsys.readouterr().err
    assert (a / "bench.kek").stat().st_mode & 0o777 == 0o600
    assert list(b.iterdir()) == []


def test_explicit_key_file_created_for_fresh_store(dirs: tuple[Path, Path], capsys) -> None:
    a, b = dirs
    status = main(["iam", "list-users", "--store", str(a / "x.db"), "--kek-file", str(b / "k")])
    assert status == 0, capsys.readouterr().err
    assert (b / "k").exists() and not (a / "x.kek").exists()


def test_store_from_before_check_values_adopts_its_key(tmp_path: Path) -> None:
    """A store sealed before key-check values existed: the key that opens its seeds is recorded."""
    store = Store.open(str(tmp_path / "old.db"))
    right, wrong = SeedCipher(bytes(32)), SeedCipher(bytes([1]) * 32)
    bind_cipher(store, right, "key file right")
    with store.engine.begin() as conn:  # as an older tokenbench left it: seeds, no check value
        conn.execute(kek_check.delete())
    store.add_devices([Device(serial=HW_SERIAL, kind="hardware", created_at=0.0,
                              seed_sealed=right.seal(HW_SERIAL, SEED))])  # fmt: skip
    with pytest.raises(SeedError, match="key file wrong"):
        bind_cipher(store, wrong, "key file wrong")
    bind_cipher(store, right, "key file right")
    with pytest.raises(SeedError):
        bind_cipher(store, wrong, "key file wrong")
    store.close()


def test_postgres_store_needs_explicit_key(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    monkeypatch.chdir(tmp_path)
    schema = f"tbkek_{os.getpid()}_{tmp_path.name[-6:].lower().replace('-', '_')}"
    engine = create_engine(pg_url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{pg_url()}?options=-csearch_path%3D{schema}"
        err = one_line_error(main(["iam", "list-users", "--store", url]), capsys.readouterr().err)
        assert "--kek-file" in err and "TOKENBENCH_KEK" in err
        assert list(tmp_path.iterdir()) == []
        monkeypatch.setenv("TOKENBENCH_KEK", bytes(32).hex())
        assert main(["iam", "list-users", "--store", url]) == 0, capsys.readouterr().err
        monkeypatch.setenv("TOKENBENCH_KEK", (bytes([1]) * 32).hex())
        one_line_error(main(["iam", "list-users", "--store", url]), capsys.readouterr().err)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_outfile_unwritable_leaves_no_device(tmp_path: Path, capsys, monkeypatch) -> None:
    """Issue 14: the device used to be stored before its seed file was written."""
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    cli = Cli(tmp_path, capsys, str(tmp_path / "iam.db"))
    blocked = tmp_path / "planted"
    blocked.symlink_to(tmp_path / "nowhere" / "x")  # dangling: exists() is False, O_EXCL fails
    status, out, err = cli.run(*create_virtual(blocked, "QRCodePNG"))
    one_line_error(status, err)
    assert out == "" and cli.ok("list-virtual-mfa-devices")["VirtualMFADevices"] == []


def test_outfile_write_failure_rolls_back(tmp_path: Path, capsys, monkeypatch) -> None:
    """A write that fails after the device exists (disk full: simulated, a tmpfs needs mount
    rights) removes the device and the partial file."""
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    cli = Cli(tmp_path, capsys, str(tmp_path / "iam.db"))
    outfile = tmp_path / "p.seed"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    status, _, err = cli.run(*create_virtual(outfile, "Base32StringSeed"))
    one_line_error(status, err)
    monkeypatch.undo()
    monkeypatch.delenv("TOKENBENCH_KEK", raising=False)
    assert not outfile.exists()
    assert cli.ok("list-virtual-mfa-devices")["VirtualMFADevices"] == []


def test_racing_first_uses_bind_one_key(store: Store) -> None:
    """Two processes binding different keys to a fresh store: one wins, the other is refused."""
    ciphers = [SeedCipher(bytes([n]) * 32) for n in range(1, 9)]
    results: list[str] = []

    def bind(cipher: SeedCipher) -> None:
        try:
            bind_cipher(store, cipher, "racer")
            results.append("bound")
        except SeedError:
            results.append("refused")

    with ThreadPoolExecutor(len(ciphers)) as pool:
        list(pool.map(bind, ciphers))
    assert sorted(results) == ["bound"] + ["refused"] * (len(ciphers) - 1)
