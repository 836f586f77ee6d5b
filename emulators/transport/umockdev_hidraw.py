"""The emulated key as a fake /dev/hidraw0 under umockdev: a real-client path without a kernel.

Unmodified programs (python-fido2's Linux backend, libfido2's `fido2-token`) run with
libumockdev-preload and the testbed's UMOCKDEV_DIR; they enumerate the node through sysfs and
libudev, issue hidraw ioctls and read()/write() 64-byte reports as with a real key. Unlike
uhid/USB/IP this needs no root, no kernel module and no VM, which makes it the quick path.

umockdev's API is reachable only through GObject introspection, which Debian ships for the
system interpreter; so `scripts/umockdev/hidraw_server.py` runs under /usr/bin/python3 and
plays the hidraw driver, while this module (in the venv, beside the key) moves reports to and
from it over a SOCK_SEQPACKET socketpair: one message per report, no framing needed.

`unplug()` and `plug()` take the device away and bring it back within the same testbed (lines
on the helper's stdin), so a client started once under `client_env()` sees a key pulled and
re-inserted; `rig_actions()` wires them, with the key's power cycle and button, to a test rig's
controller (`tokenbench.emulators.transport.rig_http`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol

from tokenbench.emulators.transport.fido_hid import (
    EMULATOR_PRODUCT_ID,
    EMULATOR_VENDOR_ID,
    FIDO_REPORT_DESCRIPTOR,
    MANUFACTURER,
    REPORT_SIZE,
    HidKey,
    strip_report_id,
)
from tokenbench.emulators.transport.rig_http import RigActions

SERVER_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "umockdev" / "hidraw_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter that has python3-gi + gir1.2-umockdev-1.0
PRELOAD_LIBRARY = "libumockdev-preload.so.0"
START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 15.0  # a plug or unplug takes milliseconds; this only catches a hung helper
MAX_MESSAGE = 65536


class UmockdevUnavailable(OSError):
    """umockdev, its GI typelib or python3-gi is missing, or the testbed did not start."""


class RigKey(Protocol):
    """What a rig does to the key behind the node (`EmulatedKey` is one)."""

    def power_cycle(self) -> None: ...
    def hold(self, held: bool) -> bool: ...


class UmockdevHidraw:
    """A fake hidraw node served by a helper process; reports go to `deliver`, and `send`."""

    def __init__(
        self,
        deliver: Callable[[bytes], None],
        *,
        name: str = "tokenbench emulated FIDO key",
        product: str = "Emulated FIDO key",
        serial: str = "",
        node: str = "hidraw0",
        python: str = SYSTEM_PYTHON,
    ) -> None:
        self._deliver = deliver
        self.devnode = f"/dev/{node}"
        self.serial = serial  # HID_UNIQ, the sysfs serial and HIDIOCGRAWUNIQ all give it
        self._config = {
            "report_descriptor": FIDO_REPORT_DESCRIPTOR.hex(),
            "vendor_id": EMULATOR_VENDOR_ID,
            "product_id": EMULATOR_PRODUCT_ID,
            "name": name,
            "manufacturer": MANUFACTURER,
            "product": product,
            "serial": serial,
            "node": node,
        }
        self._python = python
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._thread: threading.Thread | None = None
        self._command_lock = threading.Lock()
        self.root: str = ""

    def start(self) -> UmockdevHidraw:
        """Start the helper and wait until its testbed exists (raises UmockdevUnavailable)."""
        if not Path(self._python).exists():
            raise UmockdevUnavailable(f"{self._python} not found (needs python3-gi)")
        # The helper's stderr goes to a file: a pipe nobody reads could fill and stall it.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 -- closed in close()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [self._python, str(SERVER_SCRIPT), json.dumps(self._config), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
            )
        finally:
            theirs.close()
        self._sock = mine
        self.root = self._wait_ready()
        self._thread = threading.Thread(target=self._read_loop, name="umockdev", daemon=True)
        self._thread.start()
        return self

    def _wait_ready(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            self._proc.kill()
            self._proc.wait()
            detail = self._stderr_tail()
            self.close()
            raise UmockdevUnavailable(f"umockdev hidraw helper did not start: {detail}")
        return line.split(" ", 1)[1].strip()

    def _stderr_tail(self) -> str:
        """The helper's last words, for the error message."""
        assert self._stderr is not None
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read().splitlines() if line.strip()]
        status = self._proc.returncode if self._proc is not None else None
        return lines[-1] if lines else f"exit status {status}"

    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment under which an unmodified program sees the fake node."""
        env = dict(os.environ if base is None else base)
        preload = env.get("LD_PRELOAD", "")
        env["LD_PRELOAD"] = f"{PRELOAD_LIBRARY} {preload}".strip()
        env["UMOCKDEV_DIR"] = self.root
        return env

    def unplug(self) -> None:
        """Pull the key: its /dev node and sysfs tree go, open files fail with ENODEV."""
        self._command("unplug", "unplugged")

    def plug(self) -> str:
        """Plug the key back in (a no-op if it is in); returns the node's path.

        The node gets the next name (/dev/hidraw1, ...): umockdev cannot re-create a removed
        node, and a client must not rely on the name anyway (the kernel gives no promise).
        """
        reply = self._command("plug", "plugged ")
        self.devnode = reply.split(" ", 1)[1]
        return self.devnode

    def _command(self, word: str, expected: str) -> str:
        """One line to the helper, its one-line answer (which must start with `expected`)."""
        with self._command_lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdout is None:
                raise UmockdevUnavailable("the umockdev hidraw helper is not running")
            try:
                proc.stdin.write(word + "\n")
                proc.stdin.flush()
            except OSError as exc:
                raise UmockdevUnavailable(f"umockdev hidraw helper is gone: {exc}") from None
            ready, _, _ = select.select([proc.stdout], [], [], COMMAND_TIMEOUT)
            line = proc.stdout.readline().strip() if ready else ""
        if not line.startswith(expected):
            raise UmockdevUnavailable(f"umockdev {word} failed: {line or 'no answer'}")
        return line

    def rig_actions(self, key: RigKey) -> RigActions:
        """A test rig's switch and relay for `key` behind this node.

        Power off pulls the node first (the host sees the key go) and then power-cycles the
        key (channels, PIN tokens and other volatile state are lost); power on plugs a new
        node in and returns once clients can find it. Touch holds or releases the key's button
        (a key created with presence="button").
        """

        def power(on: bool) -> None:
            if on:
                self.plug()
                return
            self.unplug()
            key.power_cycle()

        return RigActions(power=power, touch=key.hold)

    def send(self, report: bytes) -> None:
        """An input report from the key to the host (the key's report sink)."""
        sock = self._sock  # close() may run meanwhile on another thread
        if sock is not None:
            # If the helper is gone, reports are dropped, as by an unplugged device.
            with contextlib.suppress(OSError):
                sock.send(report)

    def _read_loop(self) -> None:
        """Output reports the clients wrote: the report-ID byte goes, as usbhid strips it."""
        sock = self._sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(MAX_MESSAGE)
            except OSError:
                return
            if not data:
                return
            report = strip_report_id(data)
            if len(report) == REPORT_SIZE:
                self._deliver(report)

    def close(self) -> None:
        """Close the socket (the helper then removes its testbed and exits)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> UmockdevHidraw:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach_umockdev(key: HidKey, **kwargs: str) -> UmockdevHidraw:
    """Expose an `EmulatedKey` as a fake hidraw node; returns the running bridge.

    Run clients with `bridge.client_env()`. Remove the sink with `key.remove_sink(bridge.send)`
    when done if the key outlives the bridge. Unless `serial` is given the node gets a fresh
    USB serial (`bridge.serial`), as a real key has one: clients name the key by it
    (`hid:serial=...`), since the node's number changes on every re-plug.
    """
    kwargs.setdefault("serial", f"TB{secrets.token_hex(4).upper()}")
    bridge = UmockdevHidraw(key.receive, **kwargs)
    bridge.start()
    key.add_sink(bridge.send)
    return bridge
