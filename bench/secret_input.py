"""Secret command-line options (PINs, PSKC passwords and keys) that stay off the command line.

Anything in argv is readable by every user in /proc/PID/cmdline while the command runs. So
each secret option also takes its value from a named environment variable, from a file only
its owner can read (`--x-file`, mode 0600), or from stdin (`--x -`). The plain command-line
form still works, for scripts and tests, but prints a one-line warning to stderr. The value
itself is never printed.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from tokenbench.bench.errors import UserError

STDIN = "-"
PIN_ENV = "TOKENBENCH_PIN"  # also how `bench run` hands the PIN to its pytest children


@dataclass(frozen=True)
class SecretOption:
    """One secret option: `flag` and `flag`-file on the command line, `env` in the environment."""

    flag: str
    env: str
    what: str

    @property
    def file_flag(self) -> str:
        return f"{self.flag}-file"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def file_dest(self) -> str:
        return f"{self.dest}_file"

    @property
    def safe_forms(self) -> str:
        return f"{self.file_flag} / {self.env} / {self.flag} {STDIN}"


PIN = SecretOption("--pin", PIN_ENV, "the key's PIN")
NEW_PIN = SecretOption("--new-pin", "TOKENBENCH_NEW_PIN", "the new PIN")
"""`key pin set|change`. With `--pin - --new-pin -` stdin holds the current PIN, then the new."""
PSKC_PASSWORD = SecretOption("--password", "TOKENBENCH_PSKC_PASSWORD", "the PSKC password")
PSKC_PSK_HEX = SecretOption("--psk-hex", "TOKENBENCH_PSKC_PSK_HEX", "the PSKC pre-shared key (hex)")


def add_secret_option(
    parser: argparse._ActionsContainer, option: SecretOption, *, metavar: str, why: str = ""
) -> None:
    """`--x VALUE|-` and `--x-file FILE`; both may sit in a mutually exclusive group."""
    purpose = f" ({why})" if why else ""
    parser.add_argument(
        option.flag,
        dest=option.dest,
        metavar=metavar,
        help=f"{option.what}{purpose}; '{STDIN}' reads stdin, ${option.env} is used when no "
        "option is given (a value here is visible to other users)",
    )
    parser.add_argument(
        option.file_flag,
        dest=option.file_dest,
        type=Path,
        metavar="FILE",
        help=f"read {option.what} from FILE (first line; mode 0600)",
    )


def given_on_command_line(args: argparse.Namespace, option: SecretOption) -> bool:
    return getattr(args, option.dest, None) is not None or (
        getattr(args, option.file_dest, None) is not None
    )


def read_secret(args: argparse.Namespace, option: SecretOption) -> str | None:
    """The secret from `--x -` (stdin), `--x-file`, `--x VALUE` (warned) or $ENV, else None."""
    value = _read_secret(args, option)
    if value is not None:
        try:  # argv, the environment and stdin may carry undecodable bytes as surrogates
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(f"{option.what} is not UTF-8 text") from None
    return value


def _read_secret(args: argparse.Namespace, option: SecretOption) -> str | None:
    value: str | None = getattr(args, option.dest, None)
    path: Path | None = getattr(args, option.file_dest, None)
    if value == STDIN:
        try:
            line = sys.stdin.readline()
        except (OSError, UnicodeDecodeError):
            raise UserError(f"cannot read {option.what} from stdin") from None
        return _first_line(line, f"nothing on stdin for {option.flag}")
    if value is not None:
        sys.stderr.write(
            f"tokenbench: warning: {option.flag} on the command line is visible to other users "
            f"in the process list; use {option.safe_forms}\n"
        )
        return value
    if path is not None:
        return _read_private_file(path, option)
    return os.environ.get(option.env) or None


def _first_line(text: str, missing: str) -> str:
    line = text.splitlines()[0] if text.splitlines() else ""
    if not line:
        raise UserError(missing)
    return line


def _read_private_file(path: Path, option: SecretOption) -> str:
    """The file's first line; a file that others may read or write is refused, not trusted."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UserError(
                f"{option.file_flag} {path} is accessible to others (mode {mode:o}); use 0600"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {option.file_flag} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{option.file_flag} {path} is not UTF-8 text") from None
    return _first_line(text, f"{option.file_flag} {path} is empty")


# -- the PSKC transport secret: a password or a pre-shared key, never both -------------------


def add_pskc_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    add_secret_option(group, PSKC_PASSWORD, metavar="PW", why="PBKDF2")
    add_secret_option(group, PSKC_PSK_HEX, metavar="HEX", why="AES transport key")


def read_pskc_key(args: argparse.Namespace, *, required: bool) -> tuple[str | None, bytes | None]:
    """(password, pre-shared key) from the options or, when none is given, the environment."""
    if given_on_command_line(args, PSKC_PASSWORD):
        return read_secret(args, PSKC_PASSWORD), None
    if given_on_command_line(args, PSKC_PSK_HEX):
        return None, _psk(read_secret(args, PSKC_PSK_HEX))
    password, psk_hex = read_secret(args, PSKC_PASSWORD), read_secret(args, PSKC_PSK_HEX)
    if password is not None and psk_hex is not None:
        raise UserError(f"both ${PSKC_PASSWORD.env} and ${PSKC_PSK_HEX.env} are set; unset one")
    if required and password is None and psk_hex is None:
        raise UserError(
            f"give the PSKC password ({PSKC_PASSWORD.safe_forms}) or the pre-shared key "
            f"({PSKC_PSK_HEX.safe_forms})"
        )
    return password, _psk(psk_hex)


def _psk(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise UserError("the pre-shared key is not hexadecimal") from None
