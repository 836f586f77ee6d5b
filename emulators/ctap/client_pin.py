"""authenticatorClientPIN (CTAP 2.1 §6.5): PIN state, retries and the pinUvAuthToken.

Interface stub first so the authenticator core can import it; the behaviour follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import Any

DEFAULT_MIN_PIN_LENGTH = 4
PIN_RETRIES_MAX = 8


class Permission(IntFlag):
    """pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7)."""

    MC = 0x01  # makeCredential
    GA = 0x02  # getAssertion
    CM = 0x04  # credentialManagement
    BE = 0x08  # bioEnrollment
    LBW = 0x10  # largeBlobWrite
    ACFG = 0x20  # authenticatorConfig


@dataclass
class PinState:
    """The persistent part of the PIN machinery, stored inside the authenticator state file."""

    pin_hash: bytes | None = None
    pin_length: int = 0
    retries: int = PIN_RETRIES_MAX
    min_pin_length: int = DEFAULT_MIN_PIN_LENGTH
    force_pin_change: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "pin_hash": self.pin_hash.hex() if self.pin_hash is not None else None,
            "pin_length": self.pin_length,
            "retries": self.retries,
            "min_pin_length": self.min_pin_length,
            "force_pin_change": self.force_pin_change,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PinState:
        pin_hash = data.get("pin_hash")
        return cls(
            pin_hash=bytes.fromhex(pin_hash) if pin_hash is not None else None,
            pin_length=int(data.get("pin_length", 0)),
            retries=int(data.get("retries", PIN_RETRIES_MAX)),
            min_pin_length=int(data.get("min_pin_length", DEFAULT_MIN_PIN_LENGTH)),
            force_pin_change=bool(data.get("force_pin_change", False)),
        )


class ClientPin:
    """The authenticator side of authenticatorClientPIN (stub: behaviour being built)."""

    def __init__(
        self,
        rng: Callable[[int], bytes],
        persist: Callable[[], None],
        state: PinState,
        protocols: Sequence[int] = (2, 1),
    ) -> None:
        self._rng = rng
        self._persist = persist
        self.state = state
        self.protocols = tuple(protocols)

    def handle(self, params: dict[int, Any], ask_presence: Callable[[], None]) -> dict[int, Any]:
        raise NotImplementedError

    @property
    def is_pin_set(self) -> bool:
        return self.state.pin_hash is not None

    def protocol(self, version: int) -> Any:
        raise NotImplementedError

    def verify_token(
        self,
        version: int,
        param: bytes,
        message: bytes,
        permission: Permission,
        rp_id: str | None,
    ) -> None:
        raise NotImplementedError

    def token_user_present(self) -> bool:
        return False

    def clear_user_present(self) -> None:
        pass

    def clear_user_verified(self) -> None:
        pass

    def power_cycle(self) -> None:
        pass

    def reset(self) -> None:
        pass

    @property
    def pin_uv_auth_token_in_use(self) -> bool:
        return False
