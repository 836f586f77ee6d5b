"""The core faults as strategies: what a misbehaving key does instead of the right thing.

`CoreFaults.select(faults)` picks, once, one strategy per behaviour (signature counters, the
rpIdHash and signature it outputs, the response body, presence, U2F status words). The core
always calls the strategy and never asks which fault is active, so a new fault is one new
strategy here and no new branch in a command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tokenbench.emulators.ctap.constants import AuthDataFlag, CtapStatus
from tokenbench.emulators.ctap.faults import Fault

ROLLBACK_START = 0x7FFFFFFF
"""A rolled-back counter starts high, so the first value a verifier sees looks plausible."""


class CounterStore(Protocol):
    """Where the honest counters live (the key's `StateManager`)."""

    def next_counter(self, key: str) -> int: ...


class SignatureCounters(Protocol):
    """How a key numbers its signatures: one counter per `key` (a credential, or "global")."""

    def next(self, key: str, user_present: bool) -> int: ...

    def reset(self) -> None:
        """authenticatorReset: every credential is gone, so is any counter memory."""


@dataclass
class HonestCounters:
    store: CounterStore

    def next(self, key: str, user_present: bool) -> int:
        return self.store.next_counter(key)

    def reset(self) -> None:
        return None


@dataclass
class RollbackCounters:
    """The counter goes backwards with every signature (fault counter-rollback)."""

    values: dict[str, int] = field(default_factory=dict)

    def next(self, key: str, user_present: bool) -> int:
        value = self.values.get(key, ROLLBACK_START) - 1
        self.values[key] = value
        return value

    def reset(self) -> None:
        self.values.clear()


@dataclass
class CloneCounters:
    """Every other user-present signature comes from a twin that started from the state at
    power-up (fault clone); silent (up=false) probes always use the primary."""

    primary: HonestCounters
    snapshot: dict[str, int]
    twin: dict[str, int] = field(default_factory=dict)
    twin_turn: bool = False

    def next(self, key: str, user_present: bool) -> int:
        if user_present:
            self.twin_turn = not self.twin_turn
            if self.twin_turn:
                value = self.twin.get(key, self.snapshot.get(key, 0)) + 1
                self.twin[key] = value
                return value
        return self.primary.next(key, user_present)

    def reset(self) -> None:
        self.twin.clear()
        self.snapshot = {}


def _unchanged(data: bytes) -> bytes:
    return data


def _other_rp_hash(rp_hash: bytes) -> bytes:
    return hashlib.sha256(b"wrong-rpid-hash:" + rp_hash).digest()


def _flip_last_bit(signature: bytes) -> bytes:
    return signature[:-1] + bytes([signature[-1] ^ 0x01]) if signature else signature


def _as_set(flags: int) -> int:
    return flags


def _synced(flags: int) -> int:
    return flags | AuthDataFlag.BE | AuthDataFlag.BS


def _truncate(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)] if len(body) > 1 else b"\xff"


def honest_counters(store: CounterStore, at_power_up: dict[str, int]) -> SignatureCounters:
    return HonestCounters(store)


def rollback_counters(store: CounterStore, at_power_up: dict[str, int]) -> SignatureCounters:
    return RollbackCounters()


def clone_counters(store: CounterStore, at_power_up: dict[str, int]) -> SignatureCounters:
    return CloneCounters(HonestCounters(store), dict(at_power_up))


def _as_listed(versions: list[str]) -> list[str]:
    return versions


def _newest_first(versions: list[str]) -> list[str]:
    return list(reversed(versions))


SHORT_LIST = 4
"""How many allowList/excludeList entries a key with the short-lists fault looks at."""
TRUNCATED_FIELD_BYTES = 32
"""How much of a user name/displayName a key with the truncated-user-fields fault keeps."""


def _whole_list(ids: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return ids


def _first_few(ids: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return ids[:SHORT_LIST]


def _level_as_asked(level: int) -> int:
    return level


def _uv_optional(level: int) -> int:
    return 1  # credProtect userVerificationOptional


def _text_as_given(text: str | None) -> str | None:
    return text


def _cut_text(text: str | None) -> str | None:
    if text is None:
        return None
    return text.encode()[:TRUNCATED_FIELD_BYTES].decode(errors="ignore")


Transform = Callable[[bytes], bytes]
CountersFactory = Callable[[CounterStore, dict[str, int]], SignatureCounters]
"""Makes one key's counters from its store and the stored counters at power-up."""


@dataclass(frozen=True)
class CoreFaults:
    """The strategies of one key's core; `CoreFaults()` is an honest key."""

    rp_hash: Transform = _unchanged
    """The rpIdHash put into authenticatorData."""
    flags: Callable[[int], int] = _as_set
    """The flags byte put into authenticatorData (backup-flags adds BE and BS)."""
    signature: Transform = _unchanged
    """An assertion or attestation signature as sent."""
    response_body: Transform = _unchanged
    """A CTAP2 response's CBOR as sent."""
    withholds_presence: bool = False
    """The key never asks for a touch and reports no user presence."""
    lies_in_u2f_status: bool = False
    """U2F status words are swapped: success says 6F00, any error says 9000."""
    counters: CountersFactory = honest_counters
    versions: Callable[[list[str]], list[str]] = _as_listed
    """getInfo's versions, in the profile's order (deployed keys': U2F_V2, then ascending)."""
    retries_without_pin: bool = False
    """getPINRetries answers on a key with no PIN (deployed keys: PIN_NOT_SET)."""
    force_change_status: CtapStatus = CtapStatus.PIN_INVALID
    """What a token request answers while forcePINChange is set (OpenSK, YubiKey, and
    python-fido2's device suite: PIN_INVALID)."""
    lenient_requests: bool = False
    """Request members the key can do without go unchecked (types, incomplete list entries,
    descriptor types, pinUvAuthProtocol, the zero-length pinUvAuthParam probe, hmac-secret salt
    lengths: only the first salt is used)."""
    refuses_unknown: bool = False
    """Unknown options, extensions and request members are refused, not ignored."""
    ignores_options: bool = False
    """"uv"/"rk" options and largeBlobKey requests it cannot honour are ignored, not refused."""
    credential_list: Callable[[tuple[bytes, ...]], tuple[bytes, ...]] = _whole_list
    """The allowList/excludeList entries the key looks at."""
    stored_cred_protect: Callable[[int], int] = _level_as_asked
    """The credProtect level kept with a new credential."""
    replaces_residents: bool = True
    """A discoverable credential for a stored (rp.id, user.id) overwrites the old one."""
    newest_first: bool = True
    """Discovered credentials come most recently created first."""
    next_assertion_timer: bool = True
    """getNextAssertion refuses to continue 30 s after the previous assertion."""
    identifies_without_uv: bool = False
    """Discovered credentials' user name/displayName are returned without UV."""
    user_field: Callable[[str | None], str | None] = _text_as_given
    """A user name or displayName as stored."""
    single_use_token: bool = True
    """makeCredential/getAssertion take the mc/ga permissions off the token they used."""
    checks_token_permissions: bool = True
    """credMgmt, largeBlobs and config check the token's permission and permissions RP ID."""
    enforces_always_uv: bool = True
    """alwaysUv, once on, is enforced (not only reported)."""
    one_cred_random: bool = False
    """hmac-secret uses the same CredRandom with and without UV."""
    checks_large_blobs: bool = True
    """Large-blob requests are checked: checksum, fragment order, sizes, read offsets."""
    hmac_secret_mc: bool = True
    """makeCredential answers hmac-secret-mc salts with their outputs (CTAP 2.2)."""
    keeps_payment_flag: bool = True
    """A credential made with thirdPartyPayment is kept marked as one (CTAP 2.2)."""
    persistent_token_writes: bool = False
    """The persistent pcmr token also deletes and updates credentials."""
    persistent_token_survives: bool = True
    """The persistent pcmr token outlives a power cycle (CTAP 2.2)."""
    counts_uv_failures: bool = True
    """A non-matching finger lowers uvRetries (built-in UV)."""
    checks_be_permission: bool = True
    """bioEnrollment insists on the token's `be` permission."""
    reset_removes_enrollments: bool = True
    """authenticatorReset removes the enrolled fingers."""
    preview_sign_right_key: bool = True
    """previewSign signs with the generated key it announced (draft sign extension)."""

    @classmethod
    def select(cls, faults: Iterable[Fault | str]) -> CoreFaults:
        active = {Fault(f) for f in faults}
        counters = honest_counters
        if Fault.COUNTER_ROLLBACK in active:  # rollback wins over clone: both break the rule
            counters = rollback_counters
        elif Fault.CLONE in active:
            counters = clone_counters
        return cls(
            rp_hash=_other_rp_hash if Fault.WRONG_RPID_HASH in active else _unchanged,
            flags=_synced if Fault.BACKUP_FLAGS in active else _as_set,
            signature=_flip_last_bit if Fault.BAD_SIGNATURE in active else _unchanged,
            response_body=_truncate if Fault.MALFORMED_CBOR in active else _unchanged,
            withholds_presence=Fault.NO_PRESENCE in active,
            lies_in_u2f_status=Fault.U2F_STATUS in active,
            counters=counters,
            versions=_newest_first if Fault.VERSIONS_ORDER in active else _as_listed,
            retries_without_pin=Fault.PIN_RETRIES_BEFORE_PIN in active,
            force_change_status=(
                CtapStatus.PIN_POLICY_VIOLATION
                if Fault.FORCE_CHANGE_POLICY in active
                else CtapStatus.PIN_INVALID
            ),
            lenient_requests=Fault.LENIENT_REQUESTS in active,
            refuses_unknown=Fault.REFUSES_UNKNOWN in active,
            ignores_options=Fault.OPTIONS_IGNORED in active,
            credential_list=_first_few if Fault.SHORT_LISTS in active else _whole_list,
            stored_cred_protect=(
                _uv_optional if Fault.CRED_PROTECT_IGNORED in active else _level_as_asked
            ),
            replaces_residents=Fault.RK_NOT_REPLACED not in active,
            newest_first=Fault.OLDEST_FIRST not in active,
            next_assertion_timer=Fault.NO_NEXT_TIMER not in active,
            identifies_without_uv=Fault.USER_PII_WITHOUT_UV in active,
            user_field=_cut_text if Fault.TRUNCATED_USER_FIELDS in active else _text_as_given,
            single_use_token=Fault.REUSABLE_TOKEN not in active,
            checks_token_permissions=Fault.TOKEN_PERMISSIONS_IGNORED not in active,
            enforces_always_uv=Fault.ALWAYS_UV_IGNORED not in active,
            one_cred_random=Fault.HMAC_SECRET_ONE_SECRET in active,
            checks_large_blobs=Fault.LAX_LARGE_BLOBS not in active,
            hmac_secret_mc=Fault.HMAC_SECRET_MC_IGNORED not in active,
            keeps_payment_flag=Fault.PAYMENT_FLAG_IGNORED not in active,
            persistent_token_writes=Fault.PCMR_ALLOWS_WRITES in active,
            persistent_token_survives=Fault.PCMR_TOKEN_VOLATILE not in active,
            counts_uv_failures=Fault.UV_RETRIES_NOT_DECREMENTED not in active,
            checks_be_permission=Fault.BIO_ENROLL_IGNORES_PERMISSION not in active,
            reset_removes_enrollments=Fault.BIO_RESET_KEEPS_ENROLLMENTS not in active,
            preview_sign_right_key=Fault.PREVIEW_SIGN_WRONG_KEY not in active,
        )
