"""Every report says which device answered: results.json, the HTML header block, JUnit.

Real `bench run`s against emulated keys (a normal one, one that garbles its CBOR, a
U2F-only one) and emulated TOTP tokens; the model name comes from the metadata statement
`key attestation-ca` writes for the emulated vendor.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fido2 import cbor
from fido2.ctap2 import Info
from fido2.webauthn import Aaguid

from tokenbench.bench.device_identity import FIELDS, gather, one_line, shown
from tokenbench.bench.targets import parse_target
from tokenbench.emulators.ctap.profiles import get_profile

ROOT = Path(__file__).resolve().parents[2]
TOKENBENCH = Path(sys.executable).parent / "tokenbench"
VERSION = importlib.metadata.version("tokenbench")
TARGETS = ("emu:", "emu:fault=malformed-cbor", "totp:emu")


def _tokenbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOKENBENCH), *args], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """One run over three targets with `--mds`: the report directory, results.json, stderr."""
    ca = tmp_path_factory.mktemp("ca")
    assert _tokenbench("key", "attestation-ca", "--out", str(ca)).returncode == 0
    out = tmp_path_factory.mktemp("report")
    argv = ["bench", "run", "--report", str(out), "-j", "2", "-k", "get_info or codes_match"]
    argv += ["--mds", str(ca / "metadata-statement.json")]
    for target in TARGETS:
        argv += ["--target", target]
    done = _tokenbench(*argv)
    assert done.returncode == 1, done.stderr[-2000:]  # the malformed-CBOR key fails its tests
    results = json.loads((out / "results.json").read_text())
    return out, results, done.stderr


def _device(results: dict[str, Any], uri: str) -> dict[str, Any]:
    return next(t for t in results["targets"] if t["uri"] == uri)["device"]


def test_results_json_names_the_key(report):
    _, results, _ = report
    device = _device(results, "emu:")
    profile = get_profile("default")
    info = Info.from_dict(cbor.decode(bytes.fromhex(device["get_info_hex"])))
    assert device["aaguid"] == str(info.aaguid) == str(Aaguid(profile.aaguid))
    assert device["model"] == profile.model and "unsigned" in device["model_source"]
    assert device["versions"] == list(info.versions) and "FIDO_2_1" in device["versions"]
    assert device["firmware_version"] == info.firmware_version is not None
    assert device["transports"] == list(info.transports)
    assert (device["vid"], device["pid"]) == ("1209", "7b01")
    assert device["product"] == "tokenbench CTAP 2.1 key" and device["ctaphid_version"]
    assert device["tokenbench_version"] == results["tokenbench_version"] == VERSION
    assert device["errors"] == []


def test_a_key_that_garbles_get_info_is_still_tested(report):
    _, results, _ = report
    target = next(t for t in results["targets"] if t["uri"] == "emu:fault=malformed-cbor")
    device = target["device"]
    assert device["aaguid"] is None and device["get_info_hex"]  # the raw answer is kept
    assert any(e.startswith("getInfo:") for e in device["errors"])
    assert device["versions"] == ["U2F_V2"]  # what U2F VERSION still says
    assert target["counts"]["failed"] >= 1 and not target["problem"]


def test_totp_targets_name_their_tokens(report):
    _, results, _ = report
    device = _device(results, "totp:emu")
    assert device["totp_serials"] and all(s.startswith("EMUT") for s in device["totp_serials"])
    assert device["aaguid"] is None and device["errors"] == []


def test_junit_properties_carry_the_identity(report):
    out, results, _ = report
    target = next(t for t in results["targets"] if t["uri"] == "emu:")
    root = ET.parse(out / target["junit"]).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    device = target["device"]
    assert properties["device.aaguid"] == device["aaguid"]
    assert properties["device.model"] == device["model"]
    assert properties["device.firmware_version"] == str(device["firmware_version"])
    assert properties["device.versions"] == ", ".join(device["versions"])
    assert properties["device.get_info_hex"] == device["get_info_hex"]
    assert properties["device.tokenbench_version"] == VERSION


def test_html_has_a_header_block_per_target(report):
    out, results, _ = report
    page = (out / "report.html").read_text()
    blocks = re.findall(r'<table class="device"[^>]*>(.*?)</table>', page)
    assert len(blocks) == len(TARGETS)
    emu = next(b for b in blocks if "<td>emu:</td>" in b)
    device = _device(results, "emu:")
    for label, value in (
        ("AAGUID", device["aaguid"]),
        ("model (MDS3)", device["model"]),
        ("firmwareVersion", str(device["firmware_version"])),
        ("USB VID", "1209"),
        ("getInfo (CBOR, hex)", device["get_info_hex"]),
        ("tokenbench", VERSION),
    ):
        assert f"<th>{label}</th><td>{value}</td>" in emu
    assert "not readable" in next(b for b in blocks if "malformed-cbor" in b)
    assert f"tokenbench {VERSION}" in page


def test_the_console_names_each_target(report):
    _, results, stderr = report
    device = _device(results, "emu:")
    assert f"emu: AAGUID {device['aaguid']}" in stderr


def test_u2f_only_key_records_what_is_readable():
    target = parse_target("emu:profile=u2f-only")
    try:
        identity = gather(target).to_dict()
    finally:
        target.close()
    assert identity["versions"] == ["U2F_V2"] and identity["aaguid"] is None
    assert identity["vid"] == "1209" and identity["product"]
    assert identity["errors"] == ["getInfo: not offered (no CBOR capability: a U2F-only key)"]
    assert "1 item(s) not readable" in one_line(identity)


def test_an_unreachable_target_still_gets_a_device_entry(tmp_path):
    done = _tokenbench(
        "bench", "run", "--report", str(tmp_path), "--target", "hid:/dev/hidraw-none"
    )
    assert done.returncode == 1
    device = json.loads((tmp_path / "results.json").read_text())["targets"][0]["device"]
    assert device["tokenbench_version"] == VERSION and "hidraw-none" in device["errors"][0]


def test_a_bad_mds_file_is_one_line_before_anything_runs(tmp_path):
    bad = tmp_path / "mds.json"
    bad.write_text('{"entries": 5}')
    done = _tokenbench("bench", "run", "--target", "emu:", "--mds", str(bad))
    assert done.returncode == 1 and "MDS file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "results.json").exists()


def test_every_field_is_shown_in_table_order():
    identity = {key: f"v-{key}" for key, _ in FIELDS} | {"versions": ["A", "B"], "serial": None}
    rows = shown(identity)
    assert [key for key, _, _ in rows] == [k for k, _ in FIELDS if k != "serial"]
    assert ("versions", "versions", "A, B") in rows
