"""`tokenbench key list|info|wink|reset|creds`: tools for real (and emulated) security keys.

Every command takes `--target URI` (default `hid:auto`, the first FIDO HID key) so the same
tool works on a real key and, in tests, on `emu:`. Errors are one line; a PIN given with
`--pin` is handed to the key and never printed; `--pin -` (stdin), `--pin-file FILE` or
$TOKENBENCH_PIN keep it out of the process list and the shell history (see `secret_input`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from fido2.ctap import CtapDevice, CtapError
from fido2.hid import CAPABILITY

from tokenbench.bench.errors import UserError
from tokenbench.bench.secret_input import PIN, add_secret_option, read_secret
from tokenbench.bench.targets import KeyTarget, parse_target

DEFAULT_TARGET = "hid:auto"
RESET_WINDOW_SECONDS = 10


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subcommands.add_parser(
        "list",
        help="list FIDO keys on HID, PC/SC and USB",
        description="List FIDO keys on HID (hidraw), in PC/SC readers, and on USB (pyusb: FIDO "
        "usage page 0xF1D0 or a known VID:PID; CCID readers by interface class 0x0B).",
        epilog="TOKENBENCH_PYUSB_BACKEND=module:factory replaces pyusb's backend, e.g. "
        "tokenbench.bench.keytools.usb_replay:replay_from_env with "
        "TOKENBENCH_USB_RECORDINGS=FILE[:FILE] "
        "to replay recorded descriptors (see tests/data/usb).",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=run_list)

    info = subcommands.add_parser("info", help="getInfo of a key, decoded and explained")
    add_target_argument(info)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--mds", metavar="FILE", help="MDS3 blob (or JSON entries) for the model")
    info.add_argument("--mds-root", metavar="CERT", help="root certificate to verify the blob")
    add_secret_option(info, PIN, metavar="PIN", why="also count discoverable credentials")
    info.set_defaults(handler=run_info)

    wink = subcommands.add_parser("wink", help="make the key blink so you can tell which it is")
    add_target_argument(wink)
    wink.set_defaults(handler=run_wink)

    reset = subcommands.add_parser("reset", help="factory-reset a key (deletes every credential)")
    add_target_argument(reset)
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=run_reset)

    creds = subcommands.add_parser("creds", help="list or delete discoverable credentials")
    add_target_argument(creds)
    add_secret_option(creds, PIN, metavar="PIN", why="required")
    creds.add_argument("--delete", metavar="CRED_ID", help="delete this credential (hex id)")
    creds.add_argument("--json", action="store_true", help="machine-readable output")
    creds.set_defaults(handler=run_creds)


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        metavar="URI",
        help=f"key to use: hid:auto, hid:/dev/hidrawN, pcsc:auto, udp:HOST:PORT, emu: "
        f"(default {DEFAULT_TARGET})",
    )


@contextlib.contextmanager
def open_target(uri: str) -> Iterator[tuple[KeyTarget, CtapDevice]]:
    """The target and its open device; transport failures become one line."""
    target = parse_target(uri)
    if not isinstance(target, KeyTarget):
        raise UserError(f"{uri} is not a security key target")
    try:
        try:
            device = target.device()
        except UserError:
            raise
        except (OSError, CtapError, TimeoutError) as exc:
            raise UserError(f"cannot open {uri}: {exc}") from None
        yield target, device
    except (OSError, TimeoutError) as exc:
        raise UserError(f"lost {uri}: {exc}") from None
    finally:
        target.close()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------- list


def run_list(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.discovery import list_all

    listing = list_all()
    if args.json:
        _print_json({"devices": [d.as_json() for d in listing.devices], "notes": listing.notes})
        return 0
    for device in listing.devices:
        print(
            f"{device.path:<28} {device.vid_pid:<10} {device.product or '-'}"
            f"  serial={device.serial or '-'}  [{', '.join(device.interfaces)}]"
        )
    for note in listing.notes:
        print(f"note: {note}")
    if not listing.devices:
        print("no FIDO device found")
    return 0


# ---------------------------------------------------------------------------------- info


def run_info(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.device_ops import gather_report, open_ctap2
    from tokenbench.bench.keytools.info import render
    from tokenbench.bench.keytools.oath_key import oath_summary

    pin = read_secret(args, PIN)
    with open_target(args.target) as (_, device):
        ctap = open_ctap2(device)
        report = gather_report(ctap, pin)
        oath = oath_summary(device)  # last: it leaves the card's FIDO applet selected again
    if args.mds:
        from tokenbench.bench.keytools.mds import lookup

        found = lookup(ctap.info.aaguid, args.mds, args.mds_root)
        report.model, report.model_source = found.description, found.source
        if found.description is None:
            report.notes.append(found.source)
    elif args.mds_root:
        raise UserError("--mds-root needs --mds")
    if args.json:
        _print_json(
            {
                "target": args.target,
                "info": report.info,
                "pin_retries": report.pin_retries,
                "power_cycle_required": report.power_cycle_required,
                "uv_retries": report.uv_retries,
                "credentials": report.credentials,
                "model": report.model,
                "model_source": report.model_source,
                "notes": report.notes,
                "oath": None if oath is None else oath.as_json(),
            }
        )
    else:
        print(render(report))
        if oath is not None:
            print("\n".join(oath.lines()))
    return 0


# ---------------------------------------------------------------------------------- wink


def run_wink(args: argparse.Namespace) -> int:
    with open_target(args.target) as (_, device):
        if not device.capabilities & CAPABILITY.WINK or not hasattr(device, "wink"):
            raise UserError(f"{args.target} cannot wink")
        try:
            device.wink()
        except CtapError as exc:
            raise UserError(f"wink failed: CTAP error {exc.code}") from None
    print(f"{args.target}: winked (the key's light should blink)")
    return 0


# ---------------------------------------------------------------------------------- reset


RESET_EXPLANATION = (
    "A reset deletes every credential on the key and its PIN. Keys accept it only within about "
    f"{RESET_WINDOW_SECONDS} s after being plugged in (CTAP 2.1 §6.6), and most ask for a touch."
)


def run_reset(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.device_ops import open_ctap2, reset

    target = parse_target(args.target)
    if not isinstance(target, KeyTarget):
        raise UserError(f"{args.target} is not a security key target")
    try:
        sys.stderr.write(RESET_EXPLANATION + "\n")
        if not args.yes and not target.prompter.confirm(
            f"Reset {target.identity()} and lose all its credentials?"
        ):
            raise UserError("reset cancelled")
        _power_cycle(target)
        ctap = open_ctap2(target.device())
        touched = target.presence_needed()  # "touch the key now" (an emulated key: a touch)
        try:
            reset(ctap)
        finally:
            if touched is not None:
                touched()
    finally:
        target.close()
    print(f"{args.target}: reset done (no PIN, no credentials)")
    return 0


def _power_cycle(target: KeyTarget) -> None:
    """Re-plug the key (a real one: the person, with a countdown) to open the reset window."""
    try:
        target.power_cycle()
    except UserError:
        raise
    except (OSError, CtapError, TimeoutError) as exc:
        raise UserError(f"cannot re-open {target.uri} after the re-plug: {exc}") from None


# ---------------------------------------------------------------------------------- creds


def run_creds(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.device_ops import (
        credential_manager,
        delete_credential,
        list_credentials,
        open_ctap2,
    )

    pin = read_secret(args, PIN)
    if pin is None:
        raise UserError(f"key creds needs the key's PIN: {PIN.safe_forms}")
    delete_id = _hex_id(args.delete) if args.delete else None
    with open_target(args.target) as (_, device):
        manager = credential_manager(open_ctap2(device), pin)
        if delete_id is not None:
            delete_credential(manager, delete_id)
            print(f"deleted credential {delete_id.hex()}")
            return 0
        credentials = list_credentials(manager)
    if args.json:
        _print_json([c.as_json() for c in credentials])
        return 0
    if not credentials:
        print("no discoverable credentials on this key")
    rp_width = max((len(c.rp_id) for c in credentials), default=0)
    for cred in credentials:
        user = cred.user_name or cred.user_display_name or cred.user_id.hex()
        print(f"{cred.rp_id:<{rp_width}}  {user}  id={cred.credential_id.hex()}")
    return 0


def _hex_id(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise UserError(f"credential id must be hex, not {text[:40]!r}") from None
    if not value:
        raise UserError("empty credential id")
    return value
