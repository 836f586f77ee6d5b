"""The software authenticator over another target than `emu:`: an emulator serving UDP
(the simulator convention of `tokenbench key emulate --udp`), reached by `udp:HOST:PORT`."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from webauthn_client_servers import ORIGIN, Tokenbench

from tokenbench.bench.errors import UserError
from tokenbench.bench.webauthn import SoftwareAuthenticator
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.udp import UdpKeyServer

LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served_key() -> Iterator[EmulatedKey]:
    key = EmulatedKey.create()
    yield key
    key.close()


@pytest.fixture
def udp_target(served_key: EmulatedKey) -> Iterator[str]:
    key = served_key
    reply = free_udp_port()
    server = UdpKeyServer(
        key, bind=(LOOPBACK, 0), reply_to=(LOOPBACK, reply), control=(LOOPBACK, 0)
    ).start()
    try:
        yield f"udp:{LOOPBACK}:{server.address[1]},reply={reply}"
    finally:
        server.close()


def test_a_udp_emulator_registers_and_signs_in(udp_target: str) -> None:
    rp = Tokenbench(uv_required=False)
    with SoftwareAuthenticator(ORIGIN, udp_target) as key:
        registered = rp.finish_registration(key.create(rp.registration_options()))
        signed_in = rp.finish_authentication(key.get(rp.authentication_options()))
    assert signed_in.sign_count > registered.sign_count


def test_faults_are_refused_for_a_key_in_another_process(udp_target: str) -> None:
    with pytest.raises(UserError, match=r"need an emulated key .*key emulate --fault"):
        SoftwareAuthenticator(ORIGIN, udp_target, faults=["clone"])


GET_INFO = 0x04


def count_get_info(key: EmulatedKey) -> list[int]:
    """Counts the getInfo commands that reach `key`'s authenticator."""
    seen: list[int] = []
    process = key.authenticator.process

    def counting(request: bytes, *rest):
        if request[:1] == bytes([GET_INFO]):
            seen.append(GET_INFO)
        return process(request, *rest)

    key.authenticator.process = counting
    return seen


def ceremonies(key: SoftwareAuthenticator) -> None:
    rp = Tokenbench(uv_required=False)
    rp.finish_registration(key.create(rp.registration_options()))
    for _ in range(2):
        rp.finish_authentication(key.get(rp.authentication_options()))


def test_the_in_process_key_is_asked_for_getinfo_once() -> None:
    """python-fido2 re-reads getInfo twice a ceremony; nobody else can change an in-process
    key, so its first answer is reused (half the cost of a ceremony)."""
    with SoftwareAuthenticator(ORIGIN) as key:
        seen = count_get_info(key.target.key)
        ceremonies(key)
    assert len(seen) == 1


def test_a_key_in_another_process_is_asked_afresh(udp_target: str, served_key) -> None:
    """Another program may set a PIN on a UDP emulator between two ceremonies: no reuse."""
    seen = count_get_info(served_key)
    with SoftwareAuthenticator(ORIGIN, udp_target) as key:
        ceremonies(key)
    assert len(seen) == 1 + 2 * 3  # the client's own, then two per ceremony
