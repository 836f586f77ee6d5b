"""libfido2 (the C client behind fido2-tools, OpenSSH and systemd) drives the emulated key.

libfido2 is an independent implementation of the host side, so it catches framing and CBOR
mistakes that python-fido2 might share with us. It reaches the emulator through
`fido_dev_set_io_functions`: its HID writes (report-ID byte + 64 bytes) go to the CTAPHID
endpoint and its reads (64 bytes, with a timeout in ms) come from the key's reports, either
in-process or over the UDP simulator port.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import itertools
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.udp import UdpHidConnection, UdpKeyServer

FIDO_OK = 0
FIDO_ERR_PIN_REQUIRED = 0x36
FIDO_ERR_PIN_INVALID = 0x31
FIDO_ERR_INVALID_SIG = -6
FIDO_OPT_TRUE = 2
COSE_ES256 = -7
REPORT_ID = b"\x00"
RP_ID = b"example.com"
LOOPBACK = "127.0.0.1"

c_uchar_p = ctypes.POINTER(ctypes.c_ubyte)
OPEN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)
CLOSE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
READ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, c_uchar_p, ctypes.c_size_t, ctypes.c_int)
WRITE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, c_uchar_p, ctypes.c_size_t)


class FidoDevIo(ctypes.Structure):
    """`fido_dev_io_t` from <fido/types.h>: open, close, read, write."""

    _fields_ = [("open", OPEN), ("close", CLOSE), ("read", READ), ("write", WRITE)]


def load_libfido2() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("fido2") or "libfido2.so.1")
    ptr = ctypes.c_void_p
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "fido_init": (None, [ctypes.c_int]),
        "fido_strerr": (ctypes.c_char_p, [ctypes.c_int]),
        "fido_dev_new": (ptr, []),
        "fido_dev_free": (None, [ctypes.POINTER(ptr)]),
        "fido_dev_set_io_functions": (ctypes.c_int, [ptr, ctypes.POINTER(FidoDevIo)]),
        "fido_dev_open": (ctypes.c_int, [ptr, ctypes.c_char_p]),
        "fido_dev_close": (ctypes.c_int, [ptr]),
        "fido_dev_is_fido2": (ctypes.c_bool, [ptr]),
        "fido_cbor_info_new": (ptr, []),
        "fido_cbor_info_free": (None, [ctypes.POINTER(ptr)]),
        "fido_dev_get_cbor_info": (ctypes.c_int, [ptr, ptr]),
        "fido_cbor_info_versions_ptr": (ctypes.POINTER(ctypes.c_char_p), [ptr]),
        "fido_cbor_info_versions_len": (ctypes.c_size_t, [ptr]),
        "fido_cbor_info_aaguid_ptr": (c_uchar_p, [ptr]),
        "fido_cbor_info_aaguid_len": (ctypes.c_size_t, [ptr]),
        "fido_cred_new": (ptr, []),
        "fido_cred_free": (None, [ctypes.POINTER(ptr)]),
        "fido_cred_set_type": (ctypes.c_int, [ptr, ctypes.c_int]),
        "fido_cred_set_clientdata_hash": (ctypes.c_int, [ptr, ctypes.c_char_p, ctypes.c_size_t]),
        "fido_cred_set_rp": (ctypes.c_int, [ptr, ctypes.c_char_p, ctypes.c_char_p]),
        "fido_cred_set_user": (
            ctypes.c_int,
            [ptr, ctypes.c_char_p, ctypes.c_size_t, *[ctypes.c_char_p] * 3],
        ),
        "fido_cred_set_rk": (ctypes.c_int, [ptr, ctypes.c_int]),
        "fido_dev_make_cred": (ctypes.c_int, [ptr, ptr, ctypes.c_char_p]),
        "fido_cred_verify": (ctypes.c_int, [ptr]),
        "fido_cred_fmt": (ctypes.c_char_p, [ptr]),
        "fido_cred_x5c_len": (ctypes.c_size_t, [ptr]),
        "fido_cred_id_ptr": (c_uchar_p, [ptr]),
        "fido_cred_id_len": (ctypes.c_size_t, [ptr]),
        "fido_cred_pubkey_ptr": (c_uchar_p, [ptr]),
        "fido_cred_pubkey_len": (ctypes.c_size_t, [ptr]),
        "fido_assert_new": (ptr, []),
        "fido_assert_free": (None, [ctypes.POINTER(ptr)]),
        "fido_assert_set_clientdata_hash": (
            ctypes.c_int,
            [ptr, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "fido_assert_set_rp": (ctypes.c_int, [ptr, ctypes.c_char_p]),
        "fido_assert_allow_cred": (ctypes.c_int, [ptr, ctypes.c_char_p, ctypes.c_size_t]),
        "fido_dev_get_assert": (ctypes.c_int, [ptr, ptr, ctypes.c_char_p]),
        "fido_assert_count": (ctypes.c_size_t, [ptr]),
        "fido_assert_sigcount": (ctypes.c_uint32, [ptr, ctypes.c_size_t]),
        "fido_assert_verify": (ctypes.c_int, [ptr, ctypes.c_size_t, ctypes.c_int, ptr]),
        "es256_pk_new": (ptr, []),
        "es256_pk_free": (None, [ctypes.POINTER(ptr)]),
        "es256_pk_from_ptr": (ctypes.c_int, [ptr, ctypes.c_void_p, ctypes.c_size_t]),
        "fido_dev_set_pin": (ctypes.c_int, [ptr, ctypes.c_char_p, ctypes.c_char_p]),
        "fido_credman_metadata_new": (ptr, []),
        "fido_credman_metadata_free": (None, [ctypes.POINTER(ptr)]),
        "fido_credman_get_dev_metadata": (ctypes.c_int, [ptr, ptr, ctypes.c_char_p]),
        "fido_credman_rk_existing": (ctypes.c_uint64, [ptr]),
        "fido_credman_rk_remaining": (ctypes.c_uint64, [ptr]),
        "fido_credman_rk_new": (ptr, []),
        "fido_credman_rk_free": (None, [ctypes.POINTER(ptr)]),
        "fido_credman_get_dev_rk": (ctypes.c_int, [ptr, ctypes.c_char_p, ptr, ctypes.c_char_p]),
        "fido_credman_rk_count": (ctypes.c_size_t, [ptr]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    lib.fido_init(0)
    return lib


class ReportConnection(Protocol):
    """An in-process or UDP connection: both have these three methods."""

    def write_packet(self, data: bytes) -> None: ...
    def read_report(self, timeout: float | None) -> bytes | None: ...
    def close(self) -> None: ...


class Libfido2Device:
    """A `fido_dev_t` whose HID I/O goes to an emulated key through `connect()`."""

    _handles = itertools.count(1)

    def __init__(self, lib: ctypes.CDLL, connect: Callable[[], ReportConnection]) -> None:
        self.lib = lib
        self.connect = connect
        self.connections: dict[int, ReportConnection] = {}
        self.writes: list[bytes] = []
        # The callbacks must stay referenced for as long as libfido2 may call them.
        self.io = FidoDevIo(
            OPEN(self._open), CLOSE(self._close), READ(self._read), WRITE(self._write)
        )
        self.dev = ctypes.c_void_p(lib.fido_dev_new())
        assert lib.fido_dev_set_io_functions(self.dev, ctypes.byref(self.io)) == FIDO_OK

    def _open(self, path: bytes) -> int:
        handle = next(self._handles)
        self.connections[handle] = self.connect()
        return handle

    def _close(self, handle: int) -> None:
        connection = self.connections.pop(handle, None)
        if connection is not None:
            connection.close()

    def _read(self, handle: int, buf: Any, length: int, ms: int) -> int:
        try:
            report = self.connections[handle].read_report(None if ms < 0 else ms / 1000)
        except (KeyError, OSError):  # DeviceDisconnected is an OSError
            return -1
        if report is None or length < len(report):
            return -1
        ctypes.memmove(buf, report, len(report))
        return len(report)

    def _write(self, handle: int, buf: Any, length: int) -> int:
        data = ctypes.string_at(buf, length)
        self.writes.append(data)
        if data[:1] != REPORT_ID:
            return -1
        try:
            self.connections[handle].write_packet(data[1:])
        except (KeyError, OSError):
            return -1
        return length

    def check(self, rc: int, what: str) -> None:
        assert rc == FIDO_OK, f"{what}: {self.lib.fido_strerr(rc).decode()} ({rc})"

    def open(self) -> None:
        self.check(self.lib.fido_dev_open(self.dev, b"tokenbench-emu"), "fido_dev_open")

    def close(self) -> None:
        self.lib.fido_dev_close(self.dev)
        self.lib.fido_dev_free(ctypes.byref(self.dev))


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return load_libfido2()


@pytest.fixture
def key() -> Iterator[EmulatedKey]:
    k = EmulatedKey.create(seed=7)
    yield k
    k.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["inproc", "udp"])
def device(request: Any, lib: ctypes.CDLL, key: EmulatedKey) -> Iterator[Libfido2Device]:
    """libfido2 on the in-process HID node, or on the UDP simulator port (real sockets)."""
    server = None
    if request.param == "inproc":
        dev = Libfido2Device(lib, lambda: key.hid.connect(read_timeout=None))
    else:
        reply = (LOOPBACK, free_udp_port())
        server = UdpKeyServer(key, (LOOPBACK, 0), reply, (LOOPBACK, 0)).start()
        address = server.address
        dev = Libfido2Device(lib, lambda: UdpHidConnection(address, reply, None))
    dev.open()
    yield dev
    dev.close()
    if server is not None:
        server.close()


def bytes_at(pointer: Any, length: int) -> bytes:
    return ctypes.string_at(pointer, length)


def make_credential(dev: Libfido2Device, pin: bytes | None = None, rk: bool = False) -> Any:
    lib = dev.lib
    cred = ctypes.c_void_p(lib.fido_cred_new())
    cdh = hashlib.sha256(b"libfido2 registration").digest()
    dev.check(lib.fido_cred_set_type(cred, COSE_ES256), "set_type")
    dev.check(lib.fido_cred_set_clientdata_hash(cred, cdh, len(cdh)), "set_cdh")
    dev.check(lib.fido_cred_set_rp(cred, RP_ID, b"Example"), "set_rp")
    dev.check(lib.fido_cred_set_user(cred, b"user-1", 6, b"alice", b"Alice", None), "set_user")
    if rk:
        dev.check(lib.fido_cred_set_rk(cred, FIDO_OPT_TRUE), "set_rk")
    dev.check(lib.fido_dev_make_cred(dev.dev, cred, pin), "fido_dev_make_cred")
    return cred


def test_get_cbor_info_reports_versions_and_aaguid(
    device: Libfido2Device, key: EmulatedKey
) -> None:
    lib = device.lib
    assert lib.fido_dev_is_fido2(device.dev)
    info = ctypes.c_void_p(lib.fido_cbor_info_new())
    device.check(lib.fido_dev_get_cbor_info(device.dev, info), "get_cbor_info")
    versions_ptr = lib.fido_cbor_info_versions_ptr(info)
    versions = {versions_ptr[i].decode() for i in range(lib.fido_cbor_info_versions_len(info))}
    assert versions == set(key.profile.versions)
    aaguid = bytes_at(lib.fido_cbor_info_aaguid_ptr(info), lib.fido_cbor_info_aaguid_len(info))
    assert aaguid == key.profile.aaguid
    lib.fido_cbor_info_free(ctypes.byref(info))
    # every write libfido2 made carried the report-ID byte and one 64-byte report
    assert device.writes and all(len(w) == 65 and w[0] == 0 for w in device.writes)


def test_make_credential_and_assertion_verify_in_libfido2(device: Libfido2Device) -> None:
    lib = device.lib
    cred = make_credential(device)
    assert lib.fido_cred_fmt(cred) == b"packed"
    assert lib.fido_cred_x5c_len(cred) > 0
    device.check(lib.fido_cred_verify(cred), "fido_cred_verify (packed x5c signature)")
    cred_id = bytes_at(lib.fido_cred_id_ptr(cred), lib.fido_cred_id_len(cred))
    pubkey = bytes_at(lib.fido_cred_pubkey_ptr(cred), lib.fido_cred_pubkey_len(cred))

    pk = ctypes.c_void_p(lib.es256_pk_new())
    device.check(lib.es256_pk_from_ptr(pk, pubkey, len(pubkey)), "es256_pk_from_ptr")
    counts = []
    for round_ in range(2):
        assertion = ctypes.c_void_p(lib.fido_assert_new())
        cdh = hashlib.sha256(b"libfido2 login %d" % round_).digest()
        device.check(lib.fido_assert_set_clientdata_hash(assertion, cdh, len(cdh)), "cdh")
        device.check(lib.fido_assert_set_rp(assertion, RP_ID), "rp")
        device.check(lib.fido_assert_allow_cred(assertion, cred_id, len(cred_id)), "allow")
        device.check(lib.fido_dev_get_assert(device.dev, assertion, None), "fido_dev_get_assert")
        assert lib.fido_assert_count(assertion) == 1
        device.check(lib.fido_assert_verify(assertion, 0, COSE_ES256, pk), "fido_assert_verify")
        counts.append(lib.fido_assert_sigcount(assertion, 0))
        lib.fido_assert_free(ctypes.byref(assertion))
    assert counts[1] > counts[0]
    lib.es256_pk_free(ctypes.byref(pk))
    lib.fido_cred_free(ctypes.byref(cred))


def test_bad_signature_fault_is_caught_by_libfido2(lib: ctypes.CDLL) -> None:
    with EmulatedKey.create(seed=8, faults="bad-signature") as key:
        dev = Libfido2Device(lib, lambda: key.hid.connect(read_timeout=None))
        dev.open()
        try:
            cred = make_credential(dev)
            assert lib.fido_cred_verify(cred) == FIDO_ERR_INVALID_SIG
            lib.fido_cred_free(ctypes.byref(cred))
        finally:
            dev.close()


def test_set_pin_then_credential_management(device: Libfido2Device) -> None:
    lib = device.lib
    pin = b"4321"
    device.check(lib.fido_dev_set_pin(device.dev, pin, None), "fido_dev_set_pin")
    # with a PIN set, libfido2 uses a pinUvAuthToken for makeCredential
    cred = make_credential(device, pin=pin, rk=True)
    device.check(lib.fido_cred_verify(cred), "fido_cred_verify")
    lib.fido_cred_free(ctypes.byref(cred))

    metadata = ctypes.c_void_p(lib.fido_credman_metadata_new())
    rc = lib.fido_credman_get_dev_metadata(device.dev, metadata, b"9999")
    assert rc == FIDO_ERR_PIN_INVALID
    device.check(lib.fido_credman_get_dev_metadata(device.dev, metadata, pin), "metadata")
    assert lib.fido_credman_rk_existing(metadata) == 1
    assert lib.fido_credman_rk_remaining(metadata) > 0
    lib.fido_credman_metadata_free(ctypes.byref(metadata))

    rk = ctypes.c_void_p(lib.fido_credman_rk_new())
    device.check(lib.fido_credman_get_dev_rk(device.dev, RP_ID, rk, pin), "get_dev_rk")
    assert lib.fido_credman_rk_count(rk) == 1
    lib.fido_credman_rk_free(ctypes.byref(rk))
