"""Files that hold secrets (seeds, key state): written atomically, readable by their owner only.

A write goes to a temporary file in the same directory, is fsynced, and replaces the old file
with one rename, then the directory is fsynced: a crash leaves the old file or the new one,
never half of either. The temporary name is random and created with O_EXCL (`mkstemp`), so
a symlink planted at a guessable path is never followed. Files are mode 0600 unless the
caller asks for another (`mode=0o644` for a report others may read), new directories 0700
(`make_parents=False` refuses a missing directory instead, e.g. a mistyped key-state path).
`durable=False` skips the two fsyncs (atomic against a crash of the process, not the machine).

`locked(path)` serialises read-modify-write cycles on one file between processes (an flock on
`.NAME.lock` next to it, opened without following symlinks); `claim(path)` takes a file for
the life of a process (one emulator per key-state file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
PUBLIC_FILE_MODE = 0o644  # for files meant to be shared: reports, certificates


def write_private_file(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    durable: bool = True,
    make_parents: bool = True,
    mode: int = PRIVATE_FILE_MODE,
) -> None:
    target = Path(path)
    if make_parents:
        target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), mode)
            temp.write(data)
            temp.flush()
            if durable:
                os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:
        _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileInUse(Exception):
    """Another process holds the file (`claim`)."""


def _lock_file(path: str | os.PathLike[str]) -> int:
    target = Path(path)
    lock_path = target.with_name(f".{target.name}.lock")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(lock_path, flags, PRIVATE_FILE_MODE)


def claim(path: str | os.PathLike[str]) -> int:
    """Take `path` for this process until it exits (the kernel drops the flock then, even on
    SIGKILL); FileInUse if another process has it. The returned descriptor must stay open."""
    fd = _lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FileInUse(str(path)) from None
    return fd


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock for `path` (its directory must exist) until the block ends."""
    fd = _lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
