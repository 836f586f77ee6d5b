"""`tokenbench key attestation-ca`: files written, parseable, and consistent with the emulator."""

from __future__ import annotations

import json

from cryptography import x509
from fido2.mds3 import MetadataStatement

from tokenbench.bench.cli import main
from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.ctap.profiles import get_profile


def test_writes_root_and_metadata(tmp_path, capsys) -> None:
    out = tmp_path / "trust"
    assert main(["key", "attestation-ca", "--out", str(out), "--profile", "ctap20"]) == 0
    printed = capsys.readouterr().out.splitlines()
    root_path, metadata_path = out / "root-ca.pem", out / "metadata-statement.json"
    assert printed[:2] == [str(root_path), str(metadata_path)]

    root = x509.load_pem_x509_certificate(root_path.read_bytes())
    assert root == VendorAuthority.default().root_certificate
    statement = MetadataStatement.from_dict(json.loads(metadata_path.read_text()))
    profile = get_profile("ctap20")
    assert bytes(statement.aaguid) == profile.aaguid
    assert statement.description == profile.model
    assert statement.authenticator_get_info["versions"] == list(profile.versions)
    assert statement.authenticator_get_info["pinUvAuthProtocols"] == [1]
    assert [(v.major, v.minor) for v in statement.upv] == [(1, 0)]
    # a fresh batch certificate from this run chains to the exported root
    batch = VendorAuthority().batch(profile.aaguid, profile.model).certificate
    batch.verify_directly_issued_by(root)


def test_same_root_on_every_export(tmp_path) -> None:
    for name in ("a", "b"):
        assert main(["key", "attestation-ca", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "root-ca.pem").read_bytes() == (
        tmp_path / "b" / "root-ca.pem"
    ).read_bytes()


def test_unwritable_destination_is_one_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["key", "attestation-ca", "--out", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tokenbench: error: cannot create") and err.count("\n") == 1
