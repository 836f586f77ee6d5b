"""`tokenbench key attestation-ca --out DIR [--profile NAME]`: export the emulated vendor's trust.

Writes `DIR/root-ca.pem` (the root certificate every emulated key's batch attestation chains to)
and `DIR/metadata-statement.json` (a FIDO MDS3 metadata statement for the chosen model, its
getInfo taken from a fresh emulated key of that profile). Point a relying party or the
verifier's trust store at these files to accept attestation from emulated keys. The root is
deterministic, so an export stays valid for every later run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenbench.bench.errors import UserError
from tokenbench.emulators.private_file import PUBLIC_FILE_MODE, write_private_file

ROOT_FILE = "root-ca.pem"
METADATA_FILE = "metadata-statement.json"


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tokenbench.emulators.ctap.profiles import PROFILES

    parser = subcommands.add_parser(
        "attestation-ca",
        help="write the emulated vendor's root CA and an MDS3 metadata statement",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--profile", default="default", choices=sorted(PROFILES), help="emulated model"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tokenbench.emulators.ctap.attestation import (
        VendorAuthority,
        metadata_statement,
        root_fingerprint,
    )
    from tokenbench.emulators.ctap.authenticator import Authenticator
    from tokenbench.emulators.ctap.env import Env
    from tokenbench.emulators.ctap.profiles import get_profile

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    if not out.is_dir():
        raise UserError(f"{out} is not a directory")
    try:
        profile = get_profile(args.profile)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    vendor = VendorAuthority.default()
    # getInfo exactly as a factory-fresh key of this profile answers it (no PIN set yet).
    info = Authenticator(Env.system(), profile).get_info_map()
    statement = metadata_statement(profile.aaguid, profile.model, info, vendor.root_certificate)
    root_path, metadata_path = out / ROOT_FILE, out / METADATA_FILE
    _write_atomically(root_path, vendor.root_pem)
    _write_atomically(metadata_path, (json.dumps(statement, indent=2) + "\n").encode())
    print(root_path)
    print(metadata_path)
    print(f"root SHA-256 fingerprint: {root_fingerprint(vendor.root_certificate)}")
    return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """Through the private-file writer: a reader never sees half a file, a planted symlink is
    never followed. Public material (a root certificate, a metadata statement): mode 0644."""
    try:
        write_private_file(path, data, mode=PUBLIC_FILE_MODE, make_parents=False)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
