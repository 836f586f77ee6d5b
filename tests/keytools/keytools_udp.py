"""A python-fido2 client on a UDP front end (ephemeral ports, so parallel runs do not clash)."""

from __future__ import annotations

from typing import Any

from fido2.hid import CtapHidDevice
from fido2.hid.base import HidDescriptor

from tokenbench.emulators.transport.udp import REPORT_SIZE, UdpHidConnection, UdpKeyServer

UNUSED_PORT = ("127.0.0.1", 9)  # replies go nowhere until the client's port is known


def serve_and_connect(front: Any, timeout: float = 5.0) -> tuple[UdpKeyServer, CtapHidDevice]:
    """Serve `front` on a free loopback port and connect python-fido2 to it over UDP."""
    server = UdpKeyServer(
        front, bind=("127.0.0.1", 0), reply_to=UNUSED_PORT, control=("127.0.0.1", 0)
    ).start()
    connection = UdpHidConnection(server.address, local=("127.0.0.1", 0), timeout=timeout)
    server.reply_to = connection.local_address
    descriptor = HidDescriptor("udp-trace", 0, 0, REPORT_SIZE, REPORT_SIZE, "trace", None)
    try:
        return server, CtapHidDevice(descriptor, connection)
    except BaseException:
        connection.close()
        server.close()
        raise
