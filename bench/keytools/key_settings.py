"""The CTAP2 calls behind `key pin set|change|retries` and `key config`.

A PIN is checked against the key's own policy (getInfo minPINLength, 63 UTF-8 bytes) before it
is sent, so a too-short PIN is one clear line and costs no retry; whatever the key still refuses
comes back as its CTAP error by name. Configuration (CTAP 2.1 §6.11) needs a pinUvAuthToken
with the `acfg` permission once a PIN is set; a key without one is configured without a token,
as the spec allows. After every change the key's getInfo is read again and reported, so the
output shows what the key now says, not what we asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2, Info
from fido2.ctap2.config import Config
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools.device_ops import ctap_error_text, pin_failure, pin_token

CTAP_MIN_PIN_LENGTH = 4
"""CTAP 2.1 §6.5.1: the floor when getInfo has no minPINLength."""
MAX_PIN_BYTES = 63
"""CTAP 2.1 §6.5.5.5: the PIN padded to 64 bytes keeps at least one zero byte."""


def _check_pin_support(info: Info) -> None:
    if not ClientPin.is_supported(info):
        raise UserError("this key has no client PIN support")


def min_pin_length(info: Info) -> int:
    return info.min_pin_length or CTAP_MIN_PIN_LENGTH


def check_new_pin(info: Info, pin: str) -> None:
    """The key's own length rules, checked here so a bad PIN costs nothing on the key."""
    shortest = min_pin_length(info)
    if len(pin) < shortest:
        raise UserError(f"the new PIN is too short: this key wants at least {shortest} characters")
    if len(pin.encode("utf-8")) > MAX_PIN_BYTES:
        raise UserError(f"the new PIN is too long: at most {MAX_PIN_BYTES} bytes in UTF-8")


@dataclass(frozen=True)
class PinStatus:
    """What a key says about its PIN: set or not, retries, policy."""

    pin_set: bool
    retries: int | None
    power_cycle_required: bool | None
    uv_retries: int | None
    min_pin_length: int
    force_pin_change: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "pin_set": self.pin_set,
            "pin_retries": self.retries,
            "power_cycle_required": self.power_cycle_required,
            "uv_retries": self.uv_retries,
            "min_pin_length": self.min_pin_length,
            "force_pin_change": self.force_pin_change,
        }

    def lines(self) -> list[str]:
        if not self.pin_set:
            return [f"PIN: not set (minimum length {self.min_pin_length})"]
        lines = [f"PIN: set, {self.retries} retries left (minimum length {self.min_pin_length})"]
        if self.power_cycle_required:
            lines.append("the key must be unplugged and plugged back in before the next PIN try")
        if self.force_pin_change:
            lines.append("the key requires a new PIN before it is used again (key pin change)")
        if self.uv_retries is not None:
            lines.append(f"built-in user verification: {self.uv_retries} retries left")
        return lines


def pin_status(ctap: Ctap2) -> PinStatus:
    info = ctap.get_info()
    _check_pin_support(info)
    pin_set = bool(info.options.get("clientPin"))
    retries = power_cycle = uv_retries = None
    try:
        if pin_set:  # keys answer PIN_NOT_SET before a PIN exists
            retries, cycle = ClientPin(ctap).get_pin_retries()
            power_cycle = None if cycle is None else bool(cycle)  # CTAP sends a bool
        if info.options.get("uv"):
            uv_retries = ClientPin(ctap).get_uv_retries()
    except CtapError as exc:
        raise UserError(f"getRetries failed: {ctap_error_text(exc)}") from None
    return PinStatus(
        pin_set=pin_set,
        retries=retries,
        power_cycle_required=power_cycle,
        uv_retries=uv_retries,
        min_pin_length=min_pin_length(info),
        force_pin_change=bool(info.force_pin_change),
    )


def set_pin(ctap: Ctap2, new_pin: str) -> None:
    _check_pin_support(ctap.info)
    if ctap.info.options.get("clientPin"):
        raise UserError("this key already has a PIN: use `key pin change`")
    check_new_pin(ctap.info, new_pin)
    try:
        ClientPin(ctap).set_pin(new_pin)
    except CtapError as exc:
        raise pin_failure(ctap, exc) from None


def change_pin(ctap: Ctap2, pin: str, new_pin: str) -> None:
    _check_pin_support(ctap.info)
    if not ctap.info.options.get("clientPin"):
        raise UserError("no PIN is set on this key: use `key pin set`")
    check_new_pin(ctap.info, new_pin)
    try:
        ClientPin(ctap).change_pin(pin, new_pin)
    except CtapError as exc:
        raise pin_failure(ctap, exc) from None


# ------------------------------------------------------------------------- authenticatorConfig


@dataclass(frozen=True)
class Settings:
    """The configurable part of getInfo (None: the key does not offer that setting)."""

    always_uv: bool | None
    enterprise_attestation: bool | None
    min_pin_length: int
    force_pin_change: bool
    pin_set: bool

    @classmethod
    def of(cls, info: Info) -> Settings:
        return cls(
            always_uv=info.options.get("alwaysUv"),
            enterprise_attestation=info.options.get("ep"),
            min_pin_length=min_pin_length(info),
            force_pin_change=bool(info.force_pin_change),
            pin_set=bool(info.options.get("clientPin")),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "always_uv": self.always_uv,
            "enterprise_attestation": self.enterprise_attestation,
            "min_pin_length": self.min_pin_length,
            "force_pin_change": self.force_pin_change,
            "pin_set": self.pin_set,
        }

    def lines(self) -> list[str]:
        def shown(value: bool | None) -> str:
            return "not supported" if value is None else ("on" if value else "off")

        return [
            f"alwaysUv: {shown(self.always_uv)}",
            f"enterprise attestation: {shown(self.enterprise_attestation)}",
            f"minimum PIN length: {self.min_pin_length}",
            f"PIN change required: {'yes' if self.force_pin_change else 'no'}",
        ]


OPTION_NEEDED = {
    Config.CMD.ENABLE_ENTERPRISE_ATT: ("ep", "enterprise attestation"),
    Config.CMD.TOGGLE_ALWAYS_UV: ("alwaysUv", "alwaysUv"),
    Config.CMD.SET_MIN_PIN_LENGTH: ("setMinPINLength", "setting the minimum PIN length"),
}


def _config(ctap: Ctap2, pin: str | None, command: Config.CMD) -> Config:
    """A Config session: with an `acfg` token once the key is protected by a PIN."""
    info = ctap.info
    if not Config.is_supported(info):
        raise UserError("this key has no authenticatorConfig (getInfo option authnrCfg)")
    option, what = OPTION_NEEDED[command]
    if option not in info.options:
        raise UserError(f"this key does not support {what} (getInfo option {option})")
    if not info.options.get("clientPin"):
        if info.options.get("alwaysUv"):
            raise UserError("alwaysUv is on but no PIN is set: set one first (key pin set)")
        return Config(ctap)
    if pin is None:
        raise UserError("this key has a PIN: give it to change the configuration")
    client_pin, token = pin_token(ctap, pin, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    return Config(ctap, client_pin.protocol, token)


def configure(
    ctap: Ctap2, pin: str | None, command: Config.CMD, change: Callable[[Config], None]
) -> Settings:
    """Run one config subcommand and return the settings the key reports afterwards."""
    config = _config(ctap, pin, command)
    try:
        change(config)
    except CtapError as exc:
        if exc.code == CtapError.ERR.PIN_NOT_SET:
            raise pin_failure(ctap, exc) from None
        what = OPTION_NEEDED[command][1]
        raise UserError(f"the key refused {what}: {ctap_error_text(exc)}") from None
    except ValueError as exc:  # python-fido2: a subcommand the key does not list
        raise UserError(str(exc)) from None
    return Settings.of(ctap.get_info())


def set_always_uv(ctap: Ctap2, pin: str | None, on: bool) -> Settings:
    """alwaysUv is a toggle on the wire; toggle only when the key is not already there."""
    current = Settings.of(ctap.info)
    if current.always_uv is not None and current.always_uv == on:
        return current
    settings = configure(ctap, pin, Config.CMD.TOGGLE_ALWAYS_UV, Config.toggle_always_uv)
    if settings.always_uv != on:
        raise UserError(f"the key accepted the toggle but reports alwaysUv {settings.always_uv}")
    return settings


def set_min_pin_length(
    ctap: Ctap2, pin: str | None, length: int | None, rp_ids: list[str] | None, force: bool
) -> Settings:
    shortest = min_pin_length(ctap.info)
    if length is not None and length < shortest:
        raise UserError(f"the minimum PIN length can only grow: it is {shortest} now")
    if force and not ctap.info.options.get("clientPin"):
        raise UserError("no PIN is set on this key, so there is no PIN to force a change of")

    def change(config: Config) -> None:
        config.set_min_pin_length(length, rp_ids, force_change_pin=force)

    return configure(ctap, pin, Config.CMD.SET_MIN_PIN_LENGTH, change)


def enable_enterprise_attestation(ctap: Ctap2, pin: str | None) -> Settings:
    return configure(
        ctap, pin, Config.CMD.ENABLE_ENTERPRISE_ATT, Config.enable_enterprise_attestation
    )
