"""Runs inside the QEMU test guest (a real Linux kernel with uhid and vhci-hcd).

Each check prints one line `TB-RESULT <json>`; the host-side test module asserts on them.
The emulated key is exposed once through /dev/uhid and once through USB/IP + vhci-hcd, and
each time the resulting /dev/hidrawN is driven by unmodified clients: python-fido2's Linux
backend and libfido2's `fido2-token`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import Ctap2
from fido2.hid import CtapHidDevice, open_device
from fido2.server import Fido2Server

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.fido_hid import EMULATOR_PRODUCT_ID, EMULATOR_VENDOR_ID
from tokenbench.emulators.transport.uhid import attach_uhid
from tokenbench.emulators.transport.usbip import serve_usbip

ORIGIN = "https://bench.example"
RP = {"id": "bench.example", "name": "bench"}


def report(name: str, ok: bool, **detail: object) -> None:
    print("TB-RESULT " + json.dumps({"check": name, "ok": ok, **detail}), flush=True)


def check(name: str, body: Callable[[], dict]) -> None:
    try:
        report(name, True, **body())
    except Exception as exc:
        report(name, False, error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())


def wait_for_hidraw(before: set[Path], timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(Path("/dev").glob("hidraw*")) - before
        if new:
            return sorted(new)[0]
        time.sleep(0.1)
    raise TimeoutError("no hidraw node appeared")


def python_fido2_roundtrip(node: Path) -> dict:
    """python-fido2's Linux hidraw backend: getInfo, register, sign in, verify."""
    listed = [d for d in CtapHidDevice.list_devices() if d.descriptor.path == str(node)]
    if not listed:
        raise AssertionError(f"{node} not listed by python-fido2")
    device = open_device(str(node))
    info = Ctap2(device).get_info()
    client = Fido2Client(device, DefaultClientDataCollector(ORIGIN))
    server = Fido2Server(RP)
    options, state = server.register_begin(
        {"id": b"user", "name": "user"}, user_verification="discouraged"
    )
    registration = client.make_credential(options.public_key)
    auth = server.register_complete(state, registration)
    options, state = server.authenticate_begin(
        [auth.credential_data], user_verification="discouraged"
    )
    assertion = client.get_assertion(options.public_key).get_response(0)
    server.authenticate_complete(state, [auth.credential_data], assertion)
    return {
        "versions": info.versions,
        "vid": device.descriptor.vid,
        "pid": device.descriptor.pid,
    }


def fido2_token(node: Path) -> dict:
    """libfido2's command-line tool lists the device and reads its info."""
    listing = subprocess.run(["fido2-token", "-L"], capture_output=True, text=True, timeout=30)
    info = subprocess.run(
        ["fido2-token", "-I", str(node)], capture_output=True, text=True, timeout=30
    )
    if str(node) not in listing.stdout:
        raise AssertionError(f"fido2-token -L did not list {node}: {listing.stdout!r}")
    if info.returncode != 0 or "FIDO_2_1" not in info.stdout:
        raise AssertionError(f"fido2-token -I failed: {info.stdout!r} {info.stderr!r}")
    line = next(x for x in listing.stdout.splitlines() if x.startswith(str(node)))
    ids = (f"{EMULATOR_VENDOR_ID:04x}", f"{EMULATOR_PRODUCT_ID:04x}")
    if not all(i in line.lower() for i in ids):
        raise AssertionError(f"fido2-token -L shows other ids: {line!r}")
    return {"listing": line, "info_lines": len(info.stdout.splitlines())}


def uhid_checks() -> None:
    before = set(Path("/dev").glob("hidraw*"))
    key = EmulatedKey.create(seed=7)
    device = attach_uhid(key)
    try:
        node = wait_for_hidraw(before)
        report("uhid-node", True, node=str(node), sysfs=[str(p) for p in device.hidraw_nodes()])
        check("uhid-python-fido2", lambda: python_fido2_roundtrip(node))
        check("uhid-fido2-token", lambda: fido2_token(node))
    finally:
        device.close()
        key.close()
    time.sleep(0.5)
    report("uhid-removed", not Path(node).exists(), node=str(node))


def usbip_checks() -> None:
    key = EmulatedKey.create(seed=8)
    server = serve_usbip(key, "127.0.0.1", 3240)
    before = set(Path("/dev").glob("hidraw*"))
    try:
        listing = subprocess.run(
            ["usbip", "list", "-r", "127.0.0.1"], capture_output=True, text=True, timeout=30
        )
        report("usbip-list", "1209:7b01" in listing.stdout, out=listing.stdout[-400:])
        attach = subprocess.run(
            ["usbip", "attach", "-r", "127.0.0.1", "-b", server.busid],
            capture_output=True,
            text=True,
            timeout=30,
        )
        report("usbip-attach", attach.returncode == 0, err=attach.stderr[-400:])
        node = wait_for_hidraw(before)
        report("usbip-node", True, node=str(node))
        check("usbip-python-fido2", lambda: python_fido2_roundtrip(node))
        check("usbip-fido2-token", lambda: fido2_token(node))
        detach = subprocess.run(["usbip", "detach", "-p", "0"], capture_output=True, timeout=30)
        report("usbip-detach", detach.returncode == 0)
    finally:
        server.close()
        key.close()


def main() -> int:
    for part in (uhid_checks, usbip_checks):
        name = part.__name__
        try:
            part()
        except Exception as exc:
            report(name, False, error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
    print("TB-DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
