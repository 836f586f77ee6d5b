"""TOTP targets: emulated hardware tokens minted on the fly, and real tokens read by a person.

The suites see a token only through `TotpSource` (serial, button, display, the bench's true
time) and the vendor's PSKC file (`PskcAccess`); only this module imports `emulators.totp`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tokenbench.bench.errors import UserError
from tokenbench.bench.targets import Prompter, Target, TargetKind, TerminalPrompter

if TYPE_CHECKING:  # imported where used, as the module docstring says
    from tokenbench.emulators.clock import Clock, FakeClock
    from tokenbench.emulators.totp.token import HardwareTotpToken


@dataclass(frozen=True)
class PskcAccess:
    """Where a token's seed is and how to open it (psk or password; never printed)."""

    path: Path
    psk: bytes | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


class TotpSource(Protocol):
    """One hardware TOTP token as the bench sees it: a serial, a display, a button."""

    serial: str
    manual: bool

    def read_code(self) -> str | None:
        """Press the button and read the display (None: nothing shown)."""
        ...

    def display(self) -> str | None:
        """What the display shows now, without pressing."""
        ...

    def now(self) -> float:
        """The bench's reference time (true time) when the last reading was taken."""
        ...

    def wait(self, seconds: float) -> None:
        """Let time pass (simulated for an emulated token)."""
        ...


class TotpTarget(Target):
    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.kind = TargetKind.TOTP

    @abstractmethod
    def tokens(self) -> list[TotpSource]: ...

    @abstractmethod
    def pskc(self) -> PskcAccess: ...


TOTP_FAULTS = ("wrong-seed", "missing-seed", "extra-drift", "dead-battery", "stuck-display")
EXTRA_DRIFT_PPM = 400.0


class _EmulatedToken:
    """Adapts an emulated `HardwareTotpToken` to `TotpSource` on a fake base clock."""

    manual = False

    def __init__(self, token: HardwareTotpToken, clock: FakeClock, fault: str) -> None:
        self._token = token
        self._clock = clock
        self._fault = fault
        self.serial: str = token.serial

    def read_code(self) -> str | None:
        return self._token.press()

    def display(self) -> str | None:
        shown = self._token.display()
        if self._fault == "stuck-display" and shown is None:
            return self._token.press()
        return shown

    def now(self) -> float:
        return self._clock.now()

    def wait(self, seconds: float) -> None:
        self._clock.advance(seconds)


class EmulatedTotpTarget(TotpTarget):
    """`totp:emu`: tokens minted on the fly into a temp dir, with their PSKC file.

    Options: count=N (default 2), drift-ppm=X (default 10), age-days=D (how long the tokens
    have been running; default 365), fault=wrong-seed|extra-drift|dead-battery|stuck-display
    |missing-seed (a broken token or seed file, to prove the TOTP suite can fail).
    """

    def __init__(self, uri: str, options: dict[str, str]) -> None:
        super().__init__(uri)
        unknown = set(options) - {"count", "drift-ppm", "age-days", "fault"}
        if unknown:
            raise UserError(f"bad target {uri!r}: unknown option(s) {', '.join(sorted(unknown))}")
        try:
            self.count = int(options.get("count", "2"))
            self.drift_ppm = float(options.get("drift-ppm", "10"))
            self.age_days = float(options.get("age-days", "365"))
        except ValueError:
            raise UserError(f"bad target {uri!r}: count, drift-ppm, age-days: numbers") from None
        self.fault = options.get("fault", "")
        if self.fault and self.fault not in TOTP_FAULTS:
            raise UserError(f"bad target {uri!r}: unknown TOTP fault (known: {TOTP_FAULTS})")
        if not 1 <= self.count <= 20:
            raise UserError(f"bad target {uri!r}: count must be 1..20")
        self._tokens: list[TotpSource] | None = None
        self._pskc: PskcAccess | None = None
        self._tmp: Any = None

    def _mint(self) -> None:
        import random
        import tempfile

        from tokenbench.emulators.clock import FakeClock, SystemClock
        from tokenbench.emulators.totp.factory import TokenFactory

        self._tmp = tempfile.TemporaryDirectory(prefix="tokenbench-totp-")
        workdir = Path(self._tmp.name)
        start = SystemClock().now()
        manufactured = start - self.age_days * 86400
        clock = FakeClock(manufactured)
        rng = random.Random(int(start))
        drift = self.drift_ppm + (EXTRA_DRIFT_PPM if self.fault == "extra-drift" else 0.0)
        factory = TokenFactory(clock, prefix="EMUT", rng=rng, state_dir=workdir / "factory")
        tokens = factory.mint(self.count, drift_ppm=drift)
        psk = rng.randbytes(16)
        pskc_path = workdir / "seeds.pskc"
        if self.fault == "wrong-seed":
            # The PSKC file describes other tokens with the same serials: seeds do not match.
            other = TokenFactory(clock, prefix="EMUT", rng=random.Random(rng.random()))
            decoys = other.mint(self.count, drift_ppm=drift)
            for decoy, token in zip(decoys, tokens, strict=True):
                decoy.serial = token.serial
            factory.write_pskc(decoys, pskc_path, psk=psk)
        elif self.fault == "missing-seed":
            factory.write_pskc(tokens[:-1] or tokens[:0], pskc_path, psk=psk)
        else:
            factory.write_pskc(tokens, pskc_path, psk=psk)
        clock.set(start)
        if self.fault == "dead-battery":
            for token in tokens:
                _drain_battery(token)
        self._clock = clock
        self._tokens = [_EmulatedToken(t, clock, self.fault) for t in tokens]
        self._pskc = PskcAccess(pskc_path, psk=psk)

    def tokens(self) -> list[TotpSource]:
        if self._tokens is None:
            self._mint()
        assert self._tokens is not None
        return self._tokens

    def pskc(self) -> PskcAccess:
        if self._pskc is None:
            self._mint()
        assert self._pskc is not None
        return self._pskc

    def clock(self) -> FakeClock:
        """The fake true-time clock the emulated tokens run on (waits move it)."""
        self.tokens()
        return self._clock

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _drain_battery(token: Any) -> None:
    """Make an emulated token's battery dead (the fault that blanks its display)."""
    for name in ("battery_life", "battery_seconds", "battery"):
        if hasattr(token, name):
            setattr(token, name, 0)
            return


class _ManualToken:
    """A real token: the person presses the button and types what the display shows."""

    manual = True

    def __init__(self, serial: str, prompter: Prompter, clock: Clock) -> None:
        self.serial = serial
        self._prompter = prompter
        self._clock = clock
        self._read_at = clock.now()

    def read_code(self) -> str | None:
        answer = self._prompter.ask(
            f"press the button on token {self.serial} and type the code (empty if blank):"
        )
        self._read_at = self._clock.now()
        return answer.replace(" ", "") or None

    def display(self) -> str | None:
        answer = self._prompter.ask(f"type what token {self.serial} shows now (empty if blank):")
        self._read_at = self._clock.now()
        return answer.replace(" ", "") or None

    def now(self) -> float:
        return self._read_at

    def wait(self, seconds: float) -> None:
        self._prompter.countdown("waiting before the next reading", seconds, lambda: False)


class ManualTotpTarget(TotpTarget):
    """`totp:manual,serial=S,pskc=FILE`: the person reads a real token's display.

    The PSKC file's key comes from the environment, never the command line:
    TOKENBENCH_PSKC_PSK (hex) or TOKENBENCH_PSKC_PASSWORD.
    """

    def __init__(self, uri: str, options: dict[str, str]) -> None:
        super().__init__(uri)
        self.emulated = False
        import os

        from tokenbench.emulators.clock import SystemClock

        serial = options.get("serial", "")
        pskc_file = options.get("pskc", "")
        if not serial or not pskc_file:
            raise UserError(f"bad target {uri!r}: needs serial=S and pskc=FILE")
        path = Path(pskc_file)
        if not path.is_file():
            raise UserError(f"PSKC file not found: {path}")
        psk_hex = os.environ.get("TOKENBENCH_PSKC_PSK")
        try:
            psk = bytes.fromhex(psk_hex) if psk_hex else None
        except ValueError:
            raise UserError("TOKENBENCH_PSKC_PSK is not hex") from None
        self._pskc = PskcAccess(path, psk=psk, password=os.environ.get("TOKENBENCH_PSKC_PASSWORD"))
        self.prompter: Prompter = TerminalPrompter()
        self._token = _ManualToken(serial, self.prompter, SystemClock())

    def tokens(self) -> list[TotpSource]:
        return [self._token]

    def pskc(self) -> PskcAccess:
        return self._pskc
