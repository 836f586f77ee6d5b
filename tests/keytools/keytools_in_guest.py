"""Runs inside the QEMU test guest (a real Linux kernel with uhid, hidraw and vhci-hcd).

Stands in for a bench with a real USB key: the emulated key is exposed through /dev/uhid, so
the key tools reach it the way they reach a real key (`hid:/dev/hidrawN`, python-fido2's
Linux backend). Then `tokenbench key trace` runs in front of it with a kernel front end
(uhid, and USB/IP through vhci-hcd), and unmodified clients use the trace's own hidraw node.
Each check prints `TB-RESULT <json>`; tests/keytools/test_keytools_kernel.py asserts on them.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import Ctap2
from fido2.hid import open_device
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)

from tokenbench.bench.cli import main as cli_main
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.uhid import attach_uhid

sys.path.insert(0, str(Path("tests/kernel").resolve()))  # the guest checks' own helpers
from inside_guest import check, report, wait_for_hidraw

TOKENBENCH = str(Path(".venv/bin/tokenbench").resolve())
ORIGIN = "https://guest.example"


def hidraw_nodes() -> set[Path]:
    return set(Path("/dev").glob("hidraw*"))


def tokenbench(*args: str) -> str:
    """A CLI command in this process (a Python start-up costs seconds under TCG); its stdout."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    if code != 0:
        raise AssertionError(f"tokenbench {' '.join(args)}: {err.getvalue().strip()}")
    return out.getvalue()


def register_and_sign(node: Path) -> dict:
    client = Fido2Client(open_device(str(node)), DefaultClientDataCollector(ORIGIN))
    created = client.make_credential(
        PublicKeyCredentialCreationOptions(
            rp=PublicKeyCredentialRpEntity(id="guest.example", name="guest"),
            user=PublicKeyCredentialUserEntity(id=b"g", name="g"),
            challenge=b"c" * 32,
            pub_key_cred_params=[{"type": "public-key", "alg": -7}],
            authenticator_selection={"userVerification": "discouraged"},
        )
    )
    assertion = client.get_assertion(
        PublicKeyCredentialRequestOptions(
            challenge=b"s" * 32,
            rp_id="guest.example",
            allow_credentials=[{"type": "public-key", "id": created.raw_id}],
            user_verification="discouraged",
        )
    ).get_response(0)
    return {"same_credential": assertion.raw_id == created.raw_id}


class Trace:
    """`tokenbench key trace` as a process; stop() ends it with SIGTERM."""

    def __init__(self, *args: str) -> None:
        self.log = Path(tempfile.gettempdir()) / f"trace-{time.monotonic_ns()}.json"
        # The printed trace goes to a file: a pipe nobody reads fills up (keepalive frames add
        # up under TCG) and would stall the trace mid-message.
        self.printed = self.log.with_suffix(".txt")
        self.process = subprocess.Popen(
            [TOKENBENCH, "key", "trace", *args, "--log", str(self.log)],
            stdout=self.printed.open("w"),
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stderr.readline() if self.process.stderr else ""
        if "tracing" not in line:
            raise AssertionError(f"trace did not start: {line!r}")

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=20)
        out = self.printed.read_text()
        records = json.loads(self.log.read_text()) if self.log.exists() else []
        commands = sorted({r["summary"].get("command") or r["cmd"] for r in records})
        return {"rc": self.process.returncode, "commands": commands, "printed": len(out)}


def tools_on_the_key(node: Path) -> None:
    def listing() -> dict:
        found = json.loads(tokenbench("key", "list", "--json"))
        hid = [d for d in found["devices"] if d["source"] == "hid"]
        return {"hid": hid, "notes": found["notes"]}

    check("list-hid", listing)
    check(
        "info-hid",
        lambda: json.loads(tokenbench("key", "info", "--target", f"hid:{node}", "--json")),
    )
    check("wink-hid", lambda: {"out": tokenbench("key", "wink", "--target", f"hid:{node}")})


def trace_over_uhid(node: Path) -> None:
    before = hidraw_nodes()
    trace = Trace("--target", f"hid:{node}", "--listen", "uhid")
    try:
        front = wait_for_hidraw(before)
        report("trace-uhid-node", True, node=str(front))
        check("trace-uhid-client", lambda: register_and_sign(front))
    finally:
        check("trace-uhid-log", trace.stop)


def trace_over_usbip(node: Path) -> None:
    before = hidraw_nodes()
    trace = Trace("--target", f"hid:{node}", "--listen", "usbip", "--usbip", "127.0.0.1:3240")
    try:
        attach = subprocess.run(
            ["usbip", "attach", "-r", "127.0.0.1", "-b", "1-1"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        report("trace-usbip-attach", attach.returncode == 0, err=attach.stderr[-400:])
        front = wait_for_hidraw(before)

        def client() -> dict:
            info = Ctap2(open_device(str(front))).get_info()
            return {"versions": info.versions}

        check("trace-usbip-client", client)

        def usb_listing() -> dict:
            # a new process: libusb keeps the device list it saw when this process started
            done = subprocess.run(
                [TOKENBENCH, "key", "list", "--json"], capture_output=True, text=True, timeout=60
            )
            found = json.loads(done.stdout)
            return {"usb": [d for d in found["devices"] if d["source"] == "usb"]}

        check("list-usb", usb_listing)
        subprocess.run(["usbip", "detach", "-p", "0"], capture_output=True, timeout=30)
    finally:
        check("trace-usbip-log", trace.stop)


def main() -> int:
    before = hidraw_nodes()
    key = EmulatedKey.create(seed=11)
    device = attach_uhid(key, name="tokenbench stand-in for a real key")
    try:
        node = wait_for_hidraw(before)
        report("key-node", True, node=str(node))
        for part in (tools_on_the_key, trace_over_uhid, trace_over_usbip):
            try:
                part(node)
            except Exception as exc:
                report(part.__name__, False, error=f"{type(exc).__name__}: {exc}")
    finally:
        device.close()
        key.close()
    print("TB-DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
