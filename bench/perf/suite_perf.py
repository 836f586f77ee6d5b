"""How long the whole suite set takes against the emulated key, and what each CTAP command costs.

Run: `.venv/bin/python -m tokenbench.bench.perf.suite_perf`. It runs every suite against `emu:` and
`totp:emu` exactly as `make run` does (one pytest process per target, destructive tests on),
then prints the wall time per target and the median latency per CTAP command as the suites
saw it. As a peer, measured in the same run, the same commands are timed as raw
`CtapHidDevice.call()`s on a fresh emulated key, without pytest or the bench's timing
wrapper: the ratio shows what the bench adds on top of the device. From a repository
checkout it also times python-fido2's own device suite against the same key over NFC and USB
HID (tests/conformance, one clean run per path and profile), next to ours.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

from rich.console import Console

from tokenbench.bench.report_summary import command_latencies
from tokenbench.bench.runner import RunOptions, execute

PEER_ROUNDS = 200
TARGETS = ("emu:", "totp:emu")


def peer_latencies(rounds: int = PEER_ROUNDS) -> dict[str, float]:
    """Median seconds per raw CTAPHID call on a fresh emulated key, python-fido2 alone.

    The same measure as the suites' timing wrapper (the `call()` of the device, request
    bytes in, response bytes out, no client-side CBOR parsing), without pytest around it.
    """
    import hashlib

    from fido2 import cbor
    from fido2.hid import CTAPHID

    from tokenbench.emulators.key import EmulatedKey

    key = EmulatedKey.create()
    try:
        device = key.hid_device()
        cdh = hashlib.sha256(b"perf").digest()
        made = device.call(
            CTAPHID.CBOR,
            b"\x01"
            + cbor.encode(
                {
                    1: cdh,
                    2: {"id": "perf.example"},
                    3: {"id": b"perf", "name": "perf"},
                    4: [{"type": "public-key", "alg": -7}],
                }
            ),
        )
        response = cbor.decode(made[1:])
        assert isinstance(response, dict)  # makeCredential's response map
        auth_data = response[2]
        assert isinstance(auth_data, bytes)
        id_length = int.from_bytes(auth_data[53:55], "big")
        credential = auth_data[55 : 55 + id_length]
        requests = {
            "getInfo": b"\x04",
            "makeCredential": b"\x01"
            + cbor.encode(
                {
                    1: cdh,
                    2: {"id": "perf.example"},
                    3: {"id": b"perf", "name": "perf"},
                    4: [{"type": "public-key", "alg": -7}],
                }
            ),
            "getAssertion": b"\x02"
            + cbor.encode(
                {1: "perf.example", 2: cdh, 3: [{"type": "public-key", "id": credential}]}
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in requests}
        for _ in range(rounds):
            for name, request in requests.items():
                started = time.perf_counter()
                answer = device.call(CTAPHID.CBOR, request)
                samples[name].append(time.perf_counter() - started)
                assert answer[:1] == b"\x00", f"peer {name} failed: 0x{answer[0]:02x}"
        return {name: statistics.median(values) for name, values in samples.items()}
    finally:
        key.close()


DEVICE_SUITE_TESTS = Path("tests") / "conformance"
"""The harness that runs python-fido2's own device suite (repository checkouts only)."""


def device_suite_times(workdir: Path) -> dict[str, float] | str:
    """Wall seconds of python-fido2 2.2.1's device suite against our key, per path and profile
    (one clean run each, as `make test` does it), or why there is no figure."""
    if not DEVICE_SUITE_TESTS.is_dir():
        return f"needs a repository checkout ({DEVICE_SUITE_TESTS} is not here)"
    report = workdir / "device-suite.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(DEVICE_SUITE_TESTS),
        "-k",
        "passes_over",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if not report.exists():
        return f"the harness did not run (exit {done.returncode})"
    times: dict[str, float] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")  # test_fido2_device_suite_passes_over_nfc[default]
        path, _, profile = name.removeprefix("test_fido2_device_suite_passes_over_").partition("[")
        failed = case.find("failure") is not None or case.find("error") is not None
        times[f"{path} {profile.rstrip(']')}" + (" (FAILED)" if failed else "")] = float(
            case.get("time", "0")
        )
    return times


def main() -> int:
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="tokenbench-perf-") as tmp:
        options = RunOptions(
            targets=TARGETS, allow_destructive=True, jobs=len(TARGETS), report_dir=Path(tmp)
        )
        started = time.perf_counter()
        summary, _ = execute(options, console=Console(stderr=True, quiet=True))
        wall = time.perf_counter() - started
        import json

        document = json.loads((Path(tmp) / "results.json").read_text())
    from tokenbench.bench.report_records import TestRecord

    records = [TestRecord.from_dict(t) for target in document["targets"] for t in target["tests"]]
    peers = peer_latencies()
    with tempfile.TemporaryDirectory(prefix="tokenbench-perf-") as tmp:
        device_suite = device_suite_times(Path(tmp))
    print(f"suite set against {', '.join(TARGETS)}: {wall:.2f} s wall (target: < 30 s)")
    for target in document["targets"]:
        seconds = sum(t["duration"] for t in target["tests"])
        counts = target["counts"] or {}
        print(
            f"  {target['uri']:10} {len(target['tests']):4} tests, {seconds:6.2f} s in tests, "
            f"passed {counts.get('passed', 0)}, failed {counts.get('failed', 0)}, "
            f"skipped {counts.get('unclaimed', 0) + counts.get('not_permitted', 0)}"
        )
    print(f"{'command':22} {'count':>6} {'median ms':>10} {'peer ms':>9} {'ratio':>6}")
    for name, values in sorted(command_latencies(records).items(), key=lambda kv: -len(kv[1])):
        median = statistics.median(values)
        peer = peers.get(name)
        ratio = f"{median / peer:6.2f}" if peer else "     -"
        peer_text = f"{peer * 1e3:9.3f}" if peer else "        -"
        print(f"{name:22} {len(values):6d} {median * 1e3:10.3f} {peer_text} {ratio}")
    print("peer: raw CtapHidDevice.call on a fresh emulated key, no pytest, no timing wrapper")
    print("python-fido2 2.2.1 device suite against the emulated key (wall, incl. rig set-up):")
    if isinstance(device_suite, str):
        print(f"  not measured: {device_suite}")
    else:
        ours = next((t for t in document["targets"] if t["uri"] == "emu:"), None)
        our_wall = sum(t["duration"] for t in ours["tests"]) if ours else 0.0
        for run, seconds in sorted(device_suite.items()):
            ratio = f"{seconds / our_wall:5.1f}x ours" if our_wall else ""
            print(f"  {run:22} {seconds:7.2f} s  {ratio}")
    if not summary.ok:
        console.print("[red]the suites did not all pass; figures above are still measured[/]")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
