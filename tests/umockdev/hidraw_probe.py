"""A bare hidraw client (os, fcntl, select only), run under libumockdev-preload by the tests.

It checks the kernel behaviours that clients rely on but python-fido2 alone would not show:
poll() readiness, per-open-file input queues, the ioctls' copy rules, tolerance of bad writes,
and what a blocked reader sees when the device goes away. Prints one JSON object.

Usage: hidraw_probe.py poll | broadcast | ioctls | garbage | unplug [DEVNODE]
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import struct
import sys
from array import array
from typing import Any

# linux/hidraw.h requests, spelled out as a client would (independent of the server's table).
HIDIOCGRDESCSIZE = 0x80044801
HIDIOCGRDESC = 0x90044802
HIDIOCGRAWINFO = 0x80084803


def HIDIOCGRAWNAME(size: int) -> int:
    return 0x80004804 | (size << 16)


# An ioctl hidraw does not know: the tty request TCGETS.
TCGETS = 0x5401

BROADCAST_CID = b"\xff\xff\xff\xff"
CTAPHID_INIT = 0x86
REPORT = 64
NONCE = bytes(range(1, 9))


def init_request(nonce: bytes = NONCE) -> bytes:
    """CTAPHID_INIT on the broadcast channel, with hidraw's leading report-ID byte 0."""
    frame = BROADCAST_CID + bytes([CTAPHID_INIT]) + struct.pack(">H", len(nonce)) + nonce
    return b"\0" + frame.ljust(REPORT, b"\0")


def is_init_reply(report: bytes, nonce: bytes = NONCE) -> bool:
    return report[:5] == BROADCAST_CID + bytes([CTAPHID_INIT]) and report[7:15] == nonce


def readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def poll(node: str) -> Any:
    fd = os.open(node, os.O_RDWR)
    idle_before = readable(fd, 0.2)
    written = os.write(fd, init_request())
    ready = readable(fd, 5.0)
    report = os.read(fd, REPORT)
    idle_after = readable(fd, 0.2)
    os.close(fd)
    return {
        "readable_before_request": idle_before,
        "written": written,
        "readable_after_request": ready,
        "reply_is_init": is_init_reply(report),
        "reply_length": len(report),
        "readable_after_drain": idle_after,
    }


def broadcast(node: str) -> Any:
    """hidraw copies every input report to every open file of the node."""
    first = os.open(node, os.O_RDWR)
    second = os.open(node, os.O_RDWR)
    # umockdev accepts an open file's socket asynchronously; the first call on it (here an
    # ioctl, as every real client makes) is what guarantees the helper knows the file.
    for fd in (first, second):
        fcntl.ioctl(fd, HIDIOCGRDESCSIZE, array("B", bytes(4)), True)
    os.write(first, init_request())
    on_second = os.read(second, REPORT)
    on_first = os.read(first, REPORT)
    os.close(first)
    os.close(second)
    return {"first": is_init_reply(on_first), "second": is_init_reply(on_second)}


def ioctls(node: str) -> Any:
    fd = os.open(node, os.O_RDWR)
    info = array("B", bytes(8))
    fcntl.ioctl(fd, HIDIOCGRAWINFO, info, True)
    bus, vid, pid = struct.unpack("<IHH", info)
    size_buf = array("B", bytes(4))
    fcntl.ioctl(fd, HIDIOCGRDESCSIZE, size_buf, True)
    (size,) = struct.unpack("<I", size_buf)
    # Ask for 5 bytes only: the rest of the buffer must stay as it was (0xEE).
    short = array("B", struct.pack("<I", 5) + b"\xee" * size)
    fcntl.ioctl(fd, HIDIOCGRDESC, short, True)
    full = array("B", struct.pack("<I", size) + bytes(size))
    fcntl.ioctl(fd, HIDIOCGRDESC, full, True)
    name_buf = array("B", bytes(8))
    name_len = fcntl.ioctl(fd, HIDIOCGRAWNAME(8), name_buf, True)
    try:
        fcntl.ioctl(fd, TCGETS, bytes(60))
        unknown = 0
    except OSError as exc:
        unknown = exc.errno
    oversized = array("B", struct.pack("<I", 4096) + bytes(size))
    try:
        fcntl.ioctl(fd, HIDIOCGRDESC, oversized, True)
        oversized_errno = 0
    except OSError as exc:
        oversized_errno = exc.errno
    os.close(fd)
    return {
        "bus": bus,
        "vid": vid,
        "pid": pid,
        "descriptor_size": size,
        "descriptor": bytes(full[4:]).hex(),
        "short_copy": bytes(short[4:]).hex(),
        "name_len": name_len,
        "name": bytes(name_buf).hex(),
        "unknown_errno": unknown,
        "unknown_is_enotty": unknown == errno.ENOTTY,
        "oversized_is_einval": oversized_errno == errno.EINVAL,
    }


def garbage(node: str) -> Any:
    """Writes no key would accept, then a good request: the node must still answer it."""
    fd = os.open(node, os.O_RDWR)
    results = []
    for data in (b"", b"\0", b"\x01" * 10, b"\0" + b"\xff" * 100, b"\0" * 20000):
        try:
            results.append(os.write(fd, data))
        except OSError as exc:
            results.append(-exc.errno)
    os.write(fd, init_request(b"garbage!"))
    report = os.read(fd, REPORT)
    os.close(fd)
    return {
        "results": results,
        "answered_after": is_init_reply(report, b"garbage!"),
    }


def unplug(node: str) -> Any:
    """Block in read() with nothing coming; the test removes the device meanwhile."""
    fd = os.open(node, os.O_RDWR)
    print("waiting", flush=True)
    try:
        data = os.read(fd, REPORT)
        outcome: Any = {"read": data.hex()}
    except OSError as exc:
        outcome = {"errno": exc.errno, "is_enodev": exc.errno == errno.ENODEV}
    return outcome


def main(argv: list[str]) -> int:
    commands = {
        "poll": poll,
        "broadcast": broadcast,
        "ioctls": ioctls,
        "garbage": garbage,
        "unplug": unplug,
    }
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    node = argv[2] if len(argv) > 2 else "/dev/hidraw0"
    print(json.dumps(commands[argv[1]](node)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
