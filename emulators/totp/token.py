"""A seed-provisioned hardware TOTP token: a button, a display, a drifting crystal, a battery.

The token's interface is physical. `press()` lights the display for `DISPLAY_SECONDS`; while
lit it shows the code for the token's own time, which its crystal (`DriftingClock`) has moved
away from true time since manufacture. Once the battery has run `battery_life` seconds the
display stays blank. Nothing public returns the seed, and `repr` does not show it; the state
file holds it sealed (`tokenbench.emulators.totp.sealing`) under a key kept in another file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from tokenbench.emulators.clock import Clock, DriftingClock
from tokenbench.emulators.totp.errors import OtpauthError, TokenStateError
from tokenbench.emulators.totp.otp import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD,
    HOTP,
    OtpAccount,
)
from tokenbench.emulators.totp.sealing import (
    SEALING_KEY_FILE,
    check_sealing_key,
    read_sealing_key,
    seal,
    unseal,
)
from tokenbench.emulators.totp.storage import field_of, read_json_document, write_private_json

DISPLAY_SECONDS = 5.0
YEAR_SECONDS = 365.25 * 86400
DEFAULT_BATTERY_LIFE = 5 * YEAR_SECONDS
DEFAULT_MANUFACTURER = "tokenbench"
TOKEN_STATE_FORMAT = "tokenbench-totp-token"
TOKEN_STATE_VERSION = 1

SealingKeySource = bytes | str | os.PathLike[str] | None


def default_model(digits: int) -> str:
    return f"TB-TOTP-{digits}"


class HardwareTotpToken:
    """One token. `base_clock` is true time; the token keeps its own drifting time."""

    def __init__(
        self,
        serial: str,
        seed: bytes,
        base_clock: Clock,
        *,
        sealing_key: bytes,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period: int = DEFAULT_PERIOD,
        drift_ppm: float = 0.0,
        clock_offset: float = 0.0,
        manufactured_at: float | None = None,
        battery_life: float = DEFAULT_BATTERY_LIFE,
        manufacturer: str = DEFAULT_MANUFACTURER,
        model: str | None = None,
    ) -> None:
        self.serial = serial
        # The seed lives only inside this private account (its repr hides the secret).
        self.__generator = OtpAccount(
            secret=seed, kind=HOTP, algorithm=algorithm, digits=digits, period=period
        )
        self.__sealing_key = check_sealing_key(sealing_key)
        self.base_clock = base_clock
        epoch = base_clock.now() if manufactured_at is None else manufactured_at
        self.clock = DriftingClock(base_clock, drift_ppm, clock_offset, epoch)
        self.battery_life = float(battery_life)
        self.manufacturer = manufacturer
        self.model = model or default_model(digits)
        self._lit_since: float | None = None

    def __repr__(self) -> str:
        return (
            f"HardwareTotpToken(serial={self.serial!r}, algorithm={self.algorithm!r}, "
            f"digits={self.digits}, period={self.period}, drift_ppm={self.drift_ppm:+.2f})"
        )

    # -- what the token is -----------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        return self.__generator.algorithm

    @property
    def digits(self) -> int:
        return self.__generator.digits

    @property
    def period(self) -> int:
        return self.__generator.period

    @property
    def drift_ppm(self) -> float:
        return self.clock.ppm

    @property
    def manufactured_at(self) -> float:
        return self.clock.epoch

    @property
    def battery_dead(self) -> bool:
        return self.base_clock.now() - self.manufactured_at >= self.battery_life

    # -- the button and the display --------------------------------------------------------

    def press(self) -> str | None:
        """Press the button: the display lights up; returns what it shows (None: nothing)."""
        if self.battery_dead:
            self._lit_since = None
            return None
        self._lit_since = self.base_clock.now()
        return self.display()

    def display(self) -> str | None:
        """What the display shows now: a code while lit, None when blank."""
        if self._lit_since is None or self.battery_dead:
            return None
        if not 0 <= self.base_clock.now() - self._lit_since < DISPLAY_SECONDS:
            return None
        token_time = self.clock.now()
        if token_time < 0:
            return None
        return self.__generator.otp(math.floor(token_time) // self.period)

    # -- provisioning and persistence ------------------------------------------------------

    def _provisioning_secret(self) -> bytes:
        """The seed, for the factory's PSKC writer only (the factory knows it anyway)."""
        return self.__generator.secret

    def _associated_data(self) -> bytes:
        return _associated_data(self.serial, self.algorithm, self.digits, self.period)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the token's state (seed sealed) atomically, mode 0600."""
        write_private_json(
            path,
            {
                "format": TOKEN_STATE_FORMAT,
                "version": TOKEN_STATE_VERSION,
                "serial": self.serial,
                "manufacturer": self.manufacturer,
                "model": self.model,
                "algorithm": self.algorithm,
                "digits": self.digits,
                "period": self.period,
                "drift_ppm": self.drift_ppm,
                "clock_offset": self.clock.offset,
                "manufactured_at": self.manufactured_at,
                "battery_life": self.battery_life,
                "sealed_seed": seal(
                    self.__sealing_key, self.__generator.secret, self._associated_data()
                ),
            },
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        base_clock: Clock,
        sealing_key: SealingKeySource = None,
    ) -> HardwareTotpToken:
        """A token from its state file. `sealing_key`: the key, its file, or None for the
        `sealing.key` file next to the state file."""
        state = read_json_document(
            path,
            kind=TOKEN_STATE_FORMAT,
            version=TOKEN_STATE_VERSION,
            error=TokenStateError,
            what="token state file",
        )

        def get(name: str, kind: type | tuple[type, ...]) -> Any:
            return field_of(state, name, kind, error=TokenStateError, where=str(path))

        number = (int, float)
        serial, algorithm = get("serial", str), get("algorithm", str)
        digits, period = get("digits", int), get("period", int)
        key = resolve_sealing_key(sealing_key, Path(path))
        seed = unseal(
            key, state.get("sealed_seed"), _associated_data(serial, algorithm, digits, period)
        )
        try:
            return cls(
                serial,
                seed,
                base_clock,
                sealing_key=key,
                algorithm=algorithm,
                digits=digits,
                period=period,
                drift_ppm=get("drift_ppm", number),
                clock_offset=get("clock_offset", number),
                manufactured_at=get("manufactured_at", number),
                battery_life=get("battery_life", number),
                manufacturer=get("manufacturer", str),
                model=get("model", str),
            )
        except OtpauthError as exc:
            raise TokenStateError(f"{path}: {exc}") from None


def _associated_data(serial: str, algorithm: str, digits: int, period: int) -> bytes:
    fields = (f"{TOKEN_STATE_FORMAT}/{TOKEN_STATE_VERSION}", serial, algorithm, digits, period)
    return "|".join(str(field) for field in fields).encode("utf-8")


def resolve_sealing_key(source: SealingKeySource, state_path: Path) -> bytes:
    """The key itself, read from a key file, or from `sealing.key` beside the state file."""
    if isinstance(source, bytes):
        return check_sealing_key(source)
    if source is None:
        source = state_path.parent / SEALING_KEY_FILE
    return read_sealing_key(source)
