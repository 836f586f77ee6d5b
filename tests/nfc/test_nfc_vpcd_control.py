"""The control socket of `tokenbench key emulate --vpcd`; the bench's controllable `pcsc:` target.

The real command runs in the private pcscd's network namespace (as in
test_nfc_emulate_vpcd_cli.py), so its control socket (default: 127.0.0.1, vpcd port + 1000)
lives there too: this process talks to it from a thread inside that namespace, and the child
pytest running the ctap2 suite is started inside it with `nsenter --net`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.pcsc import CtapPcscDevice

from tokenbench.bench.errors import UserError
from tokenbench.bench.targets import parse_target
from tokenbench.bench.targets_attached import PcscKeyTarget
from tokenbench.emulators.transport.control import UdpControlClient

PROJECT = Path(__file__).resolve().parents[2]
READER = "Virtual PCD 00 00"
VPCD_PORT = 35963
VPCD = f"127.0.0.1:{VPCD_PORT}"
CONTROL = ("127.0.0.1", VPCD_PORT + 1000)  # the documented default of `key emulate --vpcd`
WAIT_SECONDS = 15.0
PIN = "31415926"
RP = {"id": "control.tokenbench.example", "name": "control"}
USER = {"id": b"carol", "name": "carol"}
ES256 = [{"type": "public-key", "alg": -7}]
CDH = bytes(range(32))
# The suite's power-cycle tests: the three-failures PIN rule (both PIN protocols), reset's 10 s
# window, and reset after a power cycle. Each runs in a fresh (reset) key, so all re-plug.
SUITE_TESTS = (
    "test_wrong_pin_retries_and_power_cycle_rule",
    "test_reset_only_within_10_s_of_power_up",
    "test_reset_removes_credentials",
)


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def in_pcscd_netns(private_pcscd: Any, module: str) -> list[str]:
    """`python -m MODULE` inside pcscd's network namespace, where the card's control socket is."""
    return ["nsenter", f"--net={private_pcscd.netns_path}", sys.executable, "-m", module]


def find_card() -> list[CtapPcscDevice]:
    with contextlib.suppress(Exception):
        return list(CtapPcscDevice.list_devices(READER))
    return []


class ReaderEvents:
    """Card presence in one reader as pcscd reports it (SCardGetStatusChange), in order."""

    def __init__(self, reader: str) -> None:
        from smartcard import scard

        self.reader = reader
        self.seen: list[str] = []
        self._scard = scard
        _, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="reader-events", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        scard = self._scard
        states = [(self.reader, scard.SCARD_STATE_UNAWARE)]
        while not self._stop.is_set():
            result, changed = scard.SCardGetStatusChange(self._context, 100, states)
            if result != scard.SCARD_S_SUCCESS:
                continue
            state = changed[0][1]
            presence = "present" if state & scard.SCARD_STATE_PRESENT else "empty"
            if not self.seen or self.seen[-1] != presence:
                self.seen.append(presence)
            states = [(self.reader, state & ~scard.SCARD_STATE_CHANGED)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._scard.SCardReleaseContext(self._context)


@contextlib.contextmanager
def emulated_card(private_pcscd: Any, *args: str) -> Iterator[subprocess.Popen]:
    """`key emulate --vpcd` in pcscd's namespace, its card listed by pcscd; stopped after."""
    process = subprocess.Popen(
        [
            *in_pcscd_netns(private_pcscd, "tokenbench.bench.cli"),
            "key",
            "emulate",
            "--vpcd",
            VPCD,
            *args,
        ],
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(find_card, "the emulated card in the reader")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        wait_for(lambda: not find_card(), "the card to leave the reader")


def control(private_pcscd: Any, command: str) -> dict[str, Any]:
    """One control command, sent from inside the emulator's network namespace."""
    return private_pcscd.in_netns(lambda: UdpControlClient(CONTROL, timeout=10.0).call(command))


def open_ctap2() -> tuple[CtapPcscDevice, Ctap2]:
    device = wait_for(find_card, "the card")[0]
    return device, Ctap2(device)


def test_control_socket_answers_status_and_replug_is_a_new_card(private_pcscd) -> None:
    with emulated_card(private_pcscd) as process:
        status = control(private_pcscd, "status")["status"]
        assert status["in_reader"] is True and status["replugs"] == 0
        assert status["profile"] == "default"
        with pytest.raises(RuntimeError, match="unknown command"):
            control(private_pcscd, "explode")

        device, ctap2 = open_ctap2()
        try:
            client = ClientPin(ctap2)
            client.set_pin(PIN)
            token = client.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP["id"])
            param = client.protocol.authenticate(token, CDH)
            version = client.protocol.VERSION
            made = ctap2.make_credential(
                CDH, RP, USER, ES256, pin_uv_param=param, pin_uv_protocol=version
            )
            credential = {"type": "public-key", "id": made.auth_data.credential_data.credential_id}
        finally:
            device.close(release=True)

        events = ReaderEvents(READER)
        try:
            answer = control(private_pcscd, "replug")
            wait_for(lambda: events.seen[-1:] == ["present"] and "empty" in events.seen, "events")
        finally:
            events.close()
        assert events.seen[0] == "present" and "empty" in events.seen, events.seen
        assert answer["status"]["replugs"] == 1 and answer["status"]["power_cycles"] == 1

        device, ctap2 = open_ctap2()
        try:
            with pytest.raises(CtapError) as refused:  # the PIN token was volatile state
                ctap2.make_credential(
                    CDH, RP, USER, ES256, pin_uv_param=param, pin_uv_protocol=version
                )
            assert refused.value.code == CtapError.ERR.PIN_AUTH_INVALID
            assert ctap2.get_info().options["clientPin"] is True  # the PIN is persistent
            assertion = ctap2.get_assertion(RP["id"], CDH, [credential])  # so is the credential
            assert assertion.credential["id"] == credential["id"]
        finally:
            device.close(release=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert "control 127.0.0.1:36963" in (process.stderr.read() if process.stderr else "")


def test_controllable_pcsc_target_replugs_through_the_control_socket(private_pcscd) -> None:
    uri = f"pcsc:{READER},control={CONTROL[0]}:{CONTROL[1]}"
    with emulated_card(private_pcscd):
        target = parse_target(uri)
        assert isinstance(target, PcscKeyTarget) and target.emulated
        try:
            before = target.device()
            after = private_pcscd.in_netns(target.power_cycle)
            assert after is not before and target.device() is after
            assert Ctap2(after).get_info().versions
            status = control(private_pcscd, "status")["status"]
            assert status["replugs"] == 1
        finally:
            target.close()


@pytest.mark.parametrize(
    "uri",
    ["pcsc:R,control=", "pcsc:R,control=host:http", "pcsc:R,control=host", "pcsc:R,other=1"],
)
def test_bad_pcsc_control_option_is_one_line(uri: str) -> None:
    with pytest.raises(UserError) as error:
        parse_target(uri)
    assert "\n" not in str(error.value)


def test_ctap2_power_cycle_tests_pass_unattended(private_pcscd, tmp_path) -> None:
    """The ctap2 suite's power-cycle tests against the emulated card, as a person runs them
    (`pytest --target pcsc:...`), but inside pcscd's namespace, where the control socket is."""
    results = tmp_path / "ctap2.json"
    target = f"pcsc:{READER},control={CONTROL[0]}:{CONTROL[1]}"
    suites = [str(PROJECT / "bench" / "suites" / name) for name in (
        "test_ctap2_client_pin.py", "test_ctap2_management.py"
    )]  # fmt: skip
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(private_pcscd.socket_path))
    with emulated_card(private_pcscd):
        completed = subprocess.run(
            [
                *in_pcscd_netns(private_pcscd, "pytest"),
                *suites,
                *("-q", "-p", "no:cacheprovider", "--target", target, "--allow-destructive"),
                *("-m", "power_cycle", "-k", " or ".join(SUITE_TESTS)),
                *("--bench-json", str(results)),
            ],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert results.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    outcomes = {r["name"]: r["outcome"] for r in json.loads(results.read_text())["tests"]}
    names = {name.partition("[")[0] for name in outcomes}
    assert names == set(SUITE_TESTS), outcomes
    assert set(outcomes.values()) == {"passed"}, (outcomes, completed.stdout[-3000:])
    assert completed.returncode == 0, completed.stdout[-3000:]


@pytest.mark.parametrize(
    ("control_address", "message"),
    [("10.0.0.1:5", "not loopback"), ("127.0.0.1:http", "port"), ("127.0.0.1:99999", "range")],
)
def test_bad_card_control_address_is_one_line(capsys, control_address: str, message: str) -> None:
    from tokenbench.bench.cli import main

    assert main(["key", "emulate", "--vpcd", "127.0.0.1:1", "--control", control_address]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
