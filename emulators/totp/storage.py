"""Files that hold secrets: written atomically, readable by their owner only.

A write goes to a temporary file in the same directory, is fsynced, and replaces the old file
with one rename, then the directory is fsynced: a crash leaves the old file or the new one,
never half of either. Files are mode 0600 and new directories 0700.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), PRIVATE_FILE_MODE)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_json(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_private_file(path, text.encode("utf-8"))


def read_json_document(
    path: str | os.PathLike[str],
    *,
    kind: str,
    version: int,
    error: type[ValueError],
    what: str,
) -> dict[str, Any]:
    """A JSON object whose `format` is `kind` and `version` is `version`, or `error`."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"no such {what}: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise error(f"{path} is not a {what} (not valid JSON)") from None
    if not isinstance(document, dict) or document.get("format") != kind:
        raise error(f"{path} is not a {what}")
    if document.get("version") != version:
        raise error(f"{path}: unsupported {what} version {document.get('version')!r}")
    return document


def field_of(
    document: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    *,
    error: type[ValueError],
    where: str,
) -> Any:
    """`document[name]`, checked to be of `kind` (bools are not numbers; numbers are finite)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    value = document.get(name)
    wrong_type = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong_type or (isinstance(value, float) and not math.isfinite(value)):
        raise error(f"{where}: field {name!r} is missing or malformed")
    return value
