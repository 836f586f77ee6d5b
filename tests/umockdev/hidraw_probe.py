"""A bare hidraw client (os, fcntl, select only), run under libumockdev-preload by the tests.

It checks the kernel behaviours that clients rely on but python-fido2 alone would not show:
poll() readiness, per-open-file input queues, the ioctls' copy rules, tolerance of bad writes,
and what a blocked reader sees when the device goes away. Prints one JSON object.

Usage: hidraw_probe.py poll | broadcast | ioctls | garbage | long | idle | unplug [DEVNODE]
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import struct
import sys
import time
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
CTAPHID_PING = 0x81
REPORT = 64
INIT_PAYLOAD = REPORT - 7
CONT_PAYLOAD = REPORT - 5
MAX_MESSAGE = INIT_PAYLOAD + 128 * CONT_PAYLOAD  # 7609: seq 0..127
# PING sizes around hidraw's queue of 63 reports per file: 62, 63, 64 and 129 reports.
LONG_PINGS = (0, 57, 58, 3656, 3657, 3715, 3716, 3774, MAX_MESSAGE)
REPLY_TIMEOUT = 5.0
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


def ping_frames(cid: bytes, data: bytes) -> list[bytes]:
    """A CTAPHID PING request as hidraw writes (report ID 0 first)."""
    frames = [cid + bytes([CTAPHID_PING]) + struct.pack(">H", len(data)) + data[:INIT_PAYLOAD]]
    for seq, offset in enumerate(range(INIT_PAYLOAD, len(data), CONT_PAYLOAD)):
        frames.append(cid + bytes([seq]) + data[offset : offset + CONT_PAYLOAD])
    return [b"\0" + frame.ljust(REPORT, b"\0") for frame in frames]


def open_channel(fd: int) -> bytes:
    os.write(fd, init_request())
    report = os.read(fd, REPORT)
    assert is_init_reply(report), report.hex()
    return report[15:19]


def echo(fd: int, cid: bytes, size: int) -> str:
    """PING `size` bytes; read the echo only once the whole answer has been sent, as a slow
    client would. "ok", or how the answer fell short."""
    data = bytes(i * 7 % 251 for i in range(size))
    for frame in ping_frames(cid, data):
        os.write(fd, frame)
    time.sleep(0.05)  # the key has handed over every report of the answer by now
    got = b""
    want = -1
    while len(got) < want or want < 0:
        if not readable(fd, REPLY_TIMEOUT):
            return f"timed out after {len(got)} of {want} bytes"
        report = os.read(fd, REPORT)
        if want < 0:
            want = struct.unpack(">H", report[5:7])[0]
            got = report[7 : 7 + min(want, INIT_PAYLOAD)]
        else:
            got += report[5 : 5 + want - len(got)]
    return "ok" if got == data else "corrupted"


def long_answers(node: str) -> Any:
    """Answers longer than hidraw's per-file queue, handed over by the key all at once."""
    fd = os.open(node, os.O_RDWR)
    cid = open_channel(fd)
    outcome = {str(size): echo(fd, cid, size) for size in LONG_PINGS}
    os.close(fd)
    return outcome


def idle(node: str) -> Any:
    """A second open file that never reads must not stall the reading one for good."""
    fd = os.open(node, os.O_RDWR)
    quiet = os.open(node, os.O_RDWR)
    fcntl.ioctl(quiet, HIDIOCGRDESCSIZE, array("B", bytes(4)), True)  # the helper knows it
    cid = open_channel(fd)
    started = time.monotonic()
    outcome = [echo(fd, cid, MAX_MESSAGE) for _ in range(3)]
    seconds = time.monotonic() - started
    # hidraw kept the quiet file's first 63 reports: INIT's answer, then the first PING's.
    queued = 0
    while readable(quiet, 0.2):
        os.read(quiet, REPORT)
        queued += 1
    os.close(quiet)
    os.close(fd)
    return {"echoes": outcome, "seconds": seconds, "queued_on_idle_file": queued}


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
        "long": long_answers,
        "idle": idle,
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
