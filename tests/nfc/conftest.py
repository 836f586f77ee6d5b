"""Fixtures for the NFC / ISO 7816 transport tests.

`FakeCore` is a TEST DOUBLE of `tokenbench.emulators.ctap.authenticator.Authenticator`: it lets the
framing tests drive the card with commands whose answers are known byte for byte (echo of any
length, a command that waits for the user until cancelled). Tests of real CTAP behaviour over
NFC use the real Authenticator (test_nfc_real_core.py and the PC/SC tests).

How the PC/SC integration tests get a real pcscd without touching the machine's own:

* pcscd 1.9.9 always puts its socket and pid file in /run/pcscd, and its vpcd reader slots
  listen on fixed TCP ports (35963/35964). So pcscd runs under `unshare --net --mount`
  (scripts/pcsc/pcscd-in-namespace.sh): a private loopback for the vpcd ports, a tmpfs over
  /run with our temp dir bind-mounted on /run/pcscd, and `-c` pointing at a private
  reader.conf.d holding only the vpcd reader. One daemon per test module (`private_pcscd`).
* The client library (libpcsclite, used by pyscard and so by python-fido2) honours
  PCSCLITE_CSOCK_NAME, so the test process reaches that daemon through the temp dir's socket
  path without entering any namespace. libpcsclite reads the variable once per process and
  keeps it, so this conftest sets it when it is imported (before any test can touch PC/SC) to
  one fixed path for the whole process, /tmp/tokenbench-pcscd-<pid>/run/pcscd.comm, where
  every module's daemon puts its socket. (In-process PC/SC use by other tests of the same run
  then sees "no pcscd" unless one of these daemons is up; none of the project's tests rely on
  the host's pcscd.) Subprocesses get the variable explicitly.
* The virtual card must reach the vpcd port inside the daemon's network namespace. A network
  namespace is per thread on Linux, so a short-lived thread setns()es into
  /proc/<pcscd pid>/ns/net, creates the TCP connection and exits; the socket stays in that
  namespace while the rest of the process keeps the host's network. Subprocesses (the
  `tokenbench key emulate --vpcd` test) are started with `nsenter --net=...`.
* Teardown sends SIGTERM to pcscd and then kills the whole `unshare` process group, so nothing
  is left running even when a test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fido2 import cbor

from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction
from tokenbench.emulators.transport.nfc import NfcCard
from tokenbench.emulators.transport.vpcd import VpcdClient

PCSCD_BASE = Path(tempfile.gettempdir()) / f"tokenbench-pcscd-{os.getpid()}"
os.environ["PCSCLITE_CSOCK_NAME"] = str(PCSCD_BASE / "run" / "pcscd.comm")


ECHO = 0xC0  # vendor command: answer SUCCESS + the request's payload
WAIT_FOR_USER = 0xC1  # vendor command: wait for `release` or cancellation
KEEPALIVE_CANCEL = 0x2D
INVALID_COMMAND = 0x01


class FakeCore:
    """Test double of the authenticator core (see module docstring)."""

    def __init__(self, versions: tuple[str, ...] = ("U2F_V2", "FIDO_2_0")) -> None:
        self.info = {1: list(versions), 3: bytes(16)}
        self.requests: list[bytes] = []
        self.u2f_apdus: list[bytes] = []
        self.power_cycles = 0
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.cancelled_seen = threading.Event()

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes:
        self.requests.append(request)
        if request[:1] == b"\x04":
            return b"\x00" + cbor.encode(self.info)
        if request[:1] == bytes((ECHO,)):
            return b"\x00" + request[1:]
        if request[:1] == bytes((WAIT_FOR_USER,)):
            assert transaction is not None
            transaction.status = KeepaliveStatus.UPNEEDED
            self.waiting.set()
            while not self.release.wait(0.01):
                if transaction.cancelled.is_set():
                    self.cancelled_seen.set()
                    return bytes((KEEPALIVE_CANCEL,))
            return b"\x00"
        return bytes((INVALID_COMMAND,))

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes:
        self.u2f_apdus.append(apdu)
        if apdu[1] == 0x03:
            return b"U2F_V2\x90\x00"
        return bytes(apdu[7:-2]) + b"\x90\x00"  # echo the data of the extended APDU

    def power_cycle(self) -> None:
        self.power_cycles += 1


@pytest.fixture
def fake_core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def fake_core_type() -> type[FakeCore]:
    return FakeCore


PROJECT = Path(__file__).resolve().parents[2]
PCSCD_SCRIPT = PROJECT / "scripts" / "pcsc" / "pcscd-in-namespace.sh"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CHANNEL = 0x8C7B
# One vpcd reader entry gives two slots on consecutive ports. (A second entry on other ports
# does not give two more usable slots: the driver keeps its per-slot state by slot number.)
SLOT_PORTS = {"Virtual PCD 00 00": VPCD_CHANNEL, "Virtual PCD 00 01": VPCD_CHANNEL + 1}
CLONE_NEWNET = 0x40000000
UNSHARE = ("unshare", "--net", "--mount", "--fork", "--kill-child")
STARTUP_TIMEOUT = 10.0
READER_CONF = f"""FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x{VPCD_CHANNEL:04X}
LIBPATH      {VPCD_DRIVER}
CHANNELID    0x{VPCD_CHANNEL:04X}
"""


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class PrivatePcscd:
    """A pcscd in its own network and mount namespaces, with only the vpcd reader."""

    def __init__(self, base: Path) -> None:
        self.run_dir = base / "run"
        self.conf_dir = base / "reader.conf.d"
        self.log_path = base / "pcscd.log"
        self.run_dir.mkdir()
        self.conf_dir.mkdir()
        (self.conf_dir / "vpcd").write_text(READER_CONF)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*UNSHARE, "sh", str(PCSCD_SCRIPT), str(self.run_dir), str(self.conf_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = 0
        try:
            _wait_for(self._started, STARTUP_TIMEOUT, "pcscd to start")
        except BaseException:
            self.stop()
            raise

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    @property
    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def _started(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"pcscd exited: {self.log_path.read_text(errors='replace')}")
        pid_file = self.run_dir / "pcscd.pid"
        if not (self.socket_path.exists() and pid_file.exists()):
            return False
        text = pid_file.read_text().strip("\x00\n ")
        if not text.isdigit():
            return False
        self.pid = int(text)
        return True

    def in_netns(self, work: Callable[[], Any]) -> Any:
        """Run `work` on a thread that has joined pcscd's network namespace."""
        outcome: dict[str, Any] = {}

        def thread() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(self.netns_path) as ns:
                    if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into pcscd's network namespace")
                outcome["value"] = work()
            except BaseException as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=thread, name="netns-connect")
        worker.start()
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def connect(self, host: str, port: int) -> socket.socket:
        """A VpcdClient socket factory: TCP connection made inside pcscd's namespace."""
        return self.in_netns(lambda: socket.create_connection((host, port), timeout=0.2))

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def private_pcscd() -> Iterator[PrivatePcscd]:
    """A private pcscd for one test module, stopped at the module's end even on failure."""
    if os.geteuid() != 0:
        pytest.skip("private namespaces for pcscd need root (CI and make test run as root)")
    missing = [tool for tool in ("pcscd", "unshare") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: make test installs them")
    if not VPCD_DRIVER.exists():
        pytest.fail(f"vsmartcard-vpcd driver missing: {VPCD_DRIVER}")
    shutil.rmtree(PCSCD_BASE, ignore_errors=True)
    PCSCD_BASE.mkdir()
    daemon = PrivatePcscd(PCSCD_BASE)
    assert str(daemon.socket_path) == os.environ.get("PCSCLITE_CSOCK_NAME"), (
        "PCSCLITE_CSOCK_NAME changed during the run; libpcsclite would not follow"
    )
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(PCSCD_BASE, ignore_errors=True)


def card_present(reader_name: str) -> bool:
    """pcscd reports a card in the reader (and it answers a connect)."""
    from smartcard.System import readers

    for reader in readers():
        if reader.name != reader_name:
            continue
        connection = reader.createConnection()
        try:
            connection.connect()
            connection.disconnect()
        except Exception:
            return False
        finally:
            connection.release()
        return True
    return False


@contextlib.contextmanager
def plugged_card(
    daemon: PrivatePcscd, card: NfcCard, reader_name: str = "Virtual PCD 00 00"
) -> Iterator[VpcdClient]:
    """`card` connected to one vpcd slot of the private pcscd until the block ends."""
    client = VpcdClient(card, "127.0.0.1", SLOT_PORTS[reader_name], connect=daemon.connect)
    stop = threading.Event()
    thread = threading.Thread(target=client.run, args=(stop,), name="vpcd-card", daemon=True)
    thread.start()
    try:
        _wait_for(lambda: card_present(reader_name), STARTUP_TIMEOUT, "the card in pcscd")
        yield client
    finally:
        stop.set()
        thread.join(5)
        _wait_for(lambda: not card_present(reader_name), STARTUP_TIMEOUT, "card removal")


@pytest.fixture(scope="module")
def plug(private_pcscd: PrivatePcscd) -> Callable[..., contextlib.AbstractContextManager]:
    """plug(card[, reader_name]): a context manager holding `card` in a vpcd slot."""
    return lambda card, reader_name="Virtual PCD 00 00": plugged_card(
        private_pcscd, card, reader_name
    )
