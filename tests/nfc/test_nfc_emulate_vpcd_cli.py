"""`tokenbench key emulate --vpcd`: the real command, run in the private pcscd's network namespace
(`nsenter --net`), seen by python-fido2 through pcscd; clean exit on SIGTERM and SIGINT."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fido2.ctap2 import Ctap2
from fido2.pcsc import CtapPcscDevice

from tokenbench.bench.cli import main

PROJECT = Path(__file__).resolve().parents[2]
READER = "Virtual PCD 00 01"
PORT = 35964
WAIT_SECONDS = 15.0


def find_card() -> list[CtapPcscDevice]:
    with contextlib.suppress(Exception):
        return list(CtapPcscDevice.list_devices(READER))
    return []


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def emulate_vpcd(private_pcscd, *args: str) -> Iterator[subprocess.Popen]:
    command = [
        "nsenter",
        f"--net={private_pcscd.netns_path}",
        sys.executable,
        "-m",
        "tokenbench.bench.cli",
    ]
    process = subprocess.Popen(
        [*command, "key", "emulate", "--vpcd", f"127.0.0.1:{PORT}", *args],
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_emulate_vpcd_serves_fido2_and_stops_cleanly(private_pcscd, stop_signal) -> None:
    with emulate_vpcd(private_pcscd) as process:
        wait_for(lambda: len(find_card()) == 1, "the emulated card in the reader")
        device = find_card()[0]
        try:
            info = Ctap2(device).get_info()
            assert "FIDO_2_1" in info.versions
        finally:
            device.close(release=True)
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
        stderr = process.stderr.read() if process.stderr else ""
        assert "emulated card removed" in stderr
        assert "Traceback" not in stderr
    wait_for(lambda: not find_card(), "the card to leave the reader")


def test_emulate_vpcd_with_a_broken_framing_option(private_pcscd) -> None:
    with emulate_vpcd(private_pcscd, "--nfc-break", "select-any-aid") as process:
        wait_for(lambda: len(find_card()) == 1, "the emulated card in the reader")
        device = find_card()[0]
        try:
            _, sw1, sw2 = device.apdu_exchange(bytes.fromhex("00A4040005A000000001"))
            assert (sw1, sw2) == (0x90, 0x00)  # the broken card accepts any AID
        finally:
            device.close(release=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vpcd", "host:0"], "port"),
        (["--vpcd", "host:http"], "port"),
        (["--nfc-break", "nonsense"], "unknown NFC breakage"),
        (["--fault", "nonsense"], "unknown fault"),
        (["--rig-http", "127.0.0.1:8800", "--presence", "auto"], "--presence must be button"),
        (["--rig-http", "192.0.2.1:8800"], "not loopback"),
        (["--rig-http", "0.0.0.0:8800", "--allow-remote"], "rig controller address 0.0.0.0"),
        (["--rig-token-file", "/nonexistent"], "--rig-token-file applies to --rig-http only"),
    ],
)
def test_emulate_vpcd_bad_arguments_are_one_line(capsys, args: list[str], message: str) -> None:
    assert main(["key", "emulate", "--vpcd", "127.0.0.1:1", *args]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_with_emulated_card_script_gives_a_command_a_private_card() -> None:
    """scripts/pcsc/with-emulated-card.sh: own namespaces, pcscd, the card; exit status kept."""
    probe = (
        "from fido2.ctap2 import Ctap2; from fido2.pcsc import CtapPcscDevice\n"
        "device, = CtapPcscDevice.list_devices('Virtual PCD 00 00')\n"
        "print(Ctap2(device).get_info().versions)\n"
        "raise SystemExit(3)\n"
    )
    script = PROJECT / "scripts" / "pcsc" / "with-emulated-card.sh"
    completed = subprocess.run(
        [str(script), "--profile", "ctap20", "--", sys.executable, "-c", probe],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 3, completed.stderr
    assert "FIDO_2_0" in completed.stdout and "FIDO_2_1" not in completed.stdout
