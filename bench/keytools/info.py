"""authenticatorGetInfo, decoded and explained for a person at the bench.

The meanings are one line each, condensed from CTAP 2.1 §6.4 (options) and §12 (extensions)
here, and from the member table (`getinfo_members`) for the members themselves, so that
`tokenbench key info` says what a key can do without the reader having the spec open. Values
come straight from python-fido2's `Info`; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fido2.cose import CoseKey
from fido2.ctap2 import Info

from tokenbench.emulators.ctap.getinfo_members import CTAP21_LAST_KEY, INFO_MEMBERS, InfoMember

OPTION_MEANINGS: dict[str, str] = {
    "plat": "platform authenticator (built into the client device), not a roaming key",
    "rk": "can store discoverable (resident) credentials",
    "clientPin": "a PIN can be set (true: set, false: supported but not set yet)",
    "up": "can test user presence (a touch)",
    "uv": "has built-in user verification, e.g. fingerprint (true: configured)",
    "pinUvAuthToken": "supports pinUvAuthToken with permissions (CTAP 2.1 tokens)",
    "uvToken": "issues a pinUvAuthToken after built-in UV (no PIN typed)",
    "noMcGaPermissionsWithClientPin": "a PIN token cannot be used for makeCredential/getAssertion",
    "largeBlobs": "supports the authenticatorLargeBlobs store",
    "ep": "enterprise attestation (true: enabled, false: supported, disabled)",
    "bioEnroll": "supports biometric enrollment (true: a template is enrolled)",
    "userVerificationMgmtPreview": "prototype biometric enrollment (FIDO_2_1_PRE)",
    "uvBioEnroll": "a UV token may carry the bioEnroll permission",
    "authnrCfg": "supports authenticatorConfig (alwaysUv, minimum PIN length, ...)",
    "uvAcfg": "a UV token may carry the authenticatorConfig permission",
    "credMgmt": "supports credential management (list/delete discoverable credentials)",
    "credentialMgmtPreview": "prototype credential management (FIDO_2_1_PRE)",
    "setMinPINLength": "the minimum PIN length can be raised",
    "makeCredUvNotRqd": "makeCredential without UV is allowed for non-discoverable credentials",
    "alwaysUv": "every operation requires user verification (true: switched on)",
    "perCredMgmtRO": "read-only credential management with a persistent token",
}

EXTENSION_MEANINGS: dict[str, str] = {
    "credProtect": "per-credential protection level (UV needed to use or discover it)",
    "hmac-secret": "derives a per-credential symmetric secret (e.g. disk unlock, PRF)",
    "hmac-secret-mc": "hmac-secret output already at makeCredential",
    "largeBlobKey": "per-credential key for the large-blob store",
    "credBlob": "a small opaque blob stored with a credential",
    "minPinLength": "tells selected RPs the minimum PIN length",
    "uvm": "reports which user-verification method was used",
    "thirdPartyPayment": "credential usable for payments in a third-party context",
}

VERSION_MEANINGS: dict[str, str] = {
    "U2F_V2": "CTAP1/U2F",
    "FIDO_2_0": "CTAP 2.0",
    "FIDO_2_1_PRE": "CTAP 2.1 preview commands",
    "FIDO_2_1": "CTAP 2.1",
    "FIDO_2_2": "CTAP 2.2",
    "FIDO_2_3": "CTAP 2.3",
}

UV_MODALITY_NAMES: dict[int, str] = {
    0x001: "presence",
    0x002: "fingerprint",
    0x004: "passcode",
    0x008: "voiceprint",
    0x010: "faceprint",
    0x020: "location",
    0x040: "eyeprint",
    0x080: "pattern",
    0x100: "handprint",
    0x200: "none",
    0x400: "all",
}
"""uvModality's bits: the FIDO registry's USER_VERIFY_* methods (the _INTERNAL/_EXTERNAL pairs
above 0x400 are shown as numbers)."""

PIN_PROTOCOL_MEANINGS: dict[int, str] = {
    1: "protocol 1 (AES-256-CBC, HMAC-SHA-256 truncated to 16 bytes)",
    2: "protocol 2 (HKDF, AES-256-CBC with random IV, full HMAC; FIPS-friendly)",
}


def algorithm_name(alg: int) -> str:
    """COSE algorithm identifier -> its name (python-fido2's table), or the number."""
    cls = CoseKey.for_alg(alg)
    return cls.__name__ if cls is not CoseKey else f"COSE {alg}"


@dataclass
class KeyReport:
    """What `key info` shows: getInfo explained, plus retries and credential counts."""

    info: dict[str, Any]
    pin_retries: int | None = None
    power_cycle_required: bool | None = None
    uv_retries: int | None = None
    credentials: dict[str, int] | None = None
    model: str | None = None
    model_source: str | None = None
    notes: list[str] = field(default_factory=list)


OWN_SECTIONS = frozenset(
    {"versions", "extensions", "aaguid", "options", "pin_uv_protocols", "transports", "algorithms"}
)
"""Members `key info` explains item by item; the others are plain values listed from the table."""
PLAIN_MEMBERS = tuple(m for m in INFO_MEMBERS if m.fido2_name not in OWN_SECTIONS)
LEGACY_JSON_KEYS = {"remaining_disc_creds": "remaining_discoverable_credentials"}
"""`key info --json` keys older than the table (scripts read them); the rest are fido2's names."""


def json_key(member: InfoMember) -> str:
    """The key under which `key info --json` reports a plain member."""
    return LEGACY_JSON_KEYS.get(member.fido2_name, member.fido2_name)


def explain(info: Info) -> dict[str, Any]:
    """getInfo as JSON-friendly data, each item with its meaning."""
    explained: dict[str, Any] = {
        "versions": [
            {"name": v, "meaning": VERSION_MEANINGS.get(v, "unknown version")}
            for v in info.versions
        ],
        "extensions": [
            {"name": e, "meaning": EXTENSION_MEANINGS.get(e, "vendor or unknown extension")}
            for e in info.extensions
        ],
        "aaguid": str(info.aaguid),
        "options": [
            {"name": k, "value": v, "meaning": OPTION_MEANINGS.get(k, "unknown option")}
            for k, v in info.options.items()
        ],
        "pin_uv_protocols": [
            {"version": p, "meaning": PIN_PROTOCOL_MEANINGS.get(p, "unknown protocol")}
            for p in info.pin_uv_protocols
        ],
        "transports": list(info.transports),
        "algorithms": [
            {"type": a.get("type"), "alg": a.get("alg"), "name": algorithm_name(a.get("alg", 0))}
            for a in info.algorithms
        ],
    }
    for member in PLAIN_MEMBERS:
        explained[json_key(member)] = _json_value(getattr(info, member.fido2_name))
    return explained


def _json_value(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else value


_UNREPORTED = explain(Info(versions=[]))
"""What python-fido2 makes of members a key leaves out (its defaults), in `explain`'s form."""


def _shown(member: InfoMember, value: object) -> bool:
    """CTAP 2.1's plain numbers and flags always (a "-" says the key left it out); lists, maps
    and later members only when the key said something python-fido2 would not assume."""
    absent = _UNREPORTED[json_key(member)]
    always = member.key <= CTAP21_LAST_KEY and not isinstance(absent, list | dict)
    return always or value != absent


def _value_text(member: InfoMember, value: object) -> str:
    """The value as `key info` prints it: "-" where it says nothing (absent, or zero where
    python-fido2 turns an absent member into zero), bytes by what they hold."""
    absent = _UNREPORTED[json_key(member)]
    if value is None or (value == absent and not absent and not isinstance(value, bool)):
        return "-"
    if member.binary and isinstance(value, str):
        return _bytes_text(bytes.fromhex(value))
    if isinstance(value, bool):
        return str(value).lower()
    if member.fido2_name == "uv_modality" and isinstance(value, int):
        return uv_modality_text(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def uv_modality_text(flags: int) -> str:
    """`0x2 (fingerprint)`: the bit flags with the names of the methods they stand for."""
    names = [name for bit, name in UV_MODALITY_NAMES.items() if flags & bit]
    rest = flags & ~sum(UV_MODALITY_NAMES)
    if rest:
        names.append(f"0x{rest:x}")
    return f"0x{flags:x} ({', '.join(names)})"


def _bytes_text(data: bytes) -> str:
    """A URL as text; anything else (encrypted identifiers, states) only by its size."""
    text = data.decode("ascii", errors="replace")
    return text if data.isascii() and text.isprintable() else f"{len(data)} bytes"


def _line(name: str, value: object, meaning: str = "") -> str:
    text = f"  {name:<32} {value}"
    return f"{text:<56} {meaning}".rstrip() if meaning else text


def render(report: KeyReport) -> str:
    """The human-readable `key info` text."""
    info = report.info
    out = [f"AAGUID: {info['aaguid']}"]
    if report.model:
        out.append(f"Model:  {report.model} ({report.model_source})")
    out.append("Versions:")
    out += [_line(v["name"], "", v["meaning"]) for v in info["versions"]]
    out.append("Extensions:" if info["extensions"] else "Extensions: none")
    out += [_line(e["name"], "", e["meaning"]) for e in info["extensions"]]
    out.append("Options:")
    out += [_line(o["name"], str(o["value"]).lower(), o["meaning"]) for o in info["options"]]
    out.append("PIN/UV auth protocols:")
    out += [_line(str(p["version"]), "", p["meaning"]) for p in info["pin_uv_protocols"]]
    algorithms = ", ".join(f"{a['name']} ({a['alg']})" for a in info["algorithms"])
    out.append(f"Algorithms: {algorithms or 'not reported (ES256 assumed by CTAP 2.0)'}")
    out.append(f"Transports: {', '.join(info['transports']) or 'not reported'}")
    out.append("Limits and other members:")
    for member in PLAIN_MEMBERS:
        value = info[json_key(member)]
        if _shown(member, value):
            out.append(_line(member.name, _value_text(member, value), member.meaning))
    if report.pin_retries is not None:
        suffix = " (power-cycle the key before the next try)" if report.power_cycle_required else ""
        out.append(f"PIN retries left: {report.pin_retries}{suffix}")
    if report.uv_retries is not None:
        out.append(f"UV retries left: {report.uv_retries}")
    if report.credentials is not None:
        out.append(
            f"Discoverable credentials: {report.credentials['existing']} stored, "
            f"room for about {report.credentials['remaining']} more"
        )
    out += [f"Note: {n}" for n in report.notes]
    return "\n".join(out)
