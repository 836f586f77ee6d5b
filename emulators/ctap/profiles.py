"""Device profiles: which model the emulated key pretends to be.

A profile fixes what getInfo says and which commands exist. Named profiles cover the common
cases; `DeviceProfile.from_getinfo` takes a getInfo captured from a real key so the emulator
stands in for that model.

What happens to claims of a captured getInfo that this emulator cannot honour:
- versions: kept verbatim (so clients see the same list), but behaviour is CTAP 2.1 whenever
  FIDO_2_1 or FIDO_2_1_PRE (or a later FIDO_2_x) is listed, CTAP 2.0 otherwise; U2F only if
  U2F_V2 is listed.
- extensions: only those implemented here are kept (credProtect, hmac-secret, credBlob,
  largeBlobKey, minPinLength); the rest are dropped and listed in `profile.dropped`.
- options: built-in user verification ("uv", "bioEnroll", "uvBioEnroll", "uvToken",
  "noMcGaPermissionsWithClientPin", "uvAcfg") cannot be emulated and is dropped; "plat" is
  forced to False; "perCredMgmtRO" is dropped; unknown options are dropped. clientPin, alwaysUv
  and ep are kept as *capabilities*: their values are live (from the key's state).
- algorithms: only ES256 (-7) and EdDSA (-8) are kept.
- everything else (AAGUID, maxMsgSize, PIN/UV protocols out of {1, 2}, list and ID limits,
  transports, firmware version, large-blob size, credBlob length, minPinLength RP ID limit,
  remaining discoverable credentials as capacity) is copied as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from fido2 import cbor

from tokenbench.emulators.ctap.attestation import DEFAULT_AAGUID
from tokenbench.emulators.ctap.constants import CoseAlg, Ext, InfoKey, Version
from tokenbench.emulators.ctap.credentials import MAX_CRED_BLOB, MAX_CRED_ID_LEN

SUPPORTED_EXTENSIONS = (
    Ext.CRED_PROTECT,
    Ext.HMAC_SECRET,
    Ext.CRED_BLOB,
    Ext.LARGE_BLOB_KEY,
    Ext.MIN_PIN_LENGTH,
)
SUPPORTED_ALGS = (int(CoseAlg.ES256), int(CoseAlg.EDDSA))
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
    versions: tuple[str, ...] = (Version.FIDO_2_1, Version.FIDO_2_0, Version.U2F_V2)
    extensions: tuple[str, ...] = SUPPORTED_EXTENSIONS
    options: dict[str, bool] = field(default_factory=dict)
    """Static getInfo options; clientPin/alwaysUv/ep present here mean 'supported'."""
    max_msg_size: int = 1200
    pin_uv_auth_protocols: tuple[int, ...] = (2, 1)
    max_credential_count_in_list: int = 8
    max_credential_id_length: int = MAX_CRED_ID_LEN
    transports: tuple[str, ...] = ("usb",)
    algorithms: tuple[int, ...] = SUPPORTED_ALGS
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
        cls, data: bytes | str | dict[Any, Any], name: str = "captured"
    ) -> DeviceProfile:
        """A profile that stands in for the key whose getInfo response `data` is.

        `data` is the CBOR map (bytes, with or without a leading 0x00 status byte), a JSON text
        (keys either the CTAP integer keys or the WebAuthn/python-fido2 names), or a decoded map.
        """
        info = _decode_getinfo(data)
        dropped: list[str] = []

        def get(key: InfoKey, default: Any = None) -> Any:
            return info.get(int(key), default)

        versions = get(InfoKey.VERSIONS)
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise ValueError("getInfo has no versions list")
        aaguid = get(InfoKey.AAGUID, DEFAULT_AAGUID)
        if not isinstance(aaguid, bytes) or len(aaguid) != 16:
            raise ValueError("getInfo AAGUID must be 16 bytes")
        extensions = []
        for ext in get(InfoKey.EXTENSIONS, []) or []:
            if ext in SUPPORTED_EXTENSIONS:
                extensions.append(ext)
            else:
                dropped.append(f"extension {ext}")
        options: dict[str, bool] = {}
        for key, value in dict(get(InfoKey.OPTIONS, {}) or {}).items():
            if key == "plat":
                options[key] = False
            elif key in STATIC_OPTIONS or key in LIVE_OPTIONS:
                options[key] = bool(value)
            else:
                dropped.append(f"option {key}")
        if "up" not in options:
            options["up"] = True
        protocols = [p for p in get(InfoKey.PIN_UV_AUTH_PROTOCOLS, []) or [] if p in (1, 2)]
        if options.get("clientPin") is not None and not protocols:
            protocols = [1]
        algs: list[int] = []
        for entry in get(InfoKey.ALGORITHMS, []) or []:
            alg = entry.get("alg") if isinstance(entry, dict) else entry
            if alg in SUPPORTED_ALGS:
                algs.append(int(alg))
            else:
                dropped.append(f"algorithm {alg}")
        kwargs: dict[str, Any] = {
            "name": name,
            "model": f"captured {aaguid.hex()}",
            "aaguid": aaguid,
            "versions": tuple(versions),
            "extensions": tuple(extensions),
            "options": options,
            "pin_uv_auth_protocols": tuple(protocols),
            "algorithms": tuple(algs) if algs else (int(CoseAlg.ES256),),
            "dropped": tuple(dropped),
        }
        simple = {
            InfoKey.MAX_MSG_SIZE: "max_msg_size",
            InfoKey.MAX_CREDENTIAL_COUNT_IN_LIST: "max_credential_count_in_list",
            InfoKey.MAX_SERIALIZED_LARGE_BLOB_ARRAY: "max_serialized_large_blob_array",
            InfoKey.FIRMWARE_VERSION: "firmware_version",
            InfoKey.MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH: "max_rpids_for_set_min_pin_length",
            InfoKey.REMAINING_DISCOVERABLE_CREDENTIALS: "max_resident_credentials",
        }
        for key, attr in simple.items():
            value = get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                kwargs[attr] = value
        blob_len = get(InfoKey.MAX_CRED_BLOB_LENGTH)
        if isinstance(blob_len, int) and blob_len > 0:
            kwargs["max_cred_blob_length"] = min(blob_len, MAX_CRED_BLOB)
            if blob_len > MAX_CRED_BLOB:
                dropped.append(f"maxCredBlobLength {blob_len} (capped at {MAX_CRED_BLOB})")
        id_len = get(InfoKey.MAX_CREDENTIAL_ID_LENGTH)
        if isinstance(id_len, int) and id_len < MAX_CRED_ID_LEN:
            dropped.append(f"maxCredentialIdLength {id_len} (ours are up to {MAX_CRED_ID_LEN})")
        transports = get(InfoKey.TRANSPORTS)
        if isinstance(transports, list):
            kwargs["transports"] = tuple(str(t) for t in transports)
        kwargs["dropped"] = tuple(dropped)
        return cls(**kwargs)


INFO_NAMES = {
    "versions": InfoKey.VERSIONS,
    "extensions": InfoKey.EXTENSIONS,
    "aaguid": InfoKey.AAGUID,
    "options": InfoKey.OPTIONS,
    "max_msg_size": InfoKey.MAX_MSG_SIZE,
    "maxMsgSize": InfoKey.MAX_MSG_SIZE,
    "pin_uv_protocols": InfoKey.PIN_UV_AUTH_PROTOCOLS,
    "pinUvAuthProtocols": InfoKey.PIN_UV_AUTH_PROTOCOLS,
    "max_creds_in_list": InfoKey.MAX_CREDENTIAL_COUNT_IN_LIST,
    "maxCredentialCountInList": InfoKey.MAX_CREDENTIAL_COUNT_IN_LIST,
    "max_cred_id_length": InfoKey.MAX_CREDENTIAL_ID_LENGTH,
    "maxCredentialIdLength": InfoKey.MAX_CREDENTIAL_ID_LENGTH,
    "transports": InfoKey.TRANSPORTS,
    "algorithms": InfoKey.ALGORITHMS,
    "max_large_blob": InfoKey.MAX_SERIALIZED_LARGE_BLOB_ARRAY,
    "maxSerializedLargeBlobArray": InfoKey.MAX_SERIALIZED_LARGE_BLOB_ARRAY,
    "firmware_version": InfoKey.FIRMWARE_VERSION,
    "firmwareVersion": InfoKey.FIRMWARE_VERSION,
    "max_cred_blob_length": InfoKey.MAX_CRED_BLOB_LENGTH,
    "maxCredBlobLength": InfoKey.MAX_CRED_BLOB_LENGTH,
    "max_rpids_for_min_pin": InfoKey.MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH,
    "maxRPIDsForSetMinPINLength": InfoKey.MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH,
    "remaining_disc_creds": InfoKey.REMAINING_DISCOVERABLE_CREDENTIALS,
    "remainingDiscoverableCredentials": InfoKey.REMAINING_DISCOVERABLE_CREDENTIALS,
}


def _decode_getinfo(data: bytes | str | dict[Any, Any]) -> dict[int, Any]:
    if isinstance(data, bytes):
        if data[:1] == b"\x00":
            data = data[1:]
        try:
            decoded = cbor.decode(data)
        except Exception as e:  # fido2.cbor raises several types on bad input
            raise ValueError(f"getInfo is not valid CBOR ({e.__class__.__name__})") from None
    elif isinstance(data, str):
        try:
            decoded = json.loads(data)
        except json.JSONDecodeError as e:
            raise ValueError(f"getInfo is not valid JSON ({e.msg})") from None
    else:
        decoded = data
    if not isinstance(decoded, dict):
        raise ValueError("getInfo must be a map")
    out: dict[int, Any] = {}
    for key, value in decoded.items():
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        elif isinstance(key, str):
            if key not in INFO_NAMES:
                continue
            key = int(INFO_NAMES[key])
        if key == InfoKey.AAGUID and isinstance(value, str):
            value = bytes.fromhex(value.replace("-", ""))
        out[key] = value
    return out


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

PROFILES: dict[str, DeviceProfile] = {
    "default": DeviceProfile(
        name="default",
        model="tokenbench CTAP 2.1 key",
        options=dict(FULL_21_OPTIONS),
        enterprise_rp_ids=("enterprise.example.com",),
    ),
    "ctap20": DeviceProfile(
        name="ctap20",
        model="tokenbench CTAP 2.0 key",
        versions=(Version.FIDO_2_0, Version.U2F_V2),
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
    ),
}


def get_profile(name: str) -> DeviceProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown device profile {name!r} (known: {known})") from None
