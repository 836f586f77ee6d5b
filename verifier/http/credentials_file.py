"""The AWS shared-credentials file (`~/.aws/credentials`) for the admin key of `tokenbench serve`.

The file holds a secret access key, so it is never readable by others, not even for an instant:
the new content goes to a temporary file that `mkstemp` creates with mode 0600 (umask can only
take bits away), in the same directory, is fsynced and renamed over the old one, then the
directory is fsynced. A failure at any step leaves the old file as it was.

Other profiles, and comments, are kept line for line; a profile already there is replaced only
when asked (`replace=True`), so a second `serve --write-credentials` cannot silently cut off
the key a script is using. One writer at a time: there is no lock between processes.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_SECTION = re.compile(r"^\s*\[([^\]]*)\]")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
_VALUE = re.compile(r"[\x21-\x7e]{1,4096}")  # printable ASCII, no spaces: keys, secrets, tokens


class CredentialsFileError(Exception):
    """The file cannot be written as asked (profile present, unreadable or malformed file)."""


def write_shared_credentials(
    path: Path,
    access_key_id: str,
    secret: str,
    *,
    profile: str = "default",
    session_token: str | None = None,
    replace: bool = False,
) -> None:
    """Put `profile` with these credentials into the shared-credentials file at `path`."""
    _check(profile, access_key_id, secret, session_token)
    old = _read(path)
    kept, present = _without_section(old, profile)
    if present and not replace:
        raise CredentialsFileError(
            f"{path} already has a [{profile}] profile; pass replace=True to overwrite it"
        )
    new = _joined(kept, _section(profile, access_key_id, secret, session_token))
    _parse_check(new, path)
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    _write_atomically(path, new.encode("utf-8"))


def _check(profile: str, access_key_id: str, secret: str, token: str | None) -> None:
    # Only the field names go into messages, never a value: one of them is the secret.
    if not _PROFILE_NAME.fullmatch(profile):
        raise ValueError(f"profile name {profile!r} is not a plain name")
    for name, value in (("access key id", access_key_id), ("secret", secret), ("token", token)):
        if value is not None and not _VALUE.fullmatch(value):
            raise ValueError(f"the {name} must be printable ASCII without spaces")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc}") from None


def _without_section(text: str, profile: str) -> tuple[list[str], bool]:
    """The file's lines minus the `[profile]` section; whether that section was there."""
    kept: list[str] = []
    present = skipping = False
    for line in text.splitlines(keepends=True):
        header = _SECTION.match(line)
        if header:
            skipping = header.group(1).strip() == profile
            present = present or skipping
        if not skipping:
            kept.append(line)
    return kept, present


def _section(profile: str, access_key_id: str, secret: str, token: str | None) -> str:
    lines = [
        f"[{profile}]",
        f"aws_access_key_id = {access_key_id}",
        f"aws_secret_access_key = {secret}",
    ]
    if token is not None:
        lines.append(f"aws_session_token = {token}")
    return "\n".join(lines) + "\n"


def _joined(kept: list[str], section: str) -> str:
    head = "".join(kept).rstrip("\n")
    return f"{head}\n\n{section}" if head else section


def _parse_check(text: str, path: Path) -> None:
    """Refuse to rewrite a file botocore could not read (it would fail later, less clearly)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise CredentialsFileError(
            f"{path} is not an INI file botocore can read: {first}"
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), PRIVATE_FILE_MODE)  # mkstemp's 0600, stated not assumed
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
