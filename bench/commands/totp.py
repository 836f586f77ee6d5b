"""`tokenbench totp ...`: hardware TOTP tokens, their PSKC seed files, and a virtual app.

    mint   --count N --prefix P --out DIR KEY        a batch of tokens
    press  TOKEN_FILE [--at T]                       press a token's button, read its display
    pskc   FILE KEY                                  open and MAC-check a seed file (no seeds)
    code   --secret BASE32 [...]                     one TOTP (or, with --counter, HOTP) code
    app    add|codes|export|import                   the virtual authenticator app
    app    export NAME --to-key pcsc:READER          copy an account into a key's OATH applet
    demo   [--at T]                                  a short tour of all of the above

KEY is the batch's password or AES-128 key: `--password-file FILE` / `--psk-hex-file FILE`
(mode 0600), $TOKENBENCH_PSKC_PASSWORD / $TOKENBENCH_PSKC_PSK_HEX, or `--password -` (stdin);
`--password PW` / `--psk-hex HEX` work but warn, since other users can read a command line.
Times (`--at`) are Unix seconds; without one the system clock is used. The app file defaults
to $TOKENBENCH_HOME/totp-app.json (~/.tokenbench/). Every problem is one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tokenbench.bench.arg_types import unix_time
from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import (
    SecretOption,
    add_pskc_key_options,
    add_secret_option,
    read_pskc_key,
    read_secret,
)
from tokenbench.emulators.clock import Clock, FakeClock, SystemClock
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.errors import QrCodeError, TotpError
from tokenbench.emulators.totp.factory import MAX_BATCH, TokenFactory
from tokenbench.emulators.totp.migration import MIGRATION_SCHEME
from tokenbench.emulators.totp.otp import (
    ALGORITHMS,
    HOTP,
    MAX_DIGITS,
    MIN_DIGITS,
    OtpAccount,
    decode_base32,
    encode_base32,
)
from tokenbench.emulators.totp.provisioning import PSK_BYTES
from tokenbench.emulators.totp.qr import decode_qr_png
from tokenbench.emulators.totp.sealing import SEALING_KEY_FILE, read_sealing_key, write_sealing_key
from tokenbench.emulators.totp.storage import write_private_file
from tokenbench.emulators.totp.token import YEAR_SECONDS, HardwareTotpToken
from tokenbench.emulators.totp.uri import SCHEME, build_otpauth

if TYPE_CHECKING:
    from pskc.key import Key

PSKC_FILE = "seeds.pskc"
TOKEN_FILE_SUFFIX = ".token.json"
APP_FILE = "totp-app.json"
FACTORY_DIR = "factory"
BLANK = "(blank)"
OATH_PASSWORD = SecretOption(
    "--oath-password", "TOKENBENCH_OATH_PASSWORD", "the key's OATH password"
)
# Public demo secrets: RFC 6238's test seeds for SHA1 and SHA256 (never printed anyway).
_DEMO_SECRETS = (b"12345678901234567890", b"12345678901234567890123456789012")
_DEMO_QR_ACCOUNT = OtpAccount(secret=bytes(range(20)), issuer="Shop", account="carol")

Handler = Callable[[argparse.Namespace], int | None]


def tokenbench_home() -> Path:
    return Path(os.environ.get("TOKENBENCH_HOME") or Path.home() / ".tokenbench")


# -- argument types (a bad value is a one-line usage error) --------------------------------


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, not {value}")
        return value

    return parse


def _ppm(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of ppm: {text!r}") from None
    if not math.isfinite(value) or abs(value) > 1_000_000:
        raise argparse.ArgumentTypeError(f"drift must be within +-1000000 ppm, not {text!r}")
    return value


def _algorithm(text: str) -> str:
    name = text.upper()
    if name not in ALGORITHMS:
        raise argparse.ArgumentTypeError(f"algorithm is one of {', '.join(ALGORITHMS)}")
    return name


_digits = _bounded_int(MIN_DIGITS, MAX_DIGITS)
_period = _bounded_int(1, 86_400)


def _clock(at: float | None) -> Clock:
    return SystemClock() if at is None else FakeClock(at)


def _user_errors(handler: Handler) -> Handler:
    """Turn the emulators' errors and file errors into the CLI's one-line `UserError`."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int | None:
        try:
            return handler(args)
        except TotpError as exc:
            raise UserError(" ".join(str(exc).split())) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise UserError(f"{where}{exc.strerror or exc}") from None

    return run


def _qr_png(text: str) -> bytes:
    import segno  # only two commands draw QR codes; keep it off every command's start-up

    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _pskc_key(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """The batch's password or AES-128 key, from wherever `secret_input` allows."""
    password, psk = read_pskc_key(args, required=True)
    if psk is not None and len(psk) != PSK_BYTES:
        raise UserError(f"the pre-shared key is {PSK_BYTES * 2} hex digits")
    return password, psk


# -- hardware tokens -----------------------------------------------------------------------


@_user_errors
def _mint(args: argparse.Namespace) -> None:
    password, psk = _pskc_key(args)  # before anything is written
    out: Path = args.out
    pskc_path = out / PSKC_FILE
    if pskc_path.exists():
        raise UserError(f"{pskc_path} already exists; mint each batch into a new directory")
    factory_dir = args.factory_dir or tokenbench_home() / FACTORY_DIR
    factory = TokenFactory(_clock(args.at), prefix=args.prefix, state_dir=factory_dir)
    key_path = out / SEALING_KEY_FILE
    if key_path.exists() and read_sealing_key(key_path) != factory.sealing_key:
        raise UserError(f"{key_path} belongs to another factory; use a new directory")
    tokens = factory.mint(
        args.count,
        algorithm=args.algorithm,
        digits=args.digits,
        period=args.period,
        drift_ppm=args.drift_ppm,
    )
    write_sealing_key(key_path, factory.sealing_key)
    for token in tokens:
        token.save(out / f"{token.serial}{TOKEN_FILE_SUFFIX}")
    factory.write_pskc(tokens, pskc_path, psk=psk, password=password)
    for token in tokens:
        print(token.serial)


@_user_errors
def _press(args: argparse.Namespace) -> None:
    token = HardwareTotpToken.load(args.token_file, _clock(args.at), args.sealing_key)
    print(token.press() or BLANK)


def _verified_pskc(path: Path, *, psk: bytes | None, password: str | None) -> list[Key]:
    """The keys of a PSKC file that the verifier's import would accept as intact, so the
    vendor-side check and `iam import-seeds` can never disagree about a tampered file."""
    from tokenbench.verifier.pskc_integrity import PskcFileError, open_pskc

    try:
        return list(open_pskc(path, password=password, psk=psk).keys)
    except PskcFileError as exc:
        raise UserError(f"{path}: {exc}") from None


@_user_errors
def _pskc(args: argparse.Namespace) -> None:
    password, psk = _pskc_key(args)
    keys = _verified_pskc(args.file, psk=psk, password=password)
    rows = [
        (
            k.serial or "-",
            k.model or "-",
            k.algorithm_suite or "-",
            str(k.response_length),
            f"{k.time_interval} s",
        )
        for k in keys
    ]
    _print_table(("SERIAL", "MODEL", "SUITE", "DIGITS", "STEP"), rows)
    print(f"{len(keys)} keys decrypted and MAC-checked")


@_user_errors
def _code(args: argparse.Namespace) -> None:
    account = OtpAccount(
        secret=decode_base32(args.secret),
        kind=HOTP if args.counter is not None else "totp",
        algorithm=args.algorithm,
        digits=args.digits,
        period=args.period,
        counter=args.counter or 0,
    )
    print(account.code_at(_clock(args.at).now()))


# -- the virtual app -----------------------------------------------------------------------


def _editing_app(args: argparse.Namespace) -> contextlib.AbstractContextManager[VirtualTotpApp]:
    path: Path = args.app or tokenbench_home() / APP_FILE
    return VirtualTotpApp.editing(path, _clock(getattr(args, "at", None)))


def _open_app(args: argparse.Namespace, *, create: bool) -> VirtualTotpApp:
    path: Path = args.app or tokenbench_home() / APP_FILE
    clock = _clock(getattr(args, "at", None))
    if path.exists():
        return VirtualTotpApp.load(path, clock)
    if not create:
        raise UserError(f"no authenticator app file at {path}; add an account first")
    return VirtualTotpApp(clock, path)


def _uri_or_png(text: str) -> str:
    """The URI itself, or the one in the QR code of the PNG file `text` names."""
    if text.lower().startswith((f"{SCHEME}:", f"{MIGRATION_SCHEME}:")):
        return text
    if "://" in text:
        raise UserError(f"not an {SCHEME}:// or {MIGRATION_SCHEME}:// URI: {text[:60]!r}")
    return decode_qr_png(text)


@_user_errors
def _app_add(args: argparse.Namespace) -> None:
    uri = _uri_or_png(args.source)
    if uri.lower().startswith(f"{MIGRATION_SCHEME}:"):
        raise UserError("that is a migration export; use 'tokenbench totp app import'")
    with _editing_app(args) as app:  # locked from read to write: parallel adds all stay
        account = app.add_uri(uri)
    print(f"added {account.label} ({account.kind}, {account.algorithm}, {account.digits} digits)")


@_user_errors
def _app_import(args: argparse.Namespace) -> None:
    source = _uri_or_png(args.source)
    with _editing_app(args) as app:
        accounts = app.import_migration(source)
    print(f"imported {len(accounts)} accounts: {', '.join(a.label for a in accounts)}")


@_user_errors
def _app_codes(args: argparse.Namespace) -> None:
    app = _open_app(args, create=False)
    _print_app_codes(app)


def _print_app_codes(app: VirtualTotpApp) -> None:
    if not app.accounts:
        print("no accounts")
        return
    rows = []
    for account in app.accounts:
        left = app.seconds_left(account)
        rows.append(
            (
                account.issuer or "-",
                account.account or "-",
                app.code(account),
                "-" if left is None else f"{left} s",
            )
        )
    _print_table(("ISSUER", "ACCOUNT", "CODE", "LEFT"), rows)


@_user_errors
def _app_export(args: argparse.Namespace) -> None:
    app = _open_app(args, create=False)
    if args.to_key is not None or args.name is not None:
        _export_to_key(args, app)
        return
    uri = app.export_migration()
    if args.png is not None:
        write_private_file(args.png, _qr_png(uri))
    print(uri)


def _export_to_key(args: argparse.Namespace, app: VirtualTotpApp) -> None:
    """Copy one account into the OATH applet of a key in a PC/SC reader (the seed is never
    shown; the applet's password comes from `secret_input`, never from argv)."""
    if args.to_key is None or args.name is None:
        raise UserError("export NAME --to-key pcsc:READER: both go together")
    if args.png is not None:
        raise UserError("--png belongs to the migration export, not to --to-key")
    from tokenbench.bench.keytools.oath_key import open_oath, unlock, write_account

    account = app.find(args.name)
    password = read_secret(args, OATH_PASSWORD)
    with open_oath(args.to_key) as session:
        unlock(session, password)
        print(write_account(session, account, touch=args.touch, now=app.clock.now()))


# -- demo ----------------------------------------------------------------------------------


@_user_errors
def _demo(args: argparse.Namespace) -> None:
    clock = FakeClock(SystemClock().now() if args.at is None else args.at)
    with tempfile.TemporaryDirectory(prefix="tokenbench-demo-") as temp:
        workdir = Path(temp)
        factory = TokenFactory(clock, prefix="DEMO", state_dir=workdir / FACTORY_DIR)
        tokens = factory.mint(3)
        psk = os.urandom(PSK_BYTES)
        factory.write_pskc(tokens, workdir / PSKC_FILE, psk=psk)
        keys = _verified_pskc(workdir / PSKC_FILE, psk=psk, password=None)
        print("Hardware TOTP tokens: a batch of 3, each with its own crystal drift")
        for token in tokens:
            token.save(workdir / f"{token.serial}{TOKEN_FILE_SUFFIX}")
            print(f"  {token.serial}  drift {token.drift_ppm:+6.2f} ppm  press -> {token.press()}")
        print(
            f"Seed file {PSKC_FILE} (RFC 6030): {len(keys)} TOTP keys, AES-128-CBC + HMAC-SHA1"
            " under a pre-shared key; read back, every MAC checks"
        )
        clock.advance(YEAR_SECONDS)
        print("One year later, the crystals have wandered:")
        for token in tokens:
            state_file = workdir / f"{token.serial}{TOKEN_FILE_SUFFIX}"
            reloaded = HardwareTotpToken.load(state_file, clock, factory.sealing_key)
            ahead = reloaded.clock.error_at(clock.now())
            print(
                f"  {reloaded.serial}  {ahead:+7.1f} s off true time  press -> {reloaded.press()}"
            )
    print("Virtual authenticator app:")
    app = VirtualTotpApp(clock)
    app.add_secret(encode_base32(_DEMO_SECRETS[0]), issuer="Example", account="alice@example.com")
    app.add_secret(
        encode_base32(_DEMO_SECRETS[1]), issuer="Bank", account="bob", algorithm="SHA256", digits=8
    )
    try:
        app.add_qr_png(_qr_png(build_otpauth(_DEMO_QR_ACCOUNT)))
    except QrCodeError as exc:  # the qr extra is not installed
        print(f"  (QR enrolment skipped: {exc})")
    _print_app_codes(app)
    copy = VirtualTotpApp(clock)
    copy.import_migration(app.export_migration())
    same = all(copy.code(a.label) == app.code(a) for a in app.accounts)
    print(f"Exported as otpauth-migration and imported into a second app: codes match: {same}")


# -- the parser ----------------------------------------------------------------------------


def _add_at(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--at", type=unix_time, metavar="UNIX_TIME", help=what)


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser("totp", help="TOTP hardware tokens, PSKC files, virtual app")
    commands = parser.add_subparsers(dest="totp_command", metavar="COMMAND")
    commands.required = True

    mint = commands.add_parser("mint", help="mint a batch of hardware tokens and their PSKC")
    mint.add_argument("--count", type=_bounded_int(1, MAX_BATCH), required=True)
    mint.add_argument("--prefix", default="GAHT", help="serial prefix (default GAHT)")
    mint.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_pskc_key_options(mint)
    mint.add_argument("--drift-ppm", type=_ppm, metavar="X", help="force every token's drift")
    mint.add_argument("--algorithm", type=_algorithm, default="SHA1")
    mint.add_argument("--digits", type=_digits, default=6)
    mint.add_argument("--period", type=_period, default=30)
    mint.add_argument(
        "--factory-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="serial registry and sealing key (default $TOKENBENCH_HOME/factory)",
    )
    _add_at(mint, "manufacture time (default now)")
    mint.set_defaults(handler=_mint)

    press = commands.add_parser("press", help="press a token's button; print its display")
    press.add_argument("token_file", type=Path, metavar="TOKEN_FILE")
    press.add_argument(
        "--sealing-key", type=Path, metavar="FILE", help=f"default: {SEALING_KEY_FILE} beside it"
    )
    _add_at(press, "when to press (default now)")
    press.set_defaults(handler=_press)

    pskc = commands.add_parser("pskc", help="open and check a PSKC seed file (no seeds shown)")
    pskc.add_argument("file", type=Path, metavar="FILE")
    add_pskc_key_options(pskc)
    pskc.set_defaults(handler=_pskc)

    code = commands.add_parser("code", help="one TOTP code (HOTP with --counter)")
    code.add_argument("--secret", required=True, metavar="BASE32")
    code.add_argument("--algorithm", type=_algorithm, default="SHA1")
    code.add_argument("--digits", type=_digits, default=6)
    code.add_argument("--period", type=_period, default=30)
    code.add_argument("--counter", type=_bounded_int(0, 2**63 - 1), help="HOTP counter")
    _add_at(code, "time (default now)")
    code.set_defaults(handler=_code)

    demo = commands.add_parser("demo", help="a short demonstration")
    _add_at(demo, "start time (default now)")
    demo.set_defaults(handler=_demo)

    _register_app(commands)


def _register_app(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    app = commands.add_parser("app", help="the virtual authenticator app")
    actions = app.add_subparsers(dest="app_command", metavar="ACTION")
    actions.required = True

    def action(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument(
            "--app", type=Path, metavar="FILE", help=f"default ~/.tokenbench/{APP_FILE}"
        )
        sub.set_defaults(handler=handler)
        return sub

    add = action("add", _app_add, "add an account from an otpauth:// URI or a QR code PNG")
    add.add_argument("source", metavar="URI_OR_PNG")
    codes = action("codes", _app_codes, "show every account's current code")
    _add_at(codes, "time (default now)")
    export = action(
        "export",
        _app_export,
        "export all accounts as an otpauth-migration URI, or one (NAME) into a key's OATH applet",
    )
    export.add_argument("--png", type=Path, metavar="FILE", help="also write it as a QR code")
    export.add_argument("name", nargs="?", metavar="NAME", help="the account (with --to-key)")
    export.add_argument(
        "--to-key", metavar="URI", help="copy NAME into the OATH applet of this pcsc:READER key"
    )
    export.add_argument("--touch", action="store_true", help="the key asks a touch per code")
    add_secret_option(export, OATH_PASSWORD, metavar="PASSWORD", why="if the applet has one")
    imported = action("import", _app_import, "import an otpauth-migration URI (or its QR PNG)")
    imported.add_argument("source", metavar="MIGRATION_URI")
