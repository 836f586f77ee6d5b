"""The pinUvAuthToken's permissions and its volatile usage state (CTAP 2.1 §6.5.2.1, §6.5.5.7).

Split from client_pin.py: every command that checks a token needs `Permission`; only
authenticatorClientPIN issues tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntFlag

from tokenbench.emulators.clock import Clock


class Permission(IntFlag):
    """pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7)."""

    MC = 0x01  # makeCredential
    GA = 0x02  # getAssertion
    CM = 0x04  # credentialManagement
    BE = 0x08  # bioEnrollment
    LBW = 0x10  # largeBlobWrite
    ACFG = 0x20  # authenticatorConfig
    PCMR = 0x40  # CTAP 2.2: read-only credential management with the persistent token


LEGACY_TOKEN_PERMISSIONS = Permission.MC | Permission.GA
"""getPinToken (subCommand 5) yields a token with exactly these (§6.5.5.7.1)."""
DEFAULT_SUPPORTED_PERMISSIONS = (
    Permission.MC | Permission.GA | Permission.CM | Permission.LBW | Permission.ACFG
)
"""No `be`: only a key with a fingerprint sensor (its profile lists bioEnroll, see builtin_uv.py)
grants it; elsewhere asking for it is UNAUTHORIZED_PERMISSION."""


def supported_permissions_for(options: Mapping[str, object]) -> Permission:
    """The permissions a key with these getInfo options can grant (§6.5.5.7.2).

    A permission for a feature the key lacks (bioEnroll, largeBlobs, authnrCfg, credMgmt) is
    answered with UNAUTHORIZED_PERMISSION rather than granted and never usable.
    """
    granted = Permission.MC | Permission.GA
    if options.get("credMgmt") or options.get("credentialMgmtPreview"):
        granted |= Permission.CM
    if "bioEnroll" in options:  # present, even false, means the key has the feature
        granted |= Permission.BE
    if options.get("largeBlobs"):
        granted |= Permission.LBW
    if options.get("authnrCfg"):
        granted |= Permission.ACFG
    if options.get("perCredMgmtRO"):
        granted |= Permission.PCMR
    return granted


INITIAL_USAGE_TIME_LIMIT = 30.0
"""A fresh token not used within this many seconds expires (USB value, §6.5.2.1)."""
USER_PRESENT_TIME_LIMIT = 30.0
"""The token's userPresent flag lapses this long after it was set (§6.5.2.1)."""
MAX_USAGE_TIME_PERIOD = 600.0
"""No token stays in use longer than this, however often it is used (§6.5.2.1)."""


class PinUvAuthTokenState:
    """The volatile pinUvAuthToken state of §6.5.2.1: in use, permissions, permissions RP ID,
    userPresent / userVerified flags and the usage timer (driven by the injected clock)."""

    in_use: bool
    permissions: Permission
    rp_id: str | None
    user_present: bool
    user_verified: bool
    _began: float
    _used: bool

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self.stop_using()

    def begin_using(
        self, permissions: Permission, rp_id: str | None, *, user_present: bool
    ) -> None:
        self.in_use = True
        self.permissions = permissions
        self.rp_id = rp_id
        self.user_present = user_present
        self.user_verified = True
        self._began = self._now()
        self._used = False

    def stop_using(self) -> None:
        self.in_use = False
        self.permissions = Permission(0)
        self.rp_id = None
        self.user_present = False
        self.user_verified = False
        self._began = 0.0
        self._used = False

    def mark_used(self) -> None:
        self._used = True

    def observe(self) -> None:
        """Apply the usage timer: expire unused or too-old tokens, lapse userPresent."""
        if not self.in_use or self._clock is None:
            return
        elapsed = self._now() - self._began
        unused_too_long = not self._used and elapsed >= INITIAL_USAGE_TIME_LIMIT
        if elapsed >= MAX_USAGE_TIME_PERIOD or unused_too_long:
            self.stop_using()
        elif elapsed >= USER_PRESENT_TIME_LIMIT:
            self.user_present = False

    def user_present_value(self) -> bool:
        self.observe()
        return self.in_use and self.user_present

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0
