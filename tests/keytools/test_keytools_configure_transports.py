"""`key pin|config|make-credential|get-assertion` over UDP and on a kernel-style hidraw node,
confirmed by libfido2's `fido2-token -I`.

The hidraw node is the emulated key under umockdev (emulators/transport/umockdev_hidraw.py):
our CLI runs as a child process with libumockdev-preload and reaches the key as
`hid:/dev/hidraw0` through python-fido2's Linux backend, exactly as it would a USB key; then
libfido2's own `fido2-token -I /dev/hidraw0` reads getInfo and the retries, an independent
client confirming each change. UDP is `tokenbench key emulate --udp`'s server, in-process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_capture import run_main

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.udp import UdpKeyServer
from tokenbench.emulators.transport.umockdev_hidraw import UmockdevHidraw, attach_umockdev

ROOT = Path(__file__).resolve().parents[2]
TOKENBENCH = ROOT / ".venv" / "bin" / "tokenbench"
NODE = "/dev/hidraw0"
PIN = "4711-otter"
NEW_PIN = "0815-badger-7"
SALT = "5a" * 32
PCSC_SCRIPT = Path(__file__).resolve().parent / "keytools_pcsc_configure.sh"
CHILD_TIMEOUT = 60


# ---------------------------------------------------------------------------------- hidraw


@pytest.fixture
def node() -> Iterator[UmockdevHidraw]:
    with EmulatedKey.create() as key:
        bridge = attach_umockdev(key)
        try:
            yield bridge
        finally:
            key.remove_sink(bridge.send)
            bridge.close()


def child(node: UmockdevHidraw, *argv: str, **secrets: str) -> subprocess.CompletedProcess[str]:
    """One program under the testbed; secrets go in through its environment only."""
    env = node.client_env({**os.environ, **secrets})
    return subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )


def cli(node: UmockdevHidraw, *argv: str, **secrets: str) -> dict:
    done = child(
        node, str(TOKENBENCH), "key", *argv, "--target", f"hid:{NODE}", "--json", **secrets
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and PIN not in done.stdout
    return dict(json.loads(done.stdout))


def fido2_token(node: UmockdevHidraw) -> dict[str, str]:
    """`fido2-token -I` as {field: value}; its options line also as a set under 'option:'."""
    done = child(node, "fido2-token", "-I", NODE)
    assert done.returncode == 0, done.stderr
    fields = dict(
        line.split(": ", 1) for line in done.stdout.splitlines() if re.match(r"^[a-z].*: ", line)
    )
    for option in fields["options"].split(", "):
        fields[f"option:{option}"] = "yes"
    return fields


@pytest.mark.slow
def test_each_change_on_a_hidraw_key_is_seen_by_fido2_token(node: UmockdevHidraw) -> None:
    before = fido2_token(node)
    assert "option:noclientPin" in before and before["pin retries"] == "undefined"

    cli(node, "pin", "set", TOKENBENCH_NEW_PIN=PIN)
    after = fido2_token(node)
    assert "option:clientPin" in after and after["pin retries"] == "8"

    settings = cli(node, "config", "always-uv", "on", TOKENBENCH_PIN=PIN)["settings"]
    assert settings["always_uv"] is True and "option:alwaysUv" in fido2_token(node)

    cli(node, "config", "enterprise-attestation", TOKENBENCH_PIN=PIN)
    assert "option:ep" in fido2_token(node)

    cli(node, "config", "min-pin-length", "12", TOKENBENCH_PIN=PIN)
    info = fido2_token(node)
    # the 10-character PIN is now below the minimum: the key demands a new one
    assert info["minpinlen"] == "12" and info["pin change required"] == "true"

    done = child(node, str(TOKENBENCH), "key", "pin", "change", "--target", f"hid:{NODE}",
                 TOKENBENCH_PIN=PIN, TOKENBENCH_NEW_PIN="too-short")  # fmt: skip
    assert done.returncode == 1 and "at least 12" in done.stderr
    cli(node, "pin", "change", TOKENBENCH_PIN=PIN, TOKENBENCH_NEW_PIN=NEW_PIN)
    assert fido2_token(node)["pin change required"] == "false"

    cli(node, "config", "force-pin-change", TOKENBENCH_PIN=NEW_PIN)
    assert fido2_token(node)["pin change required"] == "true"


@pytest.mark.slow
def test_make_credential_and_hmac_secret_on_a_hidraw_key(node: UmockdevHidraw) -> None:
    cli(node, "pin", "set", TOKENBENCH_NEW_PIN=PIN)
    remaining = int(fido2_token(node)["remaining rk(s)"])
    made = cli(node, "make-credential", "--rp-id", "hid.example", "--resident", "--hmac-secret",
               "--uv", "required", TOKENBENCH_PIN=PIN)  # fmt: skip
    assert made["resident"] is True and made["flags"]["uv"] is True
    assert int(fido2_token(node)["remaining rk(s)"]) == remaining - 1
    args = ("get-assertion", "--rp-id", "hid.example", "--hmac-salt", SALT, "--uv", "required")
    first = cli(node, *args, TOKENBENCH_PIN=PIN)["assertions"]
    second = cli(node, *args, TOKENBENCH_PIN=PIN)["assertions"]
    assert [a["credential_id"] for a in first] == [made["credential_id"]]
    assert first[0]["hmac_secret"]["output1"] == second[0]["hmac_secret"]["output1"]


# ---------------------------------------------------------------------------------- UDP


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def udp_uri() -> Iterator[str]:
    reply = free_udp_port()
    with EmulatedKey.create() as key:
        server = UdpKeyServer(
            key, bind=("127.0.0.1", 0), reply_to=("127.0.0.1", reply), control=("127.0.0.1", 0)
        ).start()
        try:
            yield f"udp:127.0.0.1:{server.address[1]},reply={reply}"
        finally:
            server.close()


def test_every_verb_over_udp(
    capsys: pytest.CaptureFixture[str], udp_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ok(*argv: str) -> dict:
        code, out, err = run_main(capsys, "key", *argv, "--target", udp_uri, "--json")
        assert code == 0, err
        return dict(json.loads(out))

    monkeypatch.setenv("TOKENBENCH_NEW_PIN", PIN)
    assert ok("pin", "set")["pin_retries"] == 8
    monkeypatch.setenv("TOKENBENCH_PIN", PIN)
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", NEW_PIN)
    assert ok("pin", "change")["pin_set"] is True
    monkeypatch.setenv("TOKENBENCH_PIN", NEW_PIN)
    assert ok("config", "always-uv", "on")["settings"]["always_uv"] is True
    assert ok("config", "min-pin-length", "8")["settings"]["min_pin_length"] == 8
    assert ok("config", "enterprise-attestation")["settings"]["enterprise_attestation"] is True
    made = ok("make-credential", "--rp-id", "udp.example", "--resident", "--cred-blob", "0102")
    assert made["flags"]["uv"] is True  # alwaysUv: the PIN was used although not asked for
    (found,) = ok("get-assertion", "--rp-id", "udp.example", "--cred-blob")["assertions"]
    assert found["credential_id"] == made["credential_id"] and found["cred_blob"] == "0102"
    assert ok("config", "force-pin-change")["settings"]["force_pin_change"] is True
    assert ok("pin", "retries")["force_pin_change"] is True


# ---------------------------------------------------------------------------------- PC/SC


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for private namespaces")
def test_the_verbs_over_pcsc() -> None:
    """The emulated card in a private pcscd (scripts/pcsc/with-emulated-card.sh), as NFC."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PCSCLITE_CSOCK_NAME", "TOKENBENCH_PIN")
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "pcsc" / "with-emulated-card.sh"), "sh", str(PCSC_SCRIPT)],
        env={**env, "TOKENBENCH_NEW_PIN": PIN, "SALT": SALT},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    pin, always_uv, min_length, made, got = map(json.loads, done.stdout.splitlines())
    assert pin["pin_set"] is True and pin["pin_retries"] == 8
    assert always_uv["settings"]["always_uv"] is True
    assert min_length["settings"]["min_pin_length"] == 8
    assert min_length["settings"]["force_pin_change"] is False  # the PIN has 10 characters
    assert made["resident"] is True and made["flags"]["uv"] is True
    (assertion,) = got["assertions"]
    assert assertion["credential_id"] == made["credential_id"]
    assert len(bytes.fromhex(assertion["hmac_secret"]["output1"])) == 32
    assert PIN not in done.stdout + done.stderr
