"""`tokenbench iam ...`: the verifier's IAM MFA rules with the AWS CLI's verbs and options.

Output is JSON shaped like the AWS CLI's; a refused operation prints the AWS CLI's one line
(`An error occurred (CODE) when calling the OPERATION operation: message`) on stderr and exits
254, as the AWS CLI does. State lives in `--store` (a SQLite file by default, or a PostgreSQL
URL); seeds in it are sealed under the key-encryption key from `--kek-file`, $TOKENBENCH_KEK,
or the `.kek` file next to the SQLite file (created, mode 0600, only for a store not yet bound
to a key; a PostgreSQL store needs one of the first two). The store refuses any other key (see
`tokenbench.verifier.kek`). Seeds are only ever written to the `--outfile` of
create-virtual-mfa-device, never printed.

Without `--as-user` the command acts as the account's administrator; with it, as that identity
(the self-service rule applies: once it has a device it must sign in with
`--mfa-serial-number/--mfa-token-code`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenbench.bench.arg_types import unix_time
from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import add_pskc_key_options, read_pskc_key

if TYPE_CHECKING:  # imported where used, so that other commands start without them
    from tokenbench.verifier.iam import Caller, IamService
    from tokenbench.verifier.service import Service
    from tokenbench.verifier.store import Store

EXIT_SERVICE_ERROR = 254  # what the AWS CLI returns when the service refuses
DEFAULT_STORE = "tokenbench-iam.db"
BOOTSTRAP_METHODS = ("QRCodePNG", "Base32StringSeed")
MAX_ITEMS = 1000  # IAM's maxItemsType
_TAG_RE = re.compile(r"Key=([^,]*),Value=(.*)")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=DEFAULT_STORE, help="SQLite file or PostgreSQL URL")
    common.add_argument(
        "--kek-file",
        help="key-encryption key file (default: $TOKENBENCH_KEK, then the store's file with "
        "the suffix .kek; required for PostgreSQL)",
    )
    common.add_argument("--account-id", help="12-digit account (default: the store's only one)")
    common.add_argument("--as-user", help="act as this identity instead of the administrator")
    common.add_argument("--mfa-serial-number", help="with --as-user: sign in with this device")
    common.add_argument("--mfa-token-code", help="with --as-user: its current code")
    common.add_argument(
        "--at",
        type=unix_time,
        metavar="UNIX_TIME",
        help="act at this time instead of now (rehearse expiry, cool-downs, drift)",
    )
    return common


# verb -> (IAM operation name, how to add its arguments, how to run it)
_Verb = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[..., Any]]


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "iam", help="IAM-style MFA devices: enrol, enable, sign in (AWS CLI verbs)"
    )
    verbs = parser.add_subparsers(dest="iam_verb", metavar="VERB")
    verbs.required = True
    common = _common()
    for verb, (operation, add_arguments, run) in VERBS.items():
        sub = verbs.add_parser(verb, parents=[common], help=operation)
        add_arguments(sub)
        sub.set_defaults(handler=_handler(operation, run))


def _handler(operation: str, run: Callable[..., Any]) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        from tokenbench.verifier.errors import IamError

        try:
            context = _Context.open(args)
            try:
                result = run(context, args)
            finally:
                context.close()
        except IamError as exc:
            sys.stderr.write(exc.aws_cli_line(operation) + "\n")
            return EXIT_SERVICE_ERROR
        if result is not None:
            sys.stdout.write(json.dumps(result, indent=4) + "\n")
        return 0

    return handle


class _Context:
    """The opened store, cipher and service for one command, and who is calling."""

    def __init__(self, store: Store, verifier: Service, caller: Caller) -> None:
        self.store = store
        self.verifier = verifier  # all of the verifier, from the composition root
        self.service: IamService = verifier.iam
        self.caller = caller

    @classmethod
    def open(cls, args: argparse.Namespace) -> _Context:
        from tokenbench.emulators.clock import FakeClock, SystemClock
        from tokenbench.verifier.errors import IamError
        from tokenbench.verifier.iam import ADMIN, Caller
        from tokenbench.verifier.kek import store_cipher
        from tokenbench.verifier.seeds import SeedError
        from tokenbench.verifier.service import VerifierOptions, build_service
        from tokenbench.verifier.store import Store

        try:
            store = Store.open(args.store)
        except Exception as exc:  # a bad URL, a server that is down, a file we cannot open
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot open store {args.store}: {detail}") from None
        try:
            try:  # the store says which key is its own: open it first
                cipher = store_cipher(store, args.kek_file)
            except SeedError as exc:
                raise UserError(str(exc)) from None
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
                why = getattr(exc, "strerror", None) or str(exc)
                raise UserError(f"cannot use key file {args.kek_file}: {why}") from None
            clock = SystemClock() if args.at is None else FakeClock(args.at)
            # The library's CLI keeps the library's lockout (the service turns it off, as AWS).
            options = VerifierOptions(account_id=args.account_id, lockout=True)
            verifier = build_service(store, cipher, clock, options)
            service = verifier.iam
            caller = ADMIN
            if args.as_user:
                caller = Caller(args.as_user)
                if args.mfa_serial_number or args.mfa_token_code:
                    if not (args.mfa_serial_number and args.mfa_token_code):
                        raise UserError("give both --mfa-serial-number and --mfa-token-code")
                    session = service.sign_in(
                        UserName=args.as_user,
                        SerialNumber=args.mfa_serial_number,
                        TokenCode=args.mfa_token_code,
                    )
                    caller = session.caller
            elif args.mfa_serial_number or args.mfa_token_code:
                raise UserError("--mfa-serial-number/--mfa-token-code need --as-user")
        except (IamError, UserError):
            store.close()
            raise
        return cls(store, verifier, caller)

    def close(self) -> None:
        self.store.close()


# --- verbs --------------------------------------------------------------------------------


def _tags(values: list[str] | None) -> list[dict[str, str]]:
    tags = []
    for value in values or []:
        match = _TAG_RE.fullmatch(value)
        if match is None:
            raise UserError(f"--tags takes Key=K,Value=V items, not {value!r}")
        tags.append({"Key": match.group(1), "Value": match.group(2)})
    return tags


def _args_create_virtual(p: argparse.ArgumentParser) -> None:
    p.add_argument("--virtual-mfa-device-name", required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--outfile", required=True, help="where the QR code or seed is written")
    p.add_argument("--bootstrap-method", required=True, choices=BOOTSTRAP_METHODS)
    p.add_argument("--tags", nargs="+", metavar="Key=K,Value=V")


def _create_virtual(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
    """The seed file is claimed (O_EXCL, 0600) before the device exists and the device is
    deleted again if writing fails: a device whose seed nobody has would be unusable."""
    outfile = Path(args.outfile)
    tags = _tags(args.tags)
    try:
        fd = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{outfile} exists; refusing to overwrite a seed file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"cannot create {outfile}: {why}; no device created") from None
    serial = None
    try:
        with os.fdopen(fd, "wb") as handle:
            created = ctx.service.create_virtual_mfa_device(
                VirtualMFADeviceName=args.virtual_mfa_device_name, Path=args.path, Tags=tags
            )["VirtualMFADevice"]
            serial = created["SerialNumber"]
            if args.bootstrap_method == "QRCodePNG":
                handle.write(created["QRCodePNG"])
            else:
                handle.write(created["Base32StringSeed"].encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        outfile.unlink(missing_ok=True)
        if serial is not None:
            ctx.service.delete_virtual_mfa_device(SerialNumber=serial)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {outfile}: {exc.strerror}; no device created") from None
        raise
    return {"VirtualMFADevice": {"SerialNumber": serial}}


def _args_user_serial_codes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-name")
    p.add_argument("--serial-number", required=True)
    p.add_argument("--authentication-code1", required=True)
    p.add_argument("--authentication-code2", required=True)


def _with_codes(method: str) -> Callable[[_Context, argparse.Namespace], None]:
    """enable-mfa-device and resync-mfa-device: the same arguments, another operation."""

    def run(ctx: _Context, args: argparse.Namespace) -> None:
        getattr(ctx.service, method)(
            UserName=args.user_name,
            SerialNumber=args.serial_number,
            AuthenticationCode1=args.authentication_code1,
            AuthenticationCode2=args.authentication_code2,
            caller=ctx.caller,
        )

    return run


def _args_user(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-name")


def _args_user_required(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-name", required=True)
    p.add_argument("--path", default="/")


def _args_user_serial(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-name")
    p.add_argument("--serial-number", required=True)


def _args_serial(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serial-number", required=True)


def _args_none(p: argparse.ArgumentParser) -> None:
    return None


def _max_items(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ITEMS:
        raise argparse.ArgumentTypeError(f"--max-items takes 1..{MAX_ITEMS}, not {text!r}")
    return int(text)


def _paginated(
    add_args: Callable[[argparse.ArgumentParser], None],
    run: Callable[..., dict[str, Any]],
) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[..., dict[str, Any]]]:
    """A list verb with the AWS CLI's paging: `--max-items N` and `--starting-token T`; a
    truncated answer ends with `NextToken` (the API's Marker) instead of IsTruncated/Marker."""

    def arguments(p: argparse.ArgumentParser) -> None:
        add_args(p)
        p.add_argument("--max-items", type=_max_items, metavar="N")
        p.add_argument("--starting-token", metavar="TOKEN", help="a NextToken from before")

    def paged(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
        page = dict(run(ctx, args, MaxItems=args.max_items, Marker=args.starting_token))
        truncated, marker = page.pop("IsTruncated", False), page.pop("Marker", None)
        if truncated and marker:
            page["NextToken"] = marker
        return page

    return arguments, paged


def _list_devices(ctx: _Context, args: argparse.Namespace, **page: Any) -> dict[str, Any]:
    return ctx.service.list_mfa_devices(UserName=args.user_name, caller=ctx.caller, **page)


def _args_list_virtual(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment-status", default="Any", choices=("Assigned", "Unassigned", "Any"))


def _list_virtual(ctx: _Context, args: argparse.Namespace, **page: Any) -> dict[str, Any]:
    return ctx.service.list_virtual_mfa_devices(AssignmentStatus=args.assignment_status, **page)


def _deactivate(ctx: _Context, args: argparse.Namespace) -> None:
    ctx.service.deactivate_mfa_device(
        UserName=args.user_name, SerialNumber=args.serial_number, caller=ctx.caller
    )


def _delete_virtual(ctx: _Context, args: argparse.Namespace) -> None:
    ctx.service.delete_virtual_mfa_device(SerialNumber=args.serial_number)


def _get_device(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
    return ctx.service.get_mfa_device(
        UserName=args.user_name, SerialNumber=args.serial_number, caller=ctx.caller
    )


def _create_user(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
    return ctx.service.create_user(UserName=args.user_name, Path=args.path)


def _list_users(ctx: _Context, args: argparse.Namespace, **page: Any) -> dict[str, Any]:
    return ctx.service.list_users(**page)


def _args_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="PSKC (RFC 6030) or CSV seed file")
    add_pskc_key_options(p)


def _import(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
    from tokenbench.verifier.seeds import SeedImportError

    password, psk = read_pskc_key(args, required=False)
    try:
        return ctx.service.import_seed_file(args.file, password=password, psk=psk)
    except SeedImportError as exc:
        raise UserError(f"nothing imported from {args.file}: {exc}") from None


def _args_sign_in(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-name", required=True)
    p.add_argument("--serial-number", required=True)
    p.add_argument("--token-code", required=True)
    p.add_argument("--duration-seconds", type=int, help="900..129600 (default 43200)")


def _sign_in(ctx: _Context, args: argparse.Namespace) -> dict[str, Any]:
    """STS GetSessionToken as that user (the CLI stands in for its long-term key): the answer
    is STS's, and the session it names works against `tokenbench serve` on the same store."""
    from tokenbench.verifier.principals import Principal

    identity = ctx.service.identity(args.user_name)
    principal = Principal.for_identity(identity, ctx.service.account_id)
    return ctx.verifier.sts.get_session_token(
        principal,
        SerialNumber=args.serial_number,
        TokenCode=args.token_code,
        DurationSeconds=args.duration_seconds,
    )


def _args_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serial-number", required=True)
    p.add_argument("--tags", nargs="+", required=True, metavar="Key=K,Value=V")


def _tag(ctx: _Context, args: argparse.Namespace) -> None:
    ctx.service.tag_mfa_device(SerialNumber=args.serial_number, Tags=_tags(args.tags))


def _args_untag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serial-number", required=True)
    p.add_argument("--tag-keys", nargs="+", required=True)


def _untag(ctx: _Context, args: argparse.Namespace) -> None:
    ctx.service.untag_mfa_device(SerialNumber=args.serial_number, TagKeys=args.tag_keys)


def _list_tags(ctx: _Context, args: argparse.Namespace, **page: Any) -> dict[str, Any]:
    return ctx.service.list_mfa_device_tags(SerialNumber=args.serial_number, **page)


_ENABLE, _RESYNC = _with_codes("enable_mfa_device"), _with_codes("resync_mfa_device")

VERBS: dict[str, _Verb] = {
    "create-virtual-mfa-device": ("CreateVirtualMFADevice", _args_create_virtual, _create_virtual),
    "enable-mfa-device": ("EnableMFADevice", _args_user_serial_codes, _ENABLE),
    "resync-mfa-device": ("ResyncMFADevice", _args_user_serial_codes, _RESYNC),
    "deactivate-mfa-device": ("DeactivateMFADevice", _args_user_serial, _deactivate),
    "delete-virtual-mfa-device": ("DeleteVirtualMFADevice", _args_serial, _delete_virtual),
    "list-mfa-devices": ("ListMFADevices", *_paginated(_args_user, _list_devices)),
    "list-virtual-mfa-devices": (
        "ListVirtualMFADevices",
        *_paginated(_args_list_virtual, _list_virtual),
    ),
    "get-mfa-device": ("GetMFADevice", _args_user_serial, _get_device),
    "create-user": ("CreateUser", _args_user_required, _create_user),
    "list-users": ("ListUsers", *_paginated(_args_none, _list_users)),
    "import-seeds": ("ImportSeeds", _args_import, _import),
    "sign-in": ("GetSessionToken", _args_sign_in, _sign_in),
    "tag-mfa-device": ("TagMFADevice", _args_tag, _tag),
    "untag-mfa-device": ("UntagMFADevice", _args_untag, _untag),
    "list-mfa-device-tags": ("ListMFADeviceTags", *_paginated(_args_serial, _list_tags)),
}

__all__ = ["VERBS", "register"]
