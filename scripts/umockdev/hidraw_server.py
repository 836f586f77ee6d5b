#!/usr/bin/python3
"""Serve a fake /dev/hidrawN under umockdev; its reports travel over an inherited socket.

Why a separate process: umockdev's API is GObject introspection (`gi`), which Debian ships for
the system interpreter only (python3-gi), while the emulated key lives in the project's venv.
This script therefore imports nothing from the project: it acts as the kernel's hidraw driver
for one node and nothing else.

- The testbed holds a sysfs tree (usb_device > usb_interface > hid > hidraw) that libudev,
  libfido2 and python-fido2 enumerate, and a /dev node that stat()s as a character device.
- An `UMockdev.IoctlBase` attached to the node answers what hidraw answers
  (linux/hidraw.h: HIDIOCGRDESCSIZE, HIDIOCGRDESC, HIDIOCGRAWINFO, HIDIOCGRAWNAME/PHYS/UNIQ)
  and takes read()/write() from clients running with libumockdev-preload.
- Every write() is passed on as one SOCK_SEQPACKET message; every message received is an
  input report, queued for each open file like hidraw does. A read() with nothing queued is
  held until a report arrives (umockdev completes requests asynchronously).
- One gap to the kernel: umockdev accepts each open()'s socket asynchronously, so a file
  that has not yet made any call (ioctl, read, write) may miss reports sent meanwhile.
  Clients ioctl before they read, and a file that wrote is always known, so CTAPHID request
  and reply are not affected.
- Another: umockdev serves each open file's requests one at a time, so while one thread of a
  client sits in read(), another thread's write() on the *same* fd waits for it (the kernel
  lets them pass each other). python-fido2 and libfido2 write, then read, on one thread;
  a second open() of the node is not affected.
- A real key cannot outrun its reader: its reports leave at the USB interrupt endpoint's pace
  (one per millisecond or slower), while a client's read() here is a round trip through
  umockdev's socket. The emulated key hands over a whole answer at once (up to 129 reports
  for a 7609-byte CTAPHID message), more than hidraw's queue of 63 per file. So when a
  file's queue is full the report is held back until that file reads (`HOLD_SECONDS` at
  most, then dropped as hidraw drops it); a file that let a hold run out is not waited for
  again until it reads. Without this, answers of 64+ reports (fewer with keepalives still
  queued), e.g. ML-DSA assertions, lost their tail and the client waited forever.
- umockdev backs a non-tty /dev node with a pty: poll()/select() on the client's fd look at
  that pty, not at the ioctl socket. `Doorbell` keeps one byte in the pty's input while any
  report is queued, so libfido2's poll-then-read loop sees POLLIN exactly when data waits.

Unplugging and plugging back in (a test rig's power switch) are lines on stdin, each answered
by one line on stdout: `unplug` removes the device tree and its /dev node, as the kernel does
when a USB device goes (open files get ENODEV from then on, also after a replug); `plug` adds a
new device, with the next hidraw node name (umockdev cannot re-create a removed node) and the
next HID instance number, as a replugged key gets. Reports the device sends meanwhile are lost.

Usage: hidraw_server.py CONFIG_JSON SOCKET_FD. Prints "ready <testbed root>" on stdout, then
serves until the peer closes the socket. Commands: `unplug` -> "unplugged", `plug` ->
"plugged /dev/hidrawN"; anything else -> "error ...".
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import struct
import sys
import termios
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TextIO

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

# linux/ioctl.h request layout
IOC_NRBITS, IOC_TYPEBITS, IOC_SIZEBITS = 8, 8, 14
IOC_TYPESHIFT = IOC_NRBITS
IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS
IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS
IOC_READ = 2

# linux/hidraw.h: ioctl type 'H' and the request numbers hidraw answers here
HIDRAW_IOC_TYPE = ord("H")
NR_GRDESCSIZE = 0x01
NR_GRDESC = 0x02
NR_GRAWINFO = 0x03
NR_GRAWNAME = 0x04
NR_GRAWPHYS = 0x05
NR_GRAWUNIQ = 0x08
HID_MAX_DESCRIPTOR_SIZE = 4096
RAWINFO = struct.Struct("<IHH")  # struct hidraw_devinfo: bustype u32, vendor, product (16 bits)
DESC_SIZE = struct.Struct("<I")  # struct hidraw_report_descriptor starts with its u32 size
HID_MAX_BUFFER_SIZE = 16384  # hidraw refuses larger writes
HIDRAW_MIN_WRITE = 2  # and shorter ones ("passed too short report"): report ID + one byte
HIDRAW_BUFFER_SIZE = 64  # ring slots per open file; one stays free to tell full from empty
HOLD_SECONDS = 2.0  # how long a report waits for room in a reading file's full queue
MAX_MESSAGE = 65536
BUS_USB = 0x03
HIDRAW_MAJOR = 247  # any major works: umockdev maps the node, no kernel driver is involved

UNPLUG_GRACE = 1.0  # seconds the node answers ENODEV after the device went away


@dataclass(frozen=True)
class NodeConfig:
    """What the fake device says about itself (passed as JSON by the launching process)."""

    report_descriptor: bytes
    vendor_id: int
    product_id: int
    name: str
    manufacturer: str
    product: str
    serial: str = ""
    node: str = "hidraw0"

    @classmethod
    def from_json(cls, text: str) -> NodeConfig:
        raw = json.loads(text)
        raw["report_descriptor"] = bytes.fromhex(raw["report_descriptor"])
        return cls(**raw)


def node_minor(node: str) -> int:
    return int(node.removeprefix("hidraw") or 0)


def device_paths(cfg: NodeConfig, instance: int) -> tuple[str, str, str, str]:
    """sysfs paths of the USB device, its interface, the HID device and the hidraw node.

    `instance` is the HID device's sequence number, which the kernel raises on every plug.
    """
    usb = "/devices/pci0000:00/0000:00:14.0/usb1/1-1"
    hid = f"{usb}/1-1:1.0/0003:{cfg.vendor_id:04X}:{cfg.product_id:04X}.{instance:04X}"
    return usb, f"{usb}/1-1:1.0", hid, f"{hid}/hidraw/{cfg.node}"


def sysfs_description(cfg: NodeConfig, instance: int = 1) -> str:
    """The device tree in umockdev's text format, shaped like a USB HID key's sysfs."""
    minor = node_minor(cfg.node)
    usb, interface, hid, hidraw = device_paths(cfg, instance)
    return "\n".join(
        [
            f"P: {hidraw}",
            f"N: {cfg.node}",
            f"E: DEVNAME=/dev/{cfg.node}",
            f"E: MAJOR={HIDRAW_MAJOR}",
            f"E: MINOR={minor}",
            "E: SUBSYSTEM=hidraw",
            f"A: dev={HIDRAW_MAJOR}:{minor}",
            "",
            f"P: {hid}",
            "E: DRIVER=hid-generic",
            f"E: HID_ID={BUS_USB:04X}:{cfg.vendor_id:08X}:{cfg.product_id:08X}",
            f"E: HID_NAME={cfg.name}",
            f"E: HID_UNIQ={cfg.serial}",
            f"E: MODALIAS=hid:b{BUS_USB:04X}g0001v{cfg.vendor_id:08X}p{cfg.product_id:08X}",
            "E: SUBSYSTEM=hid",
            f"H: report_descriptor={cfg.report_descriptor.hex().upper()}",
            "",
            f"P: {interface}",
            "E: DEVTYPE=usb_interface",
            "E: DRIVER=usbhid",
            "E: INTERFACE=3/0/0",
            "E: SUBSYSTEM=usb",
            "A: bInterfaceClass=03",
            "",
            f"P: {usb}",
            "E: DEVTYPE=usb_device",
            "E: DRIVER=usb",
            f"E: PRODUCT={cfg.vendor_id:x}/{cfg.product_id:x}/100",
            "E: SUBSYSTEM=usb",
            f"A: idVendor={cfg.vendor_id:04x}",
            f"A: idProduct={cfg.product_id:04x}",
            f"A: manufacturer={cfg.manufacturer}",
            f"A: product={cfg.product}",
            f"A: serial={cfg.serial}",
            "",
        ]
    )


class Doorbell:
    """Makes the node's pty readable (or not), which is what the clients' poll() reports."""

    def __init__(self, master_fd: int, slave_path: str) -> None:
        self.master = master_fd
        # Our own handle on the client side of the pty: raw mode (one byte is readable at once,
        # nothing echoes back) and a way to take the byte out again.
        self.slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.slave)
        self.ringing = False

    def set(self, ringing: bool) -> None:
        if ringing and not self.ringing:
            os.write(self.master, b"\0")
        elif not ringing and self.ringing:
            termios.tcflush(self.slave, termios.TCIFLUSH)
        self.ringing = ringing

    def close(self) -> None:
        os.close(self.slave)


@dataclass
class OpenFile:
    """One open() of the node: hidraw gives every open file its own input queue."""

    client: UMockdev.IoctlClient
    reports: deque[bytes] = field(default_factory=deque)
    waiting_read: UMockdev.IoctlClient | None = None
    stalled: bool = False  # a hold for room ran out: drop, don't wait, until it reads again


class HidrawNode(UMockdev.IoctlBase):
    """The hidraw driver's side of one node. umockdev calls these on its own worker thread."""

    def __init__(self, cfg: NodeConfig, peer: socket.socket, doorbell: Doorbell) -> None:
        super().__init__()
        self.cfg = cfg
        self.peer = peer
        self.doorbell = doorbell
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # a read took a report off a queue
        self.files: dict[int, OpenFile] = {}
        self.gone = False

    # -- ioctl ------------------------------------------------------------------------------

    def do_handle_ioctl(self, client: UMockdev.IoctlClient) -> bool:
        if self.gone:
            client.complete(-1, errno.ENODEV)
            return True
        request = client.get_request()
        ioc_type = (request >> IOC_TYPESHIFT) & ((1 << IOC_TYPEBITS) - 1)
        nr = request & ((1 << IOC_NRBITS) - 1)
        size = (request >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)
        readable = (request >> IOC_DIRSHIFT) & IOC_READ
        if ioc_type != HIDRAW_IOC_TYPE or not readable:
            client.complete(-1, errno.ENOTTY)
            return True
        strings = {NR_GRAWNAME: self.cfg.name, NR_GRAWPHYS: "usb-0000:00:14.0-1/input0"}
        strings[NR_GRAWUNIQ] = self.cfg.serial
        if nr == NR_GRDESCSIZE:
            self._reply(client, size, DESC_SIZE.pack(len(self.cfg.report_descriptor)), 0)
        elif nr == NR_GRAWINFO:
            info = RAWINFO.pack(BUS_USB, self.cfg.vendor_id, self.cfg.product_id)
            self._reply(client, size, info, 0)
        elif nr == NR_GRDESC:
            self._report_descriptor(client)
        elif nr in strings:
            # The kernel copies the NUL too, at most the ioctl's size, and returns the count.
            text = strings[nr].encode() + b"\0"
            text = text[:size]
            self._reply(client, len(text), text, len(text))
        else:
            client.complete(-1, errno.ENOTTY)
        return True

    def _reply(self, client: UMockdev.IoctlClient, size: int, data: bytes, result: int) -> None:
        """Copy `data` into the caller's buffer (of `size` bytes) and finish the ioctl."""
        target = client.get_arg().resolve(0, size)
        if target is None:
            client.complete(-1, errno.EFAULT)
            return
        target.update(0, data)
        client.complete(result, 0)

    def _report_descriptor(self, client: UMockdev.IoctlClient) -> None:
        """HIDIOCGRDESC: the caller states the size it wants in the struct's first u32.

        Only the size field and the descriptor are mapped (not the full 4 KiB struct), so a
        caller that allocated just 4 + size bytes is never read past its buffer.
        """
        desc = self.cfg.report_descriptor
        target = client.get_arg().resolve(0, DESC_SIZE.size + len(desc))
        if target is None:
            client.complete(-1, errno.EFAULT)
            return
        (wanted,) = DESC_SIZE.unpack(bytes(target.retrieve()[: DESC_SIZE.size]))
        if wanted > HID_MAX_DESCRIPTOR_SIZE - 1:
            client.complete(-1, errno.EINVAL)
            return
        target.update(DESC_SIZE.size, desc[:wanted])
        client.complete(0, 0)

    # -- read / write -----------------------------------------------------------------------

    def do_client_connected(self, client: UMockdev.IoctlClient) -> None:
        with self.lock:
            self.files[hash(client)] = OpenFile(client)

    def do_handle_write(self, client: UMockdev.IoctlClient) -> bool:
        data = bytes(client.get_arg().retrieve())
        if self.gone:
            client.complete(-1, errno.ENODEV)
            return True
        if not HIDRAW_MIN_WRITE <= len(data) <= HID_MAX_BUFFER_SIZE:
            client.complete(-1, errno.EINVAL)
            return True
        try:
            self.peer.send(data)
        except OSError:
            client.complete(-1, errno.ENODEV)
            return True
        client.complete(len(data), 0)
        return True

    def do_handle_read(self, client: UMockdev.IoctlClient) -> bool:
        with self.lock:
            if self.gone:
                client.complete(-1, errno.ENODEV)
                return True
            file = self.files.setdefault(hash(client), OpenFile(client))
            file.stalled = False
            if file.reports:
                self._deliver(client, file.reports.popleft())
                self.room.notify_all()
            else:
                file.waiting_read = client
            self._update_doorbell()
        return True

    def _update_doorbell(self) -> None:
        """Called with the lock held, after any change to the queues."""
        self._forget_closed_files()
        self.doorbell.set(any(file.reports for file in self.files.values()))

    def _forget_closed_files(self) -> None:
        """Called with the lock held: a closed file's queue goes with it, as in hidraw."""
        for key, file in list(self.files.items()):
            if not file.client.get_connected():
                del self.files[key]

    def input_report(self, report: bytes) -> None:
        """A report from the device: every open file gets it (hidraw_report_event)."""
        with self.lock:
            if self.gone:
                return
            self._forget_closed_files()
            for file in list(self.files.values()):
                if file.waiting_read is None and not self._wait_for_room(file):
                    continue  # a full queue drops the new report, as hidraw does
                if file.waiting_read is not None:
                    reader, file.waiting_read = file.waiting_read, None
                    self._deliver(reader, report)
                else:
                    file.reports.append(report)
            self._update_doorbell()

    def _wait_for_room(self, file: OpenFile) -> bool:
        """Called with the lock held: hold the report until `file` can take it (see the
        module docstring), or give up; True if there is room or a read waits."""
        deadline = time.monotonic() + HOLD_SECONDS
        while len(file.reports) >= HIDRAW_BUFFER_SIZE - 1 and file.waiting_read is None:
            left = deadline - time.monotonic()
            if file.stalled or self.gone or left <= 0 or not file.client.get_connected():
                file.stalled = True
                return False
            self.room.wait(min(left, 0.05))  # also notices a file closed meanwhile
        return True

    def device_gone(self) -> None:
        """The device went away: blocked and later calls get ENODEV, as after an unplug."""
        with self.lock:
            self.gone = True
            self.room.notify_all()
            for file in self.files.values():
                if file.waiting_read is not None:
                    file.waiting_read.complete(-1, errno.ENODEV)
                    file.waiting_read = None

    def has_clients(self) -> bool:
        with self.lock:
            return any(file.client.get_connected() for file in self.files.values())

    @staticmethod
    def _deliver(client: UMockdev.IoctlClient, report: bytes) -> None:
        arg = client.get_arg()
        count = len(arg.retrieve())
        chunk = report[:count]
        arg.update(0, chunk)
        client.complete(len(chunk), 0)


class UsbPort:
    """The USB port the fake key sits in: `plug()` adds a device and its node, `unplug()` takes
    them away again. Only this thread-safe object touches the testbed's device tree.

    Every node ever plugged stays attached to its ioctl handler, which answers ENODEV once the
    device is gone: detaching it would make umockdev's preload abort a client that still holds
    a file of the old node (a real client may keep one open across a replug).
    """

    def __init__(self, testbed: UMockdev.Testbed, cfg: NodeConfig, peer: socket.socket) -> None:
        self.testbed = testbed
        self.cfg = cfg
        self.peer = peer
        self.root = testbed.get_root_dir()
        self.lock = threading.Lock()
        self.nodes: list[tuple[str, HidrawNode]] = []  # every node plugged so far
        self.plugged: tuple[NodeConfig, int, HidrawNode] | None = None

    def plug(self) -> str:
        """Add the device (a no-op if it is in); its /dev node's path."""
        with self.lock:
            if self.plugged is not None:
                return f"/dev/{self.plugged[0].node}"
            count = len(self.nodes)
            cfg = replace(self.cfg, node=f"hidraw{node_minor(self.cfg.node) + count}")
            instance = count + 1
            self.testbed.add_from_string(sysfs_description(cfg, instance))
            devnode = f"/dev/{cfg.node}"
            pty = os.readlink(os.path.join(self.root, devnode.lstrip("/")))
            doorbell = Doorbell(self.testbed.get_dev_fd(devnode), pty)
            node = HidrawNode(cfg, self.peer, doorbell)
            self.testbed.attach_ioctl(devnode, node)
            self.nodes.append((devnode, node))
            self.plugged = (cfg, instance, node)
            return devnode

    def unplug(self) -> None:
        """Remove the device: its files fail with ENODEV, its sysfs tree and /dev node go."""
        with self.lock:
            if self.plugged is None:
                return
            cfg, instance, node = self.plugged
            self.plugged = None
            node.device_gone()
            # Leaf first: umockdev removes one directory (and its links) per call.
            for path in reversed(device_paths(cfg, instance)):
                self.testbed.remove_device(f"/sys{path}")

    def input_report(self, report: bytes) -> None:
        """A report from the device; lost while it is unplugged, as on a dead USB port."""
        with self.lock:
            node = self.plugged[2] if self.plugged is not None else None
        if node is not None:
            node.input_report(report)

    def has_clients(self) -> bool:
        with self.lock:
            nodes = [node for _, node in self.nodes]
        return any(node.has_clients() for node in nodes)

    def close(self) -> None:
        """Detach every node's handler (after `unplug()` and the clients' grace period)."""
        with self.lock:
            for devnode, node in self.nodes:
                self.testbed.detach_ioctl(devnode)
                node.doorbell.close()
            self.nodes = []


def pump_reports(peer: socket.socket, port: UsbPort, loop: GLib.MainLoop) -> None:
    """Input reports from the launching process until it closes its end."""
    while True:
        try:
            report = peer.recv(MAX_MESSAGE)
        except OSError:
            report = b""
        if not report:
            break
        port.input_report(report)
    port.unplug()
    # Stay a moment for open files to see ENODEV: once this process is gone, umockdev's
    # preload aborts any client that still uses the node (it cannot fail the call itself).
    deadline = time.monotonic() + UNPLUG_GRACE
    while port.has_clients() and time.monotonic() < deadline:
        time.sleep(0.02)
    loop.quit()


def serve_commands(port: UsbPort, commands: TextIO, replies: TextIO) -> None:
    """The launching process's power switch: one line in, one line out (see the docstring)."""
    for line in commands:
        word = line.strip()
        try:
            if word == "unplug":
                port.unplug()
                reply = "unplugged"
            elif word == "plug":
                reply = f"plugged {port.plug()}"
            else:
                reply = f"error unknown command {word[:40]!r}"
        except Exception as exc:  # a testbed failure is reported, the helper keeps serving
            reply = f"error {type(exc).__name__}: {exc}".replace("\n", " ")
        print(reply, file=replies, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: hidraw_server.py CONFIG_JSON SOCKET_FD", file=sys.stderr)
        return 2
    cfg = NodeConfig.from_json(argv[1])
    peer = socket.socket(fileno=int(argv[2]))
    testbed = UMockdev.Testbed.new()
    root = testbed.get_root_dir()
    try:
        port = UsbPort(testbed, cfg, peer)
        port.plug()
        loop = GLib.MainLoop()
        threading.Thread(target=pump_reports, args=(peer, port, loop), daemon=True).start()
        print(f"ready {root}", flush=True)
        threading.Thread(
            target=serve_commands, args=(port, sys.stdin, sys.stdout), daemon=True
        ).start()
        loop.run()
        port.close()
    finally:
        # The testbed removes its directory when it is finalized; the rmtree covers a crash.
        del testbed
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
