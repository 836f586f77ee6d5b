"""The members of an authenticatorGetInfo response (CTAP 2.1 §6.4, and later ones), in one table.

`InfoValues` is the table: one attribute per member, named as python-fido2's `Info` names it,
carrying the member's CTAP key, its CTAP/MDS3 JSON name and a one-line meaning. Everything that
speaks getInfo reads it: the emulator encodes its response with `encode_info`, a captured
response is decoded with `decode_info` (CBOR, or JSON under either name), the metadata statement
names members with `json_name`, and `key info` explains them. A new member is one line here.

Standard library and fido2 only: the authenticator and the bench both import this module.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from fido2 import cbor
from fido2.cbor import CborType

CTAP21_LAST_KEY = 0x15
"""CTAP 2.1 defines members 0x01..0x15; the later ones come from CTAP 2.2 and 2.3."""


class _Row(NamedTuple):
    key: int
    name: str
    meaning: str
    profile_attr: str | None


_ROW = "getinfo"


def _member(key: int, name: str, meaning: str, *, profile_attr: str | None = None) -> Any:
    """An `InfoValues` attribute (absent, None, unless given) with its row of the table.

    Typed `Any` as field specifiers are (`dataclasses.field` too, in effect): what a caller
    assigns is checked against the attribute's annotation, never against this return type.
    """
    return field(default=None, metadata={_ROW: _Row(key, name, meaning, profile_attr)})


@dataclass(frozen=True, kw_only=True)
class InfoValues:
    """What a key says in getInfo, member by member; None leaves a member out.

    Values are what goes on the wire (sequences and maps may be tuples or any Mapping: the
    encoder copies them into lists and dicts). A `profile_attr` names the `DeviceProfile` count
    a captured non-negative integer is copied into as is (see `DeviceProfile.from_getinfo`).
    """

    versions: Sequence[str] | None = _member(0x01, "versions", "protocol versions it speaks")
    extensions: Sequence[str] | None = _member(0x02, "extensions", "extensions it implements")
    aaguid: bytes | None = _member(
        0x03, "aaguid", "model identifier (Authenticator Attestation GUID)"
    )
    options: Mapping[str, bool] | None = _member(0x04, "options", "features and their state")
    max_msg_size: int | None = _member(
        0x05, "maxMsgSize", "largest CTAP message, bytes", profile_attr="max_msg_size"
    )
    pin_uv_protocols: Sequence[int] | None = _member(
        0x06, "pinUvAuthProtocols", "PIN/UV auth protocols, most preferred first"
    )
    max_creds_in_list: int | None = _member(
        0x07,
        "maxCredentialCountInList",
        "most credential IDs in one allow or exclude list",
        profile_attr="max_credential_count_in_list",
    )
    max_cred_id_length: int | None = _member(
        0x08, "maxCredentialIdLength", "longest credential ID accepted in a list, bytes"
    )
    transports: Sequence[str] | None = _member(0x09, "transports", "transports it can use")
    algorithms: Sequence[Mapping[str, CborType]] | None = _member(
        0x0A, "algorithms", "signature algorithms for new credentials, most preferred first"
    )
    max_large_blob: int | None = _member(
        0x0B,
        "maxSerializedLargeBlobArray",
        "size of the large-blob store, bytes",
        profile_attr="max_serialized_large_blob_array",
    )
    force_pin_change: bool | None = _member(
        0x0C, "forcePINChange", "the PIN must be changed before it can be used"
    )
    min_pin_length: int | None = _member(
        0x0D, "minPINLength", "shortest PIN accepted now, code points"
    )
    firmware_version: int | None = _member(
        0x0E,
        "firmwareVersion",
        "firmware version (vendor's numbering)",
        profile_attr="firmware_version",
    )
    max_cred_blob_length: int | None = _member(0x0F, "maxCredBlobLength", "largest credBlob, bytes")
    max_rpids_for_min_pin: int | None = _member(
        0x10,
        "maxRPIDsForSetMinPINLength",
        "most RP IDs setMinPINLength can let see the minimum PIN length",
        profile_attr="max_rpids_for_set_min_pin_length",
    )
    preferred_platform_uv_attempts: int | None = _member(
        0x11,
        "preferredPlatformUvAttempts",
        "built-in UV tries before the platform asks for the PIN",
    )
    uv_modality: int | None = _member(
        0x12, "uvModality", "built-in user verification methods (FIDO registry bit flags)"
    )
    certifications: Mapping[str, int] | None = _member(
        0x13, "certifications", "certifications claimed, with their levels"
    )
    remaining_disc_creds: int | None = _member(
        0x14,
        "remainingDiscoverableCredentials",
        "discoverable credentials that still fit (estimate)",
        profile_attr="max_resident_credentials",
    )
    vendor_prototype_config_commands: Sequence[int] | None = _member(
        0x15, "vendorPrototypeConfigCommands", "vendor prototype authenticatorConfig subcommands"
    )
    attestation_formats: Sequence[str] | None = _member(
        0x16, "attestationFormats", "attestation statement formats, most preferred first"
    )
    uv_count_since_pin: int | None = _member(
        0x17, "uvCountSinceLastPinEntry", "built-in UV uses since the PIN was last entered"
    )
    long_touch_for_reset: bool | None = _member(
        0x18, "longTouchForReset", "authenticatorReset needs a long touch"
    )
    enc_identifier: bytes | None = _member(
        0x19, "encIdentifier", "device identifier, encrypted to a persistent PIN/UV token"
    )
    transports_for_reset: Sequence[str] | None = _member(
        0x1A, "transportsForReset", "transports authenticatorReset is accepted over"
    )
    pin_complexity_policy: bool | None = _member(
        0x1B, "pinComplexityPolicy", "a PIN policy beyond the minimum length is enforced"
    )
    pin_complexity_policy_url: bytes | None = _member(
        0x1C, "pinComplexityPolicyURL", "where the PIN complexity policy is described"
    )
    max_pin_length: int | None = _member(0x1D, "maxPINLength", "longest PIN accepted, code points")
    enc_cred_store_state: bytes | None = _member(
        0x1E, "encCredStoreState", "credential store state, encrypted to a persistent token"
    )
    authenticator_config_commands: Sequence[int] | None = _member(
        0x1F, "authenticatorConfigCommands", "authenticatorConfig subcommands it implements"
    )


@dataclass(frozen=True)
class InfoMember:
    """One getInfo member: its key, both of its names, and what it means."""

    key: int
    name: str
    """The CTAP and MDS3 JSON name, e.g. "maxMsgSize"."""
    fido2_name: str
    """python-fido2's `Info` attribute (and `InfoValues`'), e.g. "max_msg_size"."""
    meaning: str
    """One line for a person, condensed from the spec (`key info` prints it)."""
    profile_attr: str | None = None
    """The `DeviceProfile` attribute a captured count is copied into, if any."""
    binary: bool = False
    """A byte string: hex in JSON (the MDS3 convention), bytes in CBOR."""


def _table() -> tuple[InfoMember, ...]:
    hints = typing.get_type_hints(InfoValues)
    members = []
    for f in fields(InfoValues):
        row: _Row = f.metadata[_ROW]
        binary = hints[f.name] == bytes | None
        members.append(InfoMember(row.key, row.name, f.name, row.meaning, row.profile_attr, binary))
    keys = [m.key for m in members]
    if keys != sorted(set(keys)):
        raise AssertionError("InfoValues must list getInfo members once each, by ascending key")
    return tuple(members)


INFO_MEMBERS: tuple[InfoMember, ...] = _table()
"""Every member, by ascending key: the order `encode_info` emits them in."""
MEMBERS_BY_KEY: Mapping[int, InfoMember] = {m.key: m for m in INFO_MEMBERS}
MEMBERS_BY_NAME: Mapping[str, InfoMember] = {
    **{m.fido2_name: m for m in INFO_MEMBERS},
    **{m.name: m for m in INFO_MEMBERS},
}
"""Both spellings: captured JSON comes from WebAuthn/MDS3 tools or from python-fido2."""


def encode_info(values: InfoValues) -> dict[int, CborType]:
    """The getInfo response map: members by ascending key, absent (None) ones left out.

    Sequences and maps are copied into plain lists and dicts, so the caller's profile stays
    untouched by whoever edits the map and `cbor.encode` sees only CBOR types.
    """
    out: dict[int, CborType] = {}
    for member in INFO_MEMBERS:
        value = getattr(values, member.fido2_name)
        if value is not None:
            out[member.key] = _plain(value)
    return out


def _plain(value: CborType) -> CborType:
    if isinstance(value, str | bytes | int):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


def decode_info(data: bytes | str | Mapping[Any, object]) -> dict[int, object]:
    """A captured getInfo response as a map keyed by member number.

    `data` is the CBOR map (bytes, with or without a leading 0x00 status byte), a JSON text, or
    an already decoded map; keys are member numbers (integers, or digit strings as JSON must
    write them) or member names in either spelling. Unknown names are skipped, unknown numbers
    kept (other keys are dropped); byte-string members given as hex text (JSON) become bytes.
    Values are otherwise as found: the caller checks each one it uses. Raises ValueError.
    """
    decoded = _parse(data)
    if not isinstance(decoded, Mapping):
        raise ValueError("getInfo must be a map")
    out: dict[int, object] = {}
    for key, value in decoded.items():
        number = _member_number(key)
        if number is None:
            continue
        member = MEMBERS_BY_KEY.get(number)
        if member is not None and member.binary and isinstance(value, str):
            value = _hex_bytes(member, value)
        out[number] = value
    return out


def _parse(data: bytes | str | Mapping[Any, object]) -> object:
    if isinstance(data, bytes):
        if data[:1] == b"\x00":
            data = data[1:]
        try:
            return cbor.decode(data)
        except Exception as e:  # fido2.cbor raises several types on bad input
            raise ValueError(f"getInfo is not valid CBOR ({e.__class__.__name__})") from None
    if isinstance(data, str):
        try:
            return json.loads(data)
        except json.JSONDecodeError as e:
            raise ValueError(f"getInfo is not valid JSON ({e.msg})") from None
    return data


def _member_number(key: object) -> int | None:
    if isinstance(key, str):
        if key.isdecimal():
            return int(key)
        member = MEMBERS_BY_NAME.get(key)
        return None if member is None else member.key
    return key if isinstance(key, int) and not isinstance(key, bool) else None


def _hex_bytes(member: InfoMember, text: str) -> bytes:
    try:
        return bytes.fromhex(text.replace("-", ""))  # an AAGUID may come as a UUID string
    except ValueError:
        raise ValueError(f"getInfo {member.name} is not hex") from None


@dataclass(frozen=True)
class CapturedInfo:
    """A real key's getInfo as found (`decode_info`): values unchecked, read by member name."""

    members: Mapping[int, object]

    def get(self, name: str) -> object:
        """The value of member `name` (either spelling), None if absent; KeyError for a name
        the table does not have, so a typo fails at once instead of reading nothing."""
        return self.members.get(MEMBERS_BY_NAME[name].key)


def json_name(key: int) -> str | None:
    """The CTAP/MDS3 JSON name of member `key`, None for a member this table does not know."""
    member = MEMBERS_BY_KEY.get(key)
    return None if member is None else member.name
