"""AAGUID -> model name from FIDO Metadata Service (MDS3) data.

Accepted files (`key info --mds FILE`):
  - an MDS3 blob as downloaded from https://mds3.fidoalliance.org/ (a JWT); its signature
    chain is verified against `--mds-root CERT` (PEM or DER) when given, and the output says
    "signature not verified" when it is not;
  - for offline tests and private fleets, an unsigned JSON payload: either the blob's payload
    object (`{"legalHeader": ..., "no": ..., "nextUpdate": ..., "entries": [...]}`) or just
    the list of entries. Entries use the MDS3 field names; python-fido2's `fido2.mds3` parses
    both forms, so a malformed entry is refused the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from fido2 import mds3
from fido2.webauthn import Aaguid

from bench.errors import UserError


@dataclass(frozen=True)
class ModelLookup:
    description: str | None
    source: str  # how far to trust the name


def _load_root(path: Path) -> bytes:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


def load_entries(
    path: str | Path, root: str | Path | None = None
) -> tuple[list[mds3.MetadataBlobPayloadEntry], str]:
    """The entries of an MDS3 blob or JSON file, and a word on how they were checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read MDS file {path}: {exc.strerror}") from None
    stripped = data.strip()
    try:
        if stripped[:1] in (b"{", b"["):
            parsed: Any = json.loads(stripped)
            if isinstance(parsed, list):
                entries = [mds3.MetadataBlobPayloadEntry.from_dict(e) for e in parsed]
            else:
                entries = list(mds3.MetadataBlobPayload.from_dict(parsed).entries)
            return entries, f"unsigned MDS JSON {path.name}"
        trust_root = _load_root(Path(root)) if root else None
        payload = mds3.parse_blob(stripped, trust_root)
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"cannot read MDS root {root}: {exc.strerror}") from None
    except Exception as exc:  # JSON, base64, X.509 and signature errors all mean "bad blob"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"MDS file {path} refused: {detail}") from None
    how = "verified against the given root" if root else "signature not verified"
    return list(payload.entries), f"MDS3 blob no. {payload.no}, {how}"


def lookup(aaguid: Aaguid, path: str | Path, root: str | Path | None = None) -> ModelLookup:
    entries, source = load_entries(path, root)
    for entry in entries:
        if entry.aaguid == aaguid:
            statement = entry.metadata_statement
            description = statement.description if statement else None
            status = entry.status_reports[0].status if entry.status_reports else None
            if status is not None:
                source += f", status {status.value}"
            return ModelLookup(description or "(entry without a description)", source)
    return ModelLookup(None, f"AAGUID not in {source}")
