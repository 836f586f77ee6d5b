"""Named faults that make an emulated key misbehave on purpose.

Suites, clients and verifiers are proven by showing that each fault is detected by the
side that should detect it. Core faults are applied by the authenticator, transport faults
by the framing layers; both read the same `FaultSet`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Fault(StrEnum):
    BAD_SIGNATURE = "bad-signature"  # core: assertion/attestation signatures do not verify
    COUNTER_ROLLBACK = "counter-rollback"  # core: signature counter goes backwards
    CLONE = "clone"  # core: two emulators share one state (counters diverge)
    WRONG_RPID_HASH = "wrong-rpid-hash"  # core: authenticatorData carries another RP's hash
    MALFORMED_CBOR = "malformed-cbor"  # core: responses are not valid CBOR
    NO_PRESENCE = "no-presence"  # core: UP flag never set / presence never obtained
    U2F_STATUS = "u2f-status"  # core: U2F status words lie (success 6F00, any error 9000)
    DROP_PACKET = "drop-packet"  # transport: some outgoing reports are lost
    DUPLICATE_PACKET = "duplicate-packet"  # transport: some outgoing reports are sent twice
    SLOW = "slow"  # transport: responses come late, with keepalives meanwhile
    BAD_LENGTH = "bad-length"  # transport: every message announces one byte more than it holds
    NO_ERRORS = "no-errors"  # transport: CTAPHID_ERROR is never sent; bad requests go unanswered
    FIXED_CID = "fixed-cid"  # transport: every broadcast INIT allocates the same channel id
    NO_KEEPALIVE = "no-keepalive"  # transport: no KEEPALIVE while a command runs or waits
    LAX_CONTINUATION = "lax-continuation"  # transport: continuation packets join the message
    # being assembled whatever their sequence number or channel (no ERR_INVALID_SEQ)
    NO_MSG_TIMEOUT = "no-msg-timeout"  # transport: an unfinished message never times out, so
    # its channel holds the key busy for good
    CANCEL_UNKNOWN = "cancel-unknown"  # transport: CTAPHID_CANCEL is answered ERR_INVALID_CMD,
    # as U2F-era firmware that never learnt the command does
    INIT_UNKNOWN_CHANNEL = "init-unknown-channel"  # transport: INIT on a never-allocated
    # channel is refused with ERR_INVALID_CHANNEL instead of answered on that channel
    PIN_RETRIES_BEFORE_PIN = "pin-retries-before-pin"  # core: getPINRetries answers 8 on a
    # key without a PIN instead of PIN_NOT_SET
    FORCE_CHANGE_POLICY = "force-change-policy"  # core: a token request under forcePINChange
    # answers PIN_POLICY_VIOLATION instead of PIN_INVALID
    VERSIONS_ORDER = "versions-order"  # core: getInfo lists versions newest first (FIDO_2_1,
    # FIDO_2_0, U2F_V2) instead of U2F_V2 then ascending, as deployed keys do
    LENIENT_REQUESTS = "lenient-requests"  # core: mistyped or incomplete request members,
    # descriptor types, pinUvAuthProtocol, a zero-length pinUvAuthParam and hmac-secret salts
    # go unchecked (only the first salt is used)
    REFUSES_UNKNOWN = "refuses-unknown"  # core: unknown options, extensions and request
    # members are refused instead of ignored
    OPTIONS_IGNORED = "options-ignored"  # core: "uv"/"rk" options and largeBlobKey requests
    # the key cannot honour are ignored instead of refused
    SHORT_LISTS = "short-lists"  # core: only the first 4 allowList/excludeList entries are
    # looked at, though getInfo claims maxCredentialCountInList 8
    CRED_PROTECT_IGNORED = "cred-protect-ignored"  # core: credProtect is echoed but every
    # credential is kept as userVerificationOptional
    RK_NOT_REPLACED = "rk-not-replaced"  # core: a discoverable credential for a stored
    # (rp.id, user.id) is added beside the old one instead of overwriting it
    OLDEST_FIRST = "oldest-first"  # core: discovered credentials come oldest first
    NO_NEXT_TIMER = "no-next-timer"  # core: getNextAssertion has no 30-second timer
    USER_PII_WITHOUT_UV = "user-pii-without-uv"  # core: discovered credentials' user name
    # and displayName are returned without user verification
    TRUNCATED_USER_FIELDS = "truncated-user-fields"  # core: user name and displayName are
    # stored cut to 32 bytes
    REUSABLE_TOKEN = "reusable-token"  # core: a pinUvAuthToken keeps its mc/ga permissions
    # after makeCredential/getAssertion used it
    TOKEN_PERMISSIONS_IGNORED = "token-permissions-ignored"  # core: credMgmt, largeBlobs and
    # config check a token's MAC but not its permissions or permissions RP ID
    ALWAYS_UV_IGNORED = "always-uv-ignored"  # core: alwaysUv is reported but not enforced
    HMAC_SECRET_ONE_SECRET = "hmac-secret-one-secret"  # core: hmac-secret uses one
    # CredRandom with and without user verification
    LAX_LARGE_BLOBS = "lax-large-blobs"  # core: large-blob requests are not checked
    # (checksum, fragment order, sizes, read offsets)
    HMAC_SECRET_MC_IGNORED = "hmac-secret-mc-ignored"  # core: a key claiming CTAP 2.2's
    # hmac-secret-mc answers makeCredential without the hmac-secret-mc output
    PAYMENT_FLAG_IGNORED = "payment-flag-ignored"  # core: thirdPartyPayment is echoed at
    # makeCredential but not kept: getAssertion and credMgmt report the credential as not one
    PCMR_ALLOWS_WRITES = "pcmr-allows-writes"  # core: the persistent (pcmr) token also
    # deletes and updates credentials, not only lists them
    PCMR_TOKEN_VOLATILE = "pcmr-token-volatile"  # core: the persistent (pcmr) token is lost
    # at power-off, like an ordinary pinUvAuthToken
    BACKUP_FLAGS = "backup-flags"  # core: authenticatorData claims a synced passkey (BE and BS
    # set) though the credential lives on this one key
    PREVIEW_SIGN_WRONG_KEY = "preview-sign-wrong-key"  # core: previewSign signs with a key
    # other than the one its makeCredential output announced
    UV_RETRIES_NOT_DECREMENTED = "uv-retries-not-decremented"  # core: a finger that matches
    # no template leaves uvRetries as it was, so built-in UV never blocks
    BIO_ENROLL_IGNORES_PERMISSION = "bio-enroll-ignores-permission"  # core: bioEnrollment
    # checks a token's MAC but not its `be` permission
    BIO_RESET_KEEPS_ENROLLMENTS = "bio-reset-keeps-enrollments"  # core: authenticatorReset
    # leaves the enrolled fingers (and built-in UV) in place
    # The OATH applet on the key's card (emulators.oath.applet):
    OATH_WRONG_TRUNCATION = "oath-wrong-truncation"  # oath: dynamic truncation reads its four
    # bytes one past the offset RFC 4226 §5.3 names
    OATH_HOTP_COUNTER_STUCK = "oath-hotp-counter-stuck"  # oath: CALCULATE does not advance the
    # HOTP counter (the same code every time)
    OATH_TOUCH_IGNORED = "oath-touch-ignored"  # oath: touch-required credentials are computed
    # without asking for presence (CALCULATE ALL answers them with codes too)
    OATH_CALCULATE_ALL_COMPUTES_HOTP = "oath-calculate-all-computes-hotp"  # oath: CALCULATE
    # ALL computes HOTP (advancing counters) and touch-required codes instead of answering
    # them uncomputed (tags 77 / 7C)
    OATH_PASSWORD_IGNORED = "oath-password-ignored"  # oath: with a password set, every
    # command works without VALIDATE
    OATH_RESET_KEEPS_ACCOUNTS = "oath-reset-keeps-accounts"  # oath: RESET removes the
    # password and renews the salt but leaves the accounts
    OATH_NO_SEND_REMAINING = "oath-no-send-remaining"  # oath: answers longer than one
    # response are cut with 9000 instead of chained with 61xx + SEND REMAINING
    OATH_WRONG_STATUS_WORDS = "oath-wrong-status-words"  # oath: every error answers 6F00
    # instead of its specific status word
    OATH_PERIOD_IGNORED = "oath-period-ignored"  # oath: the "NN/" period prefix of a TOTP
    # name is dropped on PUT, so every TOTP credential is stored and listed as a 30 s one


class FaultSet(frozenset[Fault]):
    """The faults active on one emulated key."""

    @classmethod
    def parse(cls, names: Iterable[str] | str | None) -> FaultSet:
        if names is None:
            return cls()
        if isinstance(names, str):
            names = [n for n in names.replace("+", ",").split(",") if n]
        faults = []
        for name in names:
            try:
                faults.append(Fault(name))
            except ValueError:
                known = ", ".join(f.value for f in Fault)
                raise ValueError(f"unknown fault {name!r} (known: {known})") from None
        return cls(faults)

    def __contains__(self, item: object) -> bool:
        return frozenset.__contains__(self, Fault(item) if isinstance(item, str) else item)
