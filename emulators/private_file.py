"""Files that hold secrets (seeds, key state): written atomically, readable by their owner only.

A write goes to a temporary file in the same directory, is fsynced, and replaces the old file
with one rename, then the directory is fsynced: a crash leaves the old file or the new one,
never half of either. Files are mode 0600 and new directories 0700 (`make_parents=False`
refuses a missing directory instead, e.g. a mistyped key-state path). `durable=False` skips the
two fsyncs (still atomic against a crash of the process, not of the machine).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def write_private_file(
    path: str | os.PathLike[str], data: bytes, *, durable: bool = True, make_parents: bool = True
) -> None:
    target = Path(path)
    if make_parents:
        target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), PRIVATE_FILE_MODE)
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
