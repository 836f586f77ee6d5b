"""The TOTP emulators' JSON documents, kept in private files (see `emulators.private_file`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tokenbench.emulators.private_file import write_private_file

__all__ = ["write_private_file", "write_private_json"]


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
