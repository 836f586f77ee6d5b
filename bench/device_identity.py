"""Which device a run tested: AAGUID, model, versions, firmware, USB and reader identity.

A lab comparing keys or firmware versions must be able to tell from a report which key
answered. This is read once per target, before its first test, with requests that change
nothing on the key (CTAPHID INIT, authenticatorGetInfo, U2F VERSION, USB descriptors the
host already holds). Whatever cannot be read is noted in `errors`, never raised: a key
that garbles getInfo is still tested (and its tests say how it fails).

`FIELDS` is the one table of what an identity holds: the key in results.json and in the
JUnit `<properties>`, and the label in the HTML report's header block.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fido2 import cbor
from fido2.ctap import CtapDevice
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Info
from fido2.hid import CAPABILITY, CTAPHID, CtapHidDevice

from tokenbench.bench.errors import UserError

if TYPE_CHECKING:
    from tokenbench.bench.targets import Target

DISTRIBUTION = "tokenbench"
GET_INFO = 0x04  # authenticatorGetInfo (CTAP 2.1 §6.4)
CTAP_OK = 0x00

FIELDS: tuple[tuple[str, str], ...] = (
    ("target", "target"),
    ("aaguid", "AAGUID"),
    ("model", "model (MDS3)"),
    ("model_source", "model source"),
    ("versions", "versions"),
    ("firmware_version", "firmwareVersion"),
    ("transports", "transports"),
    ("vid", "USB VID"),
    ("pid", "USB PID"),
    ("product", "product"),
    ("serial", "serial"),
    ("ctaphid_version", "CTAPHID device version"),
    ("reader", "PC/SC reader"),
    ("atr", "ATR"),
    ("totp_serials", "TOTP token serials"),
    ("get_info_hex", "getInfo (CBOR, hex)"),
    ("tokenbench_version", "tokenbench"),
    ("errors", "not readable"),
)
"""(results.json / JUnit key, HTML label) for every member, in the order reports show them."""
ONE_LINE_KEYS = frozenset(
    {"aaguid", "model", "versions", "firmware_version", "product", "serial", "totp_serials"}
)
"""What the console shows per target: enough to tell two keys or firmware versions apart."""


def tokenbench_version() -> str:
    """The installed distribution's version (a bare source tree has none)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


@dataclass
class DeviceIdentity:
    target: str
    tokenbench_version: str = field(default_factory=tokenbench_version)
    aaguid: str | None = None
    model: str | None = None
    model_source: str | None = None
    versions: list[str] = field(default_factory=list)
    firmware_version: int | None = None
    transports: list[str] = field(default_factory=list)
    vid: str | None = None
    pid: str | None = None
    product: str | None = None
    serial: str | None = None
    ctaphid_version: str | None = None
    reader: str | None = None
    atr: str | None = None
    totp_serials: list[str] = field(default_factory=list)
    get_info_hex: str | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MdsSource:
    """An MDS3 blob or statement file to name the model by AAGUID (`bench run --mds`)."""

    path: Path
    root: Path | None = None


def shown(identity: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, label, text) for each member that holds something, in `FIELDS` order."""
    rows = []
    for key, label in FIELDS:
        value = identity.get(key)
        if value in (None, [], ""):
            continue
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        rows.append((key, label, text))
    return rows


def one_line(identity: dict[str, Any]) -> str:
    """A console line: enough to tell two keys (or two firmware versions) apart."""
    parts = [f"{label} {text}" for key, label, text in shown(identity) if key in ONE_LINE_KEYS]
    if identity.get("errors"):
        parts.append(f"{len(identity['errors'])} item(s) not readable")
    return "; ".join(parts) or "no identity read"


def unavailable(uri: str, why: str) -> dict[str, Any]:
    """The identity of a target that could not be reached at all."""
    return DeviceIdentity(uri, errors=[why]).to_dict()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def gather(target: Target, mds: MdsSource | None = None) -> DeviceIdentity:
    """Read the target's identity; never raises for a device that misbehaves."""
    from tokenbench.bench.targets import KeyTarget
    from tokenbench.bench.targets_totp import TotpTarget

    identity = DeviceIdentity(target.uri)
    try:
        if isinstance(target, KeyTarget):
            _read_key(identity, target.device(), mds)
        elif isinstance(target, TotpTarget):
            identity.totp_serials = [token.serial for token in target.tokens()]
    except UserError as exc:
        identity.errors.append(f"device: {exc}")
    except Exception as exc:  # a key may fail in any way; that is what the tests are for
        identity.errors.append(f"device: {_first_line(exc)}")
    return identity


def _read_key(identity: DeviceIdentity, device: CtapDevice, mds: MdsSource | None) -> None:
    if isinstance(device, CtapHidDevice):
        descriptor = device.descriptor
        identity.vid, identity.pid = f"{descriptor.vid:04x}", f"{descriptor.pid:04x}"
        identity.product = descriptor.product_name
        identity.serial = descriptor.serial_number
        identity.ctaphid_version = ".".join(str(n) for n in device.device_version)
    else:  # CtapPcscDevice keeps the reader's name only privately (it shows it in repr)
        identity.reader = getattr(device, "_name", None)
        with contextlib.suppress(Exception):
            identity.atr = device.get_atr().hex()  # type: ignore[attr-defined]
    if device.capabilities & CAPABILITY.CBOR:
        _read_info(identity, device, mds)
    else:
        identity.errors.append("getInfo: not offered (no CBOR capability: a U2F-only key)")
    if not identity.versions:
        _read_u2f_version(identity, device)


def _read_info(identity: DeviceIdentity, device: CtapDevice, mds: MdsSource | None) -> None:
    try:
        response = device.call(CTAPHID.CBOR, bytes([GET_INFO]))
        if not response or response[0] != CTAP_OK:
            status = f"0x{response[0]:02x}" if response else "empty"
            identity.errors.append(f"getInfo: status {status}")
            return
        identity.get_info_hex = response[1:].hex()
        decoded = cbor.decode(response[1:])
        if not isinstance(decoded, Mapping):
            identity.errors.append("getInfo: the response is not a CBOR map")
            return
        info = Info.from_dict(decoded)
    except Exception as exc:  # malformed CBOR, a timeout, a transport error
        identity.errors.append(f"getInfo: {_first_line(exc)}")
        return
    identity.aaguid = str(info.aaguid)
    identity.versions = list(info.versions)
    identity.firmware_version = info.firmware_version
    identity.transports = list(info.transports)
    if mds is not None:
        _name_model(identity, info, mds)


def _name_model(identity: DeviceIdentity, info: Info, mds: MdsSource) -> None:
    from tokenbench.bench.keytools.mds import lookup

    try:
        found = lookup(info.aaguid, mds.path, mds.root)
    except UserError as exc:
        identity.errors.append(f"model: {exc}")
        return
    identity.model, identity.model_source = found.description, found.source


def _read_u2f_version(identity: DeviceIdentity, device: CtapDevice) -> None:
    try:
        identity.versions = [Ctap1(device).get_version()]
    except Exception as exc:  # ApduError, CtapError and transport errors of every kind
        identity.errors.append(f"U2F version: {_first_line(exc)}")
