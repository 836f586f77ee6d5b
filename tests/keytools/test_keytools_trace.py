"""`key trace`: python-fido2 on UDP -> trace front end -> `emu:` target, secrets redacted.

The client is python-fido2 unchanged, talking the UDP simulator convention; the target is the
bench's `emu:` key through its own CtapHidDevice. The trace sits between them exactly as it
would in front of a real key.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fido2 import cbor
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.hid import STATUS, CtapHidDevice
from fido2.hid.base import HidDescriptor
from fido2.utils import websafe_decode
from fido2.webauthn import (
    AuthenticatorData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keytools_udp import serve_and_connect

from tokenbench.bench.keytools.trace import TraceFrontEnd, TraceLog
from tokenbench.bench.targets import parse_target
from tokenbench.emulators.clock import MonotonicClock
from tokenbench.emulators.transport.udp import REPORT_SIZE, UdpHidConnection

ORIGIN = "https://trace.example"
RP = PublicKeyCredentialRpEntity(id="trace.example", name="Trace")
USER = PublicKeyCredentialUserEntity(id=b"user-7", name="bob", display_name="Bob")
PIN = "8642-zebra"  # distinctive, so a leak is unmistakable


@dataclass
class Traced:
    device: CtapHidDevice
    out: io.StringIO
    log_path: Path
    front: TraceFrontEnd
    target: Any


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    with trace_of("emu:", tmp_path) as result:
        yield result


@contextlib.contextmanager
def trace_of(uri: str, tmp_path: Path) -> Iterator[Traced]:
    target = parse_target(uri)
    clock = MonotonicClock()
    out = io.StringIO()
    log = TraceLog(out, tmp_path / "trace.json", clock)
    front = TraceFrontEnd(target.device(), log, clock)
    server, device = serve_and_connect(front)
    try:
        yield Traced(device, out, tmp_path / "trace.json", front, target)
    finally:
        device.close()
        server.close()
        front.close()
        target.close()


def _client(device: CtapHidDevice, pin: str | None = None) -> Fido2Client:
    class Pin(UserInteraction):
        def request_pin(self, permissions, rp_id):  # type: ignore[no-untyped-def]
            return pin

    return Fido2Client(device, DefaultClientDataCollector(ORIGIN), user_interaction=Pin())


def _register_and_authenticate(
    device: CtapHidDevice,
    pin: str | None = None,
    make_extensions: dict | None = None,
    get_extensions: dict | None = None,
) -> Any:
    """makeCredential then getAssertion with that credential; the assertion response."""
    client = _client(device, pin)
    uv = "discouraged" if pin is None else "required"
    created = client.make_credential(
        PublicKeyCredentialCreationOptions(
            rp=RP,
            user=USER,
            challenge=b"m" * 32,
            pub_key_cred_params=[{"type": "public-key", "alg": -7}],
            authenticator_selection={"userVerification": uv},
            extensions=make_extensions,
        )
    )
    assertion = client.get_assertion(
        PublicKeyCredentialRequestOptions(
            challenge=b"a" * 32,
            rp_id=RP.id,
            allow_credentials=[{"type": "public-key", "id": created.raw_id}],
            user_verification=uv,
            extensions=get_extensions,
        )
    ).get_response(0)
    assert assertion.raw_id == created.raw_id
    return assertion


def _subcommand(record: dict) -> object:
    return record["summary"].get("fields", {}).get("subCommand")


def _records(traced: Traced) -> list[dict]:
    return json.loads(traced.log_path.read_text())


def test_register_and_authenticate_through_the_trace(traced: Traced) -> None:
    _register_and_authenticate(traced.device)
    records = _records(traced)
    commands = [r["summary"].get("command") for r in records if r["cmd"] == "CBOR"]
    assert "makeCredential" in commands and "getAssertion" in commands
    responses = [r for r in records if r["direction"] == "key->host" and r["cmd"] == "CBOR"]
    assert responses and all(r["summary"]["status"] == "SUCCESS" for r in responses)
    assert all(r["ms"] >= 0 for r in responses)
    make = next(r for r in responses if "fmt" in r["summary"].get("fields", {}))
    assert make["summary"]["fields"]["authData"]["signCount"] >= 0
    assert any(r["cmd"] == "INIT" for r in records)  # answered by the front end, and logged
    text = traced.out.getvalue()
    assert "frame host->key" in text and "frame key->host" in text
    assert "makeCredential" in text and "getAssertion" in text


def _secret_values(message: bytes, keys: tuple[int, ...]) -> list[bytes]:
    """The byte strings under `keys` in a CTAP message (command/status byte + CBOR map)."""
    try:
        body = cbor.decode(message[1:]) if len(message) > 1 else {}
    except Exception:
        return []
    return [body[k] for k in keys if isinstance(body, dict) and isinstance(body.get(k), bytes)]


def test_set_pin_and_use_it_never_shows_the_pin_or_its_encryption(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets: list[bytes] = []  # every secret that crossed the trace, as the key saw it
    forward = traced.front.core._forward

    def recording_forward(cmd: int, payload: bytes, transaction: Any) -> bytes:
        response = forward(cmd, payload, transaction)
        if payload[:1] == b"\x06":  # clientPIN: pinUvAuthParam, newPinEnc, pinHashEnc; token
            secrets.extend(_secret_values(payload, (4, 5, 6)))
            secrets.extend(_secret_values(response, (2,)))
        elif payload[:1] in (b"\x01", b"\x02"):  # makeCredential / getAssertion pinUvAuthParam
            secrets.extend(_secret_values(payload, (8,) if payload[0] == 1 else (6,)))
        return response

    monkeypatch.setattr(traced.front.core, "_forward", recording_forward)
    ctap = Ctap2(traced.device)
    client_pin = ClientPin(ctap)
    client_pin.set_pin(PIN)
    client_pin.change_pin(PIN, PIN[::-1])
    token = client_pin.get_pin_token(PIN[::-1], ClientPin.PERMISSION.MAKE_CREDENTIAL, RP.id)
    _register_and_authenticate(traced.device, PIN[::-1])
    text = traced.out.getvalue()
    log_text = traced.log_path.read_text()
    assert len(secrets) >= 6  # newPinEnc, pinHashEnc, auth params, encrypted tokens
    for secret in secrets:
        for start in range(0, len(secret) - 8, 8):  # no 8-byte window, in any printed form
            window = secret[start : start + 8].hex()
            assert window not in text and window not in log_text
    records = _records(traced)
    subcommands = [
        r["summary"]["fields"].get("subCommand")
        for r in records
        if r["summary"].get("command") == "clientPIN"
    ]
    assert {"setPIN", "changePIN", "getPinUvAuthTokenUsingPinWithPermissions"} <= set(subcommands)
    for secret in (PIN, PIN[::-1]):
        for form in (secret, secret.encode().hex(), cbor.encode(secret).hex()):
            assert form not in text and form not in log_text
    assert token.hex()[:16] not in text and token.hex()[:16] not in log_text
    set_pin = next(r for r in records if _subcommand(r) == "setPIN")
    fields = set_pin["summary"]["fields"]
    assert fields["newPinEnc"].startswith("<redacted ") and fields["pinUvAuthParam"].startswith(
        "<redacted "
    )
    change = next(r for r in records if _subcommand(r) == "changePIN")
    assert change["summary"]["fields"]["pinHashEnc"].startswith("<redacted ")
    token_answers = [
        r
        for r in records
        if r["direction"] == "key->host" and "pinUvAuthToken" in r["summary"].get("fields", {})
    ]
    assert token_answers and all(
        r["summary"]["fields"]["pinUvAuthToken"].startswith("<redacted ") for r in token_answers
    )
    made = [
        r
        for r in records
        if r["summary"].get("command") == "makeCredential" and r["direction"] == "host->key"
    ]
    assert made and all(
        r["summary"]["fields"]["pinUvAuthParam"].startswith("<redacted ") for r in made
    )


def test_hmac_secret_salts_and_outputs_are_redacted(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    crossed: list[bytes] = []  # saltEnc, saltAuth and the encrypted output, as the key saw them
    forward = traced.front.core._forward

    def recording_forward(cmd: int, payload: bytes, transaction: Any) -> bytes:
        response = forward(cmd, payload, transaction)
        if payload[:1] == b"\x02":
            hmac = cbor.decode(payload[1:]).get(4, {}).get("hmac-secret")
            if isinstance(hmac, dict):
                crossed.extend(v for k, v in hmac.items() if k in (2, 3))
                auth_data = AuthenticatorData(cbor.decode(response[1:])[2])
                crossed.append((auth_data.extensions or {})["hmac-secret"])
        return response

    monkeypatch.setattr(traced.front.core, "_forward", recording_forward)
    salt = bytes(range(32))
    result = _register_and_authenticate(
        traced.device,
        make_extensions={"prf": {}},
        get_extensions={"prf": {"eval": {"first": salt}}},
    )
    output = websafe_decode(result.client_extension_results["prf"]["results"]["first"])
    text = traced.out.getvalue() + traced.log_path.read_text()
    assert len(output) == 32 and output[:8].hex() not in text
    assert len(crossed) == 3
    for secret in crossed:
        for start in range(0, len(secret) - 8, 8):
            assert secret[start : start + 8].hex() not in text
    records = _records(traced)
    index = next(
        i
        for i, r in enumerate(records)
        if r["summary"].get("command") == "getAssertion"
        and "extensions" in r["summary"].get("fields", {})
    )
    request, response = records[index], records[index + 1]
    assert request["summary"]["fields"]["extensions"]["hmac-secret"].startswith("<redacted ")
    extensions = response["summary"]["fields"]["authData"]["extensions"]
    assert extensions["hmac-secret"].startswith("<redacted ")


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=70), min_size=1, max_size=5))
def test_garbage_reports_never_break_the_trace(traced: Traced, reports: list[bytes]) -> None:
    """Malformed reports get CTAPHID's answers (or nothing); a proper client still works."""
    for report in reports:
        traced.front.receive(report)
    assert "FIDO_2_1" in Ctap2(traced.device).get_info().versions


def test_large_blob_keys_in_get_next_assertion_responses_never_show(traced: Traced) -> None:
    """Issue 14 #2: getNextAssertion answers carry largeBlobKey (key 7) like getAssertion's."""
    ctap = Ctap2(traced.device)
    for name in (b"user-a", b"user-b"):
        ctap.make_credential(
            b"h" * 32,
            {"id": RP.id, "name": RP.name},
            {"id": name, "name": name.decode()},
            [{"type": "public-key", "alg": -7}],
            extensions={"largeBlobKey": True},
            options={"rk": True},
        )
    first = ctap.get_assertion(RP.id, b"g" * 32, extensions={"largeBlobKey": True})
    assert first.number_of_credentials == 2
    second = ctap.get_next_assertion()
    keys = [first.large_blob_key, second.large_blob_key]
    assert all(isinstance(key, bytes) and len(key) == 32 for key in keys)
    text, log_text = traced.out.getvalue(), traced.log_path.read_text()
    assert "getNextAssertion" in text
    for key in keys:
        for start in range(len(key) - 4):  # no 4-byte window of either key, anywhere
            window = key[start : start + 4].hex()
            assert window not in text and window not in log_text
    assert traced.log_path.stat().st_mode & 0o777 == 0o600


def test_u2f_messages_are_forwarded_and_decoded(traced: Traced) -> None:
    version = Ctap1(traced.device).get_version()
    assert version == "U2F_V2"
    records = _records(traced)
    instructions = [r["summary"].get("instruction") for r in records if r["cmd"] == "MSG"]
    assert "U2F_VERSION" in instructions
    assert any(r["cmd"] == "MSG" and r["summary"].get("status") == "0x9000" for r in records)


def test_a_log_that_cannot_be_written_does_not_stall_the_client(
    traced: Traced, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's directory vanishes mid-trace: one note on stderr, the client carries on."""
    traced.log_path.unlink()
    traced.log_path.parent.rename(traced.log_path.parent.with_name("moved-away"))
    assert "FIDO_2_1" in Ctap2(traced.device).get_info().versions
    assert "not written" in capsys.readouterr().err
    assert "getInfo" in traced.out.getvalue()


def test_ctap_errors_from_the_key_reach_the_client(traced: Traced) -> None:
    ctap = Ctap2(traced.device)
    with pytest.raises(CtapError) as caught:
        ClientPin(ctap).get_pin_token("0000")  # no PIN set on a fresh key
    assert caught.value.code == CtapError.ERR.PIN_NOT_SET
    assert any(r["summary"].get("status") == "PIN_NOT_SET" for r in _records(traced))


def test_keepalive_and_cancel_are_relayed(tmp_path: Path) -> None:
    """The key waits for a touch: the client sees UPNEEDED through the trace; CANCEL reaches it."""
    with trace_of("emu:presence=touch", tmp_path) as traced:
        ctap = Ctap2(traced.device)
        statuses: list[int] = []

        def touch_when_asked(status: int) -> None:
            statuses.append(status)
            if status == STATUS.UPNEEDED and statuses.count(STATUS.UPNEEDED) == 1:
                traced.target.key.touch()

        arguments = (
            b"k" * 32,
            {"id": RP.id, "name": RP.name},
            {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}],
        )
        ctap.make_credential(*arguments, on_keepalive=touch_when_asked)
        assert STATUS.UPNEEDED in statuses
        cancel = threading.Event()

        def cancel_when_asked(status: int) -> None:
            if status == STATUS.UPNEEDED:
                cancel.set()

        with pytest.raises(CtapError) as caught:
            ctap.make_credential(*arguments, event=cancel, on_keepalive=cancel_when_asked)
        assert caught.value.code == CtapError.ERR.KEEPALIVE_CANCEL
        records = _records(traced)
        assert any(r["cmd"] == "CANCEL" for r in records)
        answers = [r for r in records if r["cmd"] == "CBOR" and r["direction"] == "key->host"]
        assert answers[-1]["summary"]["status"] == "KEEPALIVE_CANCEL"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_trace_command_runs_until_sigterm_and_writes_its_log(tmp_path: Path) -> None:
    """The CLI end to end: `tokenbench key trace` as a process, a client over UDP, SIGTERM."""
    port, reply = _free_udp_port(), _free_udp_port()
    log = tmp_path / "cli-trace.json"
    printed = tmp_path / "printed.txt"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokenbench.bench.cli",
            "key",
            "trace",
            "--target",
            "emu:",
            "--listen",
            "udp",
            "--udp",
            f"127.0.0.1:{port}",
            "--reply-to",
            f"127.0.0.1:{reply}",
            "--log",
            str(log),
        ],
        stdout=printed.open("w"),  # a file, not a pipe nobody reads while the trace runs
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "tracing emu:" in process.stderr.readline()
        connection = UdpHidConnection(("127.0.0.1", port), local=("127.0.0.1", reply), timeout=5.0)
        descriptor = HidDescriptor("udp-cli", 0, 0, REPORT_SIZE, REPORT_SIZE, "trace", None)
        device = CtapHidDevice(descriptor, connection)
        try:
            assert "FIDO_2_1" in Ctap2(device).get_info().versions
        finally:
            device.close()
        time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "getInfo" in printed.read_text() and "trace stopped" in err
    assert any(r["summary"].get("command") == "getInfo" for r in json.loads(log.read_text()))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--target", "emu:", "--listen", "udp", "--udp", "10.1.2.3:8111"), "not loopback"),
        (("--target", "emu:", "--listen", "udp", "--udp", "127.0.0.1:x"), "not a number"),
        (("--target", "hid:/dev/hidraw-missing", "--listen", "udp"), "cannot open"),
        (("--target", "totp:emu", "--listen", "udp"), "not a security key target"),
        (("--target", "emu:", "--listen", "udp", "--duration", "0"), "must be positive"),
        (("--target", "emu:", "--listen", "udp", "--log", "/proc/no/log.json"), "cannot write"),
    ],
)
def test_trace_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], expected: str
) -> None:
    from tokenbench.bench.cli import main

    assert main(["key", "trace", *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tokenbench: error: ") and expected in err[0]


def test_trace_without_uhid_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """No /dev/uhid (as in this container): a clear message, nothing left running."""
    from tokenbench.bench.cli import main

    if Path("/dev/uhid").exists():
        pytest.skip("this machine has /dev/uhid: the error path cannot be reached")
    code = main(["key", "trace", "--target", "emu:", "--listen", "uhid", "--duration", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "cannot open /dev/uhid" in err[0]
