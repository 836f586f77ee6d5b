"""Device profiles: which model the emulated key pretends to be.

A profile fixes what getInfo says and which commands exist. Named profiles cover the common
cases; `DeviceProfile.from_getinfo` takes a getInfo captured from a real key so the emulator
stands in for that model.

What happens to claims of a captured getInfo that this emulator cannot honour:
- versions: kept verbatim (so clients see the same list), but behaviour is CTAP 2.1 whenever
  FIDO_2_1 or FIDO_2_1_PRE (or a later FIDO_2_x) is listed, CTAP 2.0 otherwise; U2F only if
  U2F_V2 is listed.
- extensions: only the CTAP 2.1 ones implemented here are kept (credProtect, hmac-secret,
  credBlob, largeBlobKey, minPinLength); the rest are dropped and listed in `profile.dropped`
  (CTAP 2.2's hmac-secret-mc and thirdPartyPayment too, for now: the `ctap22` profile has them,
  and keeping them here would change the pinned getInfo of captured 2.2/2.3 keys).
- options: built-in user verification ("uv", "bioEnroll", "uvBioEnroll", "uvToken",
  "noMcGaPermissionsWithClientPin", "uvAcfg") cannot be emulated and is dropped; "plat" is
  forced to False; "perCredMgmtRO" is dropped (as above); unknown options are dropped.
  clientPin, alwaysUv and ep are kept as *capabilities*: their values are live (from the
  key's state).
- algorithms: those of cose_algorithms.py are kept (ES256, EdDSA, ES384, ES512, ES256K, RS256,
  PS256, ML-DSA-44/65/87); others are dropped.
- everything else (AAGUID, maxMsgSize, PIN/UV protocols out of {1, 2}, list and ID limits,
  transports, firmware version, large-blob size, credBlob length, minPinLength RP ID limit,
  remaining discoverable credentials as capacity) is copied as is.

A verbatim profile (`from_getinfo(..., verbatim=True)`, or `emu:profile=verbatim:FILE`) behaves
the same but answers getInfo byte for byte as captured, the live members kept current: for
clients and suites that recognise a model by its getInfo. `emu:profile=captured:FILE` is the
honest one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

from fido2 import cbor

from tokenbench.emulators.ctap.attestation import DEFAULT_AAGUID
from tokenbench.emulators.ctap.constants import CoseAlg, Ext, Version
from tokenbench.emulators.ctap.cose_algorithms import SIGNING_ALGORITHMS
from tokenbench.emulators.ctap.credentials import MAX_CRED_BLOB, MAX_CRED_ID_LEN
from tokenbench.emulators.ctap.getinfo_members import (
    INFO_MEMBERS,
    MEMBERS_BY_NAME,
    CapturedInfo,
    decode_info,
)

SUPPORTED_EXTENSIONS = (
    Ext.CRED_PROTECT,
    Ext.HMAC_SECRET,
    Ext.CRED_BLOB,
    Ext.LARGE_BLOB_KEY,
    Ext.MIN_PIN_LENGTH,
)
CTAP22_EXTENSIONS = (*SUPPORTED_EXTENSIONS, Ext.HMAC_SECRET_MC, Ext.THIRD_PARTY_PAYMENT)
"""Every CTAP extension the core implements; `default` lists only the CTAP 2.1 ones. The draft
previewSign (preview_sign.py) is claimed by the `ctap22` profile alone."""
DEFAULT_ALGS = (int(CoseAlg.ES256), int(CoseAlg.EDDSA))
STATIC_OPTIONS = (
    "rk",
    "up",
    "plat",
    "credMgmt",
    "credentialMgmtPreview",
    "largeBlobs",
    "authnrCfg",
    "pinUvAuthToken",
    "setMinPINLength",
    "makeCredUvNotRqd",
)
LIVE_OPTIONS = ("clientPin", "alwaysUv", "ep")
ATTESTATION_MODES = ("batch", "self", "none")


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    model: str
    aaguid: bytes = DEFAULT_AAGUID
    versions: tuple[str, ...] = (Version.U2F_V2, Version.FIDO_2_0, Version.FIDO_2_1)
    """In deployed keys' order: U2F_V2 first, then the FIDO versions ascending (every capture
    in tests/data/getinfo/, YubiKey 5, SoloKeys, Nitrokey 3)."""
    extensions: tuple[str, ...] = SUPPORTED_EXTENSIONS
    options: dict[str, bool] = field(default_factory=dict)
    """Static getInfo options; clientPin/alwaysUv/ep present here mean 'supported'."""
    max_msg_size: int = 1200
    pin_uv_auth_protocols: tuple[int, ...] = (2, 1)
    max_credential_count_in_list: int = 8
    max_credential_id_length: int = MAX_CRED_ID_LEN
    transports: tuple[str, ...] = ("nfc", "usb")
    """Both, as a YubiKey 5 NFC lists them: the emulated key is reachable over USB HID and as
    an NFC card (vpcd). CTAP 2.1 §6.4: the transports the authenticator supports."""
    algorithms: tuple[int, ...] = DEFAULT_ALGS
    max_serialized_large_blob_array: int = 1024
    firmware_version: int = 1
    max_cred_blob_length: int = MAX_CRED_BLOB
    max_rpids_for_set_min_pin_length: int = 4
    max_resident_credentials: int = 50
    attestation: str = "batch"  # batch | self | none
    enterprise_rp_ids: tuple[str, ...] = ()
    global_counter: bool = False
    """One signature counter for all credentials (as many real keys have) instead of one each."""
    dropped: tuple[str, ...] = ()
    """Claims of a captured getInfo this emulator cannot honour (see module docstring)."""
    oath: bool = True
    """The card also carries the YubiKey OATH applet and the Management applet (`emulators.oath`),
    as a YubiKey 5 NFC does; a FIDO-only key (u2f-only profile) has neither."""
    card_version: tuple[int, int, int] = (5, 7, 1)
    """The firmware version the Management applet reports and the OATH applet's SELECT carries
    (a YubiKey 5 NFC on firmware 5.7.x). The CTAP getInfo `firmware_version` is separate."""
    serial: int = 31000001
    """The serial number the Management applet reports (8 digits, as a YubiKey 5's)."""
    form_factor: int = 0x01
    """Management FORM_FACTOR: 0x01 USB-A keychain, as the YubiKey 5 NFC."""
    max_oath_credentials: int = 64
    """OATH accounts the applet holds: 64 on firmware 5.7 and later (32 before)."""
    ctap22_info: bool = False
    """getInfo also carries the CTAP 2.2 members this key can state: attestationFormats,
    maxPINLength, authenticatorConfigCommands (and, once a persistent token is issued,
    encIdentifier / encCredStoreState). A captured profile says what its capture said."""
    captured_info: bytes | None = None
    """A verbatim profile's captured getInfo (canonical CBOR): answered byte for byte, with
    only the live members (clientPin, alwaysUv, ep, forcePINChange, minPINLength, remaining
    discoverable credentials) kept current. Claims in `dropped` are then advertised but not
    honoured: meant for clients and suites that recognise keys by their getInfo."""

    # ---- what the profile implies -------------------------------------------------------
    @property
    def ctap2(self) -> bool:
        return any(v.startswith("FIDO_2_") for v in self.versions)

    @property
    def u2f(self) -> bool:
        return Version.U2F_V2 in self.versions

    @property
    def ctap21(self) -> bool:
        return any(v.startswith("FIDO_2_") and v != Version.FIDO_2_0 for v in self.versions)

    def has_option(self, name: str) -> bool:
        return name in self.options

    @property
    def supports_client_pin(self) -> bool:
        return "clientPin" in self.options

    @property
    def supports_cred_mgmt(self) -> bool:
        return bool(self.options.get("credMgmt") or self.options.get("credentialMgmtPreview"))

    @property
    def supports_large_blobs(self) -> bool:
        return "largeBlobs" in self.options

    @property
    def supports_config(self) -> bool:
        return bool(self.options.get("authnrCfg"))

    @property
    def supports_rk(self) -> bool:
        return bool(self.options.get("rk"))

    @property
    def supports_ep(self) -> bool:
        return "ep" in self.options

    @property
    def supports_always_uv(self) -> bool:
        return "alwaysUv" in self.options

    def with_(self, **changes: Any) -> DeviceProfile:
        return replace(self, **changes)

    # ---- loading a real key's getInfo ---------------------------------------------------
    @classmethod
    def from_getinfo(
        cls,
        data: bytes | str | Mapping[Any, object],
        name: str = "captured",
        *,
        verbatim: bool = False,
    ) -> DeviceProfile:
        """A profile that stands in for the key whose getInfo response `data` is.

        `data` is the CBOR map (bytes, with or without a leading 0x00 status byte), a JSON text
        (keys either the CTAP integer keys or the WebAuthn/python-fido2 names), or a decoded map.
        `verbatim` answers getInfo exactly as captured (see `captured_info`).
        """
        members = decode_info(data)
        info = CapturedInfo(members)
        versions, aaguid = _identity(info)
        dropped: list[str] = []
        extensions = _emulable_extensions(info, dropped)
        options = _emulable_options(info, dropped)
        algorithms = _emulable_algorithms(info, dropped)
        limits = _limits(info, dropped)
        return cls(
            name=name,
            model=f"captured {aaguid.hex()}",
            aaguid=aaguid,
            versions=versions,
            extensions=extensions,
            options=options,
            pin_uv_auth_protocols=_pin_protocols(info, options),
            algorithms=algorithms,
            dropped=tuple(dropped),
            captured_info=_canonical(members) if verbatim else None,
            **limits,
        )


def _canonical(members: Mapping[int, object]) -> bytes:
    try:
        return cbor.encode(dict(members))
    except ValueError as e:
        raise ValueError(f"getInfo cannot be re-encoded as CBOR ({e})") from None


# ---- the steps of from_getinfo: each reads members of the decoded map, and notes in `dropped`
# what the emulator cannot honour (the module docstring lists what happens to each claim).


def _identity(info: CapturedInfo) -> tuple[tuple[str, ...], bytes]:
    """versions and AAGUID: the two members a profile cannot do without."""
    versions = info.get("versions")
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise ValueError("getInfo has no versions list")
    aaguid = info.get("aaguid")
    if aaguid is None:
        aaguid = DEFAULT_AAGUID
    if not isinstance(aaguid, bytes) or len(aaguid) != 16:
        raise ValueError("getInfo AAGUID must be 16 bytes")
    return tuple(versions), aaguid


def _listed(info: CapturedInfo, name: str) -> list[object]:
    """A list member, [] when absent or null (as a lenient reader of captures treats it)."""
    value = info.get(name) or []
    if not isinstance(value, list):
        raise ValueError(f"getInfo {MEMBERS_BY_NAME[name].name} must be a list")
    return value


def _emulable_extensions(info: CapturedInfo, dropped: list[str]) -> tuple[str, ...]:
    extensions = []
    for ext in _listed(info, "extensions"):
        if ext in SUPPORTED_EXTENSIONS:
            extensions.append(str(ext))
        else:
            dropped.append(f"extension {ext}")
    return tuple(extensions)


def _emulable_options(info: CapturedInfo, dropped: list[str]) -> dict[str, bool]:
    captured = info.get("options") or {}
    if not isinstance(captured, Mapping):
        raise ValueError("getInfo options must be a map")
    options: dict[str, bool] = {}
    for key, value in captured.items():
        if key == "plat":
            options[key] = False
        elif key in STATIC_OPTIONS or key in LIVE_OPTIONS:
            options[key] = bool(value)
        else:
            dropped.append(f"option {key}")
    options.setdefault("up", True)
    return options


def _pin_protocols(info: CapturedInfo, options: Mapping[str, bool]) -> tuple[int, ...]:
    listed = _listed(info, "pin_uv_protocols")
    protocols = tuple(p for p in listed if _is_count(p) and p in (1, 2))
    if options.get("clientPin") is not None and not protocols:
        return (1,)
    return protocols


def _emulable_algorithms(info: CapturedInfo, dropped: list[str]) -> tuple[int, ...]:
    algs: list[int] = []
    for entry in _listed(info, "algorithms"):
        alg = entry.get("alg") if isinstance(entry, Mapping) else entry
        if isinstance(alg, int) and alg in SIGNING_ALGORITHMS:
            algs.append(alg)
        else:
            dropped.append(f"algorithm {alg}")
    return tuple(algs) if algs else (int(CoseAlg.ES256),)


def _limits(info: CapturedInfo, dropped: list[str]) -> dict[str, Any]:
    """Counts and transports: keyword arguments for the DeviceProfile, only those captured.

    The counts a profile takes as is are the members with a `profile_attr` in the table;
    `Any` because which attribute each value goes to is data (the table), not code.
    """
    limits: dict[str, Any] = {}
    for member in INFO_MEMBERS:
        value = info.members.get(member.key)
        if member.profile_attr and _is_count(value):
            limits[member.profile_attr] = value
    blob_len = info.get("max_cred_blob_length")
    if _is_count(blob_len) and blob_len > 0:
        limits["max_cred_blob_length"] = min(blob_len, MAX_CRED_BLOB)
        if blob_len > MAX_CRED_BLOB:
            dropped.append(f"maxCredBlobLength {blob_len} (capped at {MAX_CRED_BLOB})")
    id_len = info.get("max_cred_id_length")
    if _is_count(id_len) and id_len < MAX_CRED_ID_LEN:
        dropped.append(f"maxCredentialIdLength {id_len} (ours are up to {MAX_CRED_ID_LEN})")
    transports = info.get("transports")
    if isinstance(transports, list):
        limits["transports"] = tuple(str(t) for t in transports)
    return limits


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


FULL_21_OPTIONS: dict[str, bool] = {
    "rk": True,
    "up": True,
    "plat": False,
    "clientPin": False,
    "credMgmt": True,
    "largeBlobs": True,
    "authnrCfg": True,
    "pinUvAuthToken": True,
    "setMinPINLength": True,
    "makeCredUvNotRqd": True,
    "alwaysUv": False,
    "ep": False,
}

BIO_OPTIONS: dict[str, bool] = {
    "uv": False,
    "bioEnroll": False,
    "uvBioEnroll": True,
    "uvToken": True,
}
"""A fingerprint sensor (emulators/ctap/builtin_uv.py): uv and bioEnroll are live (true once a
finger is enrolled); uvBioEnroll lets a token from built-in UV carry `be`; uvToken says
subCommand 6 exists."""

PROFILES: dict[str, DeviceProfile] = {
    "default": DeviceProfile(
        name="default",
        model="tokenbench CTAP 2.1 key",
        options=dict(FULL_21_OPTIONS),
        enterprise_rp_ids=("enterprise.example.com",),
    ),
    "all-algorithms": DeviceProfile(
        name="all-algorithms",
        model="tokenbench CTAP 2.1 key, all algorithms",
        aaguid=bytes.fromhex("7b6e6b656e62656e63682d656d756c01"),
        options=dict(FULL_21_OPTIONS),
        enterprise_rp_ids=("enterprise.example.com",),
        algorithms=SIGNING_ALGORITHMS,
    ),
    "ctap22": DeviceProfile(
        name="ctap22",
        model="tokenbench CTAP 2.2 key",
        aaguid=bytes.fromhex("7b6e6b656e62656e63682d656d756c22"),
        versions=(Version.U2F_V2, Version.FIDO_2_0, Version.FIDO_2_1, Version.FIDO_2_2),
        extensions=(*CTAP22_EXTENSIONS, Ext.PREVIEW_SIGN),
        options={**FULL_21_OPTIONS, "perCredMgmtRO": True},
        enterprise_rp_ids=("enterprise.example.com",),
        algorithms=SIGNING_ALGORITHMS,
        ctap22_info=True,
    ),
    "ctap22-bio": DeviceProfile(
        name="ctap22-bio",
        model="tokenbench CTAP 2.2 key with a fingerprint sensor",
        aaguid=bytes.fromhex("7b6e6b656e62656e63682d656d756c23"),
        versions=(Version.U2F_V2, Version.FIDO_2_0, Version.FIDO_2_1, Version.FIDO_2_2),
        extensions=CTAP22_EXTENSIONS,
        options={**FULL_21_OPTIONS, "perCredMgmtRO": True, **BIO_OPTIONS},
        enterprise_rp_ids=("enterprise.example.com",),
        algorithms=SIGNING_ALGORITHMS,
        ctap22_info=True,
    ),
    "ctap20": DeviceProfile(
        name="ctap20",
        model="tokenbench CTAP 2.0 key",
        versions=(Version.U2F_V2, Version.FIDO_2_0),
        extensions=(Ext.HMAC_SECRET,),
        options={"rk": True, "up": True, "plat": False, "clientPin": False},
        pin_uv_auth_protocols=(1,),
        algorithms=(int(CoseAlg.ES256), int(CoseAlg.EDDSA)),
    ),
    "u2f-only": DeviceProfile(
        name="u2f-only",
        model="tokenbench U2F key",
        versions=(Version.U2F_V2,),
        extensions=(),
        options={},
        pin_uv_auth_protocols=(),
        oath=False,
    ),
}


CAPTURED_PREFIX = "captured:"
VERBATIM_PREFIX = "verbatim:"


def get_profile(name: str) -> DeviceProfile:
    """A named profile, or one from a captured getInfo file: `captured:PATH` (claims the
    emulator cannot honour dropped) or `verbatim:PATH` (getInfo answered byte for byte)."""
    for prefix, verbatim in ((CAPTURED_PREFIX, False), (VERBATIM_PREFIX, True)):
        if name.startswith(prefix):
            return _from_file(name[len(prefix) :], verbatim)
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join([*sorted(PROFILES), f"{CAPTURED_PREFIX}FILE", f"{VERBATIM_PREFIX}FILE"])
        raise ValueError(f"unknown device profile {name!r} (known: {known})") from None


def _from_file(path: str, verbatim: bool) -> DeviceProfile:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read getInfo capture {path}: {e.strerror}") from None
    text = data.lstrip()
    source: bytes | str = data.decode("utf-8", "replace") if text[:1] == b"{" else data
    return DeviceProfile.from_getinfo(source, name=Path(path).name, verbatim=verbatim)
