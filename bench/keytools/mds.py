"""AAGUID -> model name from FIDO Metadata Service (MDS3) data.

Accepted files (`key info --mds FILE`):
  - an MDS3 blob as downloaded from https://mds3.fidoalliance.org/ (a JWT); its signature
    chain is verified against `--mds-root CERT` (PEM or DER) when given, and the output says
    "signature not verified" when it is not;
  - for offline tests and private fleets, unsigned JSON: the blob's payload object
    (`{"legalHeader": ..., "no": ..., "nextUpdate": ..., "entries": [...]}`), just the list of
    entries, or one bare metadata statement (what `tokenbench key attestation-ca` writes).
    Field names are MDS3's; python-fido2's `fido2.mds3` parses all forms, so a malformed
    entry is refused the same way. Unsigned JSON is said to be unsigned in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from fido2 import mds3
from fido2.webauthn import Aaguid

from tokenbench.bench.errors import UserError


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


@dataclass(frozen=True)
class Model:
    """What an MDS entry (or a bare metadata statement) says about one AAGUID."""

    aaguid: Aaguid | None
    description: str | None
    status: str | None = None


def _from_json(parsed: Any) -> list[Model]:
    if isinstance(parsed, list):  # a list of MDS3 entries
        entries = []
        for entry in parsed:
            if not isinstance(entry, dict):  # from_dict(None) would return None
                raise ValueError("an MDS3 entry is not a JSON object")
            entries.append(mds3.MetadataBlobPayloadEntry.from_dict(entry))
    elif "entries" in parsed:  # a blob's payload
        entries = list(mds3.MetadataBlobPayload.from_dict(parsed).entries)
    else:  # one bare metadata statement (e.g. `tokenbench key attestation-ca` output)
        statement = mds3.MetadataStatement.from_dict(parsed)
        return [Model(statement.aaguid, statement.description)]
    return [_model(e) for e in entries]


def _model(entry: mds3.MetadataBlobPayloadEntry) -> Model:
    statement = entry.metadata_statement
    status = entry.status_reports[0].status.value if entry.status_reports else None
    return Model(entry.aaguid, statement.description if statement else None, status)


def load_models(path: str | Path, root: str | Path | None = None) -> tuple[list[Model], str]:
    """The models an MDS3 blob or JSON file describes, and a word on how they were checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read MDS file {path}: {exc.strerror}") from None
    stripped = data.strip()
    try:
        if stripped[:1] in (b"{", b"["):
            return _from_json(json.loads(stripped)), f"unsigned MDS JSON {path.name}"
        trust_root = _load_root(Path(root)) if root else None
        payload = mds3.parse_blob(stripped, trust_root)
    except OSError as exc:
        raise UserError(f"cannot read MDS root {root}: {exc.strerror}") from None
    except Exception as exc:  # JSON, base64, X.509 and signature errors all mean "bad blob"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"MDS file {path} refused: {detail}") from None
    how = "verified against the given root" if root else "signature not verified"
    return [_model(e) for e in payload.entries], f"MDS3 blob no. {payload.no}, {how}"


def lookup(aaguid: Aaguid, path: str | Path, root: str | Path | None = None) -> ModelLookup:
    models, source = load_models(path, root)
    for model in models:
        if model.aaguid == aaguid:
            if model.status is not None:
                source += f", status {model.status}"
            return ModelLookup(model.description or "(entry without a description)", source)
    return ModelLookup(None, f"AAGUID not in {source}")
