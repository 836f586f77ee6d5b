"""`tokenbench key make-credential|get-assertion`: exercise a key by hand, as a browser would.

Make a credential (resident or not, with hmac-secret, a credBlob, large-blob support), then
get assertions, derive hmac-secret outputs from one or two 32-byte salts, read the credBlob,
or write/read the credential's large blob. The PIN, when the key wants one, comes from
`--pin-file`, $TOKENBENCH_PIN or `--pin -`; never from argv in normal use.
"""

from __future__ import annotations

import argparse
from typing import Any

from fido2.webauthn import UserVerificationRequirement

from tokenbench.bench.commands.keycli import add_key_arguments, key_session, report
from tokenbench.bench.secret_input import PIN, read_secret

UV_CHOICES = [u.value for u in UserVerificationRequirement]
PIN_WHY = "when the key asks for it"


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    make = subcommands.add_parser("make-credential", help="create a credential on a key")
    add_key_arguments(make, pin_why=PIN_WHY)
    _common(make)
    make.add_argument(
        "--user", type=_text, default="tokenbench", help="user name (default %(default)s)"
    )
    make.add_argument(
        "--display-name", type=_text, help="user display name (default: the user name)"
    )
    make.add_argument("--user-id", type=_hex, metavar="HEX", help="user handle (default: random)")
    make.add_argument("--resident", action="store_true", help="a discoverable credential")
    make.add_argument(
        "--alg", action="append", choices=sorted(_algorithms()), help="algorithm; repeatable"
    )
    make.add_argument("--hmac-secret", action="store_true", help="enable hmac-secret")
    make.add_argument("--cred-blob", type=_hex, metavar="HEX", help="store a credBlob")
    make.add_argument(
        "--large-blob", action="store_true", help="ask for large-blob support (needs --resident)"
    )
    make.set_defaults(handler=run_make_credential)

    get = subcommands.add_parser("get-assertion", help="get assertions from a key")
    add_key_arguments(get, pin_why=PIN_WHY)
    _common(get)
    get.add_argument(
        "--credential-id", action="append", type=_hex, metavar="HEX", dest="credential_ids",
        help="allow this credential; repeatable (default: the key's discoverable ones)",
    )  # fmt: skip
    get.add_argument(
        "--hmac-salt", action="append", type=_hex, metavar="HEX", dest="salts",
        help="derive an hmac-secret output from this 32-byte salt; give one or two",
    )  # fmt: skip
    get.add_argument("--cred-blob", action="store_true", help="read the credBlob")
    blob = get.add_mutually_exclusive_group()
    blob.add_argument("--large-blob-read", action="store_true", help="read the large blob")
    blob.add_argument("--large-blob-write", type=_hex, metavar="HEX", help="write the large blob")
    get.set_defaults(handler=run_get_assertion)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rp-id", required=True, type=_rp_id, help="relying party ID, e.g. example.com"
    )
    parser.add_argument(
        "--uv", choices=UV_CHOICES, default="discouraged", help="user verification (%(default)s)"
    )


def _algorithms() -> dict[str, int]:
    from tokenbench.bench.keytools.exercise import ALGORITHMS

    return ALGORITHMS


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text[:40]!r}") from None


def _lines(result: dict[str, Any], prefix: str = "") -> list[str]:
    lines: list[str] = []
    for name, value in result.items():
        if isinstance(value, dict):
            lines.extend(_lines(value, f"{prefix}{name}."))
        elif value is not None:
            lines.append(f"{prefix}{name}: {value}")
    return lines


def run_make_credential(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.exercise import (
        DEFAULT_ALGORITHMS,
        CredentialRequest,
        make_credential,
    )

    request = CredentialRequest(
        rp_id=args.rp_id,
        user_name=args.user,
        user_id=args.user_id,
        display_name=args.display_name,
        resident=args.resident,
        uv=args.uv,
        algorithms=tuple(args.alg or DEFAULT_ALGORITHMS),
        hmac_secret=args.hmac_secret,
        cred_blob=args.cred_blob,
        large_blob=args.large_blob,
    )
    pin = read_secret(args, PIN)
    with key_session(args.target) as (target, device, ctap):
        result = make_credential(device, ctap, request, pin, target.presence_needed)
    return report(args, result, _lines(result))


def run_get_assertion(args: argparse.Namespace) -> int:
    from tokenbench.bench.keytools.exercise import AssertionRequest, get_assertion

    request = AssertionRequest(
        rp_id=args.rp_id,
        credential_ids=tuple(args.credential_ids or ()),
        uv=args.uv,
        salts=tuple(args.salts or ()),
        cred_blob=args.cred_blob,
        large_blob_read=args.large_blob_read,
        large_blob_write=args.large_blob_write,
    )
    pin = read_secret(args, PIN)
    with key_session(args.target) as (target, device, ctap):
        result = get_assertion(device, ctap, request, pin, target.presence_needed)
    lines = [f"rp_id: {result['rp_id']}"]
    for number, assertion in enumerate(result["assertions"], 1):
        lines += _lines(assertion, f"assertion {number}: ")
    return report(args, result, lines)


def _text(text: str) -> str:
    """Names go to the key as CBOR text: argv's undecodable bytes (surrogates) cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not UTF-8 text") from None
    return text


def _rp_id(text: str) -> str:
    rp_id = _text(text).strip()
    if not rp_id or any(c.isspace() or c in "/:" for c in rp_id):
        raise argparse.ArgumentTypeError(f"{text!r} is not an RP ID (a domain: example.com)")
    return rp_id
