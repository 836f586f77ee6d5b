"""The shared-credentials file: botocore reads it, only its owner can, and a failed write
leaves the old file as it was."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from botocore.credentials import ReadOnlyCredentials

from tokenbench.verifier.http.credentials_file import (
    CredentialsFileError,
    write_shared_credentials,
)

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
OTHER_KEY_ID = "AKIAI44QH8DHBEXAMPLE"
OTHER_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: the file must be 0600 by its own doing, not thanks to a careful umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def botocore_credentials(
    path: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> ReadOnlyCredentials:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path.parent / "no-config"))
    session = botocore.session.Session(profile=profile)
    return session.get_credentials().get_frozen_credentials()


def test_botocore_reads_what_we_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".aws" / "credentials"
    write_shared_credentials(path, KEY_ID, SECRET)
    write_shared_credentials(
        path, OTHER_KEY_ID, OTHER_SECRET, profile="alice", session_token="tok/+="
    )
    default = botocore_credentials(path, "default", monkeypatch)
    assert (default.access_key, default.secret_key, default.token) == (KEY_ID, SECRET, None)
    alice = botocore_credentials(path, "alice", monkeypatch)
    assert (alice.access_key, alice.secret_key, alice.token) == (
        OTHER_KEY_ID,
        OTHER_SECRET,
        "tok/+=",
    )


@pytest.mark.usefixtures("open_umask")
def test_file_and_new_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / ".aws" / "credentials"
    write_shared_credentials(path, KEY_ID, SECRET)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_never_readable_by_others_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every descriptor the writer syncs (the temporary file, before the rename) is 0600."""
    modes: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            modes.append(stat.S_IMODE(info.st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    real_mkstemp = tempfile.mkstemp

    def mkstemp_spy(*, dir: Path, prefix: str, suffix: str) -> tuple[int, str]:
        fd, name = real_mkstemp(dir=dir, prefix=prefix, suffix=suffix)
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # at creation, before any byte
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_spy)
    path = tmp_path / "credentials"
    path.write_text("[other]\naws_access_key_id = X\naws_secret_access_key = Y\n")
    path.chmod(0o644)
    write_shared_credentials(path, KEY_ID, SECRET)
    assert modes == [0o600, 0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the old 0644 is gone with the old file


def test_existing_profile_is_kept_unless_replace(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    write_shared_credentials(path, KEY_ID, SECRET)
    before = path.read_bytes()
    with pytest.raises(CredentialsFileError) as refused:
        write_shared_credentials(path, OTHER_KEY_ID, OTHER_SECRET)
    assert "[default]" in str(refused.value) and SECRET not in str(refused.value)
    assert path.read_bytes() == before
    write_shared_credentials(path, OTHER_KEY_ID, OTHER_SECRET, replace=True)
    text = path.read_text()
    assert OTHER_SECRET in text and SECRET not in text and text.count("[default]") == 1


def test_other_profiles_and_comments_survive(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    original = (
        "# my keys\n[default]\naws_access_key_id = OLD\naws_secret_access_key = OLDSECRET\n\n"
        "[work]\n# the work account\naws_access_key_id = W\naws_secret_access_key = WS\n"
    )
    path.write_text(original)
    write_shared_credentials(path, KEY_ID, SECRET, replace=True)
    text = path.read_text()
    assert text.startswith("# my keys\n")
    assert "[work]\n# the work account\naws_access_key_id = W\naws_secret_access_key = WS\n" in text
    assert "OLDSECRET" not in text and SECRET in text


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failed_write_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "credentials"
    write_shared_credentials(path, KEY_ID, SECRET)
    before = path.read_bytes()

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, step, broken)
    with pytest.raises(OSError):
        write_shared_credentials(path, OTHER_KEY_ID, OTHER_SECRET, replace=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials"]  # no temporary left


def test_malformed_existing_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("aws_secret_access_key = LEAKED\n")
    with pytest.raises(CredentialsFileError) as refused:
        write_shared_credentials(path, KEY_ID, SECRET)
    assert "LEAKED" not in str(refused.value)
    assert path.read_text() == "aws_secret_access_key = LEAKED\n"


@pytest.mark.parametrize(
    ("profile", "key_id", "secret"),
    [
        ("bad profile", KEY_ID, SECRET),
        ("p]", KEY_ID, SECRET),
        ("p", "A\nB", SECRET),
        ("p", KEY_ID, ""),
    ],
)
def test_values_that_would_break_the_file(
    tmp_path: Path, profile: str, key_id: str, secret: str
) -> None:
    with pytest.raises(ValueError):
        write_shared_credentials(tmp_path / "credentials", key_id, secret, profile=profile)
    assert not (tmp_path / "credentials").exists()
