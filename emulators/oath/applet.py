"""The YubiKey OATH applet (YKOATH) of the emulated key's card.

Wire format as Yubico documents it (YKOATH protocol, developers.yubico.com/OATH/) and as
yubikey-manager's `yubikit.oath` speaks it; behaviour where the documentation is silent follows
Yubico's open-source applet for the NEO (ykneo-oath), the ancestor of the YubiKey 5's. Every
choice and its source is listed in docs/oath.md.

- SELECT (AID A0 00 00 05 27 21 01) answers 79 version, 71 salt (8 bytes, renewed on RESET;
  the client's device id and the PBKDF2 salt of the password) and, when a password is set,
  74 challenge + 7B algorithm.
- PUT 01, DELETE 02, SET CODE 03, RESET 04 (P1 P2 = DE AD), RENAME 05, LIST A1, CALCULATE A2,
  VALIDATE A3, CALCULATE ALL A4, SEND REMAINING A5.
- The card holds no clock: a TOTP challenge is the time step the client computed, and the
  `NN/` period prefix lives only in the credential's name, where clients read it back.
- With a password set, every command but VALIDATE and RESET answers 6982 until the session
  (one SELECT) is validated: the client answers the card's challenge with HMAC-SHA1 of the
  access key (PBKDF2-HMAC-SHA1 of the password, 1000 rounds, 16 bytes, salted with the salt)
  and the card proves it knows the key by answering the client's challenge the same way.
- Touch-required credentials ask the key's presence policy before CALCULATE, as the FIDO
  applet does for user presence; a refusal or timeout answers 6982.
- Answers longer than the reader takes (at most 255 bytes each) leave in parts: SW 61xx, and
  SEND REMAINING fetches the next part.

Secrets live sealed in the key's state (`emulators.oath.state`); every change is saved at once.
"""

from __future__ import annotations

import hmac
import logging
import struct
import threading
from dataclasses import dataclass
from typing import Any

from tokenbench.emulators.card.apdu import SHORT_MAX_NE, CommandApdu, response
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.faults import Fault
from tokenbench.emulators.ctap.state import StateManager
from tokenbench.emulators.oath.state import (
    DIGITS,
    ID_BYTES,
    MAX_NAME,
    OathCredential,
    OathState,
)
from tokenbench.emulators.oath.wire import (
    BLOCK_SIZES,
    HASHES,
    IMF_BYTES,
    MASK_ALG,
    MASK_TYPE,
    PROP_KNOWN,
    PROP_REQUIRE_TOUCH,
    HashAlg,
    Ins,
    OathError,
    OathType,
    Sw,
    Tag,
    TlvReader,
    hmac_digest,
    tlv,
    truncate,
    wrong_data,
)
from tokenbench.emulators.totp.errors import SealError

log = logging.getLogger(__name__)

OATH_AID = bytes.fromhex("A0000005272101")
MAX_CHUNK = 0xFF  # data bytes per response; the rest waits for SEND REMAINING
CHALLENGE_BYTES = 8
MIN_VALIDATE_CHALLENGE = 8  # ykneo-oath refuses shorter client challenges
RESET_P1P2 = (0xDE, 0xAD)
PERIOD_PREFIX_MAX = 10  # digits of a period prefix the period-ignored fault strips


# -- the applet ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AwaitTouch:
    """A CALCULATE of a touch-required credential, to finish after the user's touch."""

    name: bytes
    challenge: bytes
    truncated: bool


@dataclass
class _Session:
    """What one SELECT of the applet holds: cleared by the next SELECT, a deselect or power."""

    validated: bool = False
    challenge: bytes | None = None  # the SELECT's challenge while a password is set
    pending: bytes = b""  # the rest of a long answer, for SEND REMAINING


class OathApplet:
    """YKOATH over the key's shared state: `select`/`process` take APDUs, return R-APDUs."""

    aid = OATH_AID

    def __init__(
        self,
        store: StateManager,
        env: Any,
        *,
        version: tuple[int, int, int] = (5, 7, 1),
        max_credentials: int = 64,
    ) -> None:
        self.store = store
        self.env = env
        self.version = version
        self.max_credentials = max_credentials
        self._session = _Session()
        self._lock = threading.RLock()

    # -- faults ---------------------------------------------------------------------------------

    def _fault(self, fault: Fault) -> bool:
        faults = getattr(self.env, "faults", None)
        return faults is not None and fault in faults

    # -- the state --------------------------------------------------------------------------------

    @property
    def state(self) -> OathState:
        """The applet's state, created (and saved) the first time the applet is used."""
        with self.store.lock:
            key_state = self.store.state
            if key_state.oath is None:
                key_state.oath = OathState.fresh(self.env.rng)
                self.store.save()
            return key_state.oath

    def _save(self) -> None:
        self.store.save()

    # -- card interface ---------------------------------------------------------------------------

    def select(self, apdu: CommandApdu) -> bytes:
        with self._lock, self.store.lock:
            state = self.state
            self._session = _Session()
            answer = tlv(Tag.VERSION, bytes(self.version)) + tlv(Tag.NAME, state.salt)
            if state.access_key is not None:
                challenge = self.env.rng(CHALLENGE_BYTES)
                self._session.challenge = challenge
                answer += tlv(Tag.CHALLENGE, challenge) + tlv(Tag.ALGORITHM, b"\x01")
            return response(answer, Sw.OK)

    def deselect(self) -> None:
        with self._lock:
            self._session = _Session()

    def power_cycle(self) -> None:
        self.deselect()

    def process(self, apdu: CommandApdu) -> bytes:
        """One command -> R-APDU; never raises.

        The key's state lock is held while the command reads or changes the state, but not while
        a touch-required CALCULATE waits for the user: the FIDO side of the key and the control
        channel's status go on meanwhile.
        """
        with self._lock:
            try:
                data, status = self._process(apdu)
            except OathError as exc:
                log.debug("OATH %02x refused: %s", apdu.ins, exc)
                data, status = b"", exc.status
            except SealError as exc:  # as a YubiKey reports a damaged credential
                log.warning("OATH credential does not open: %s", exc)
                data, status = b"", Sw.MEMORY_FAILURE
            except Exception:
                log.exception("OATH applet failed on INS %02x", apdu.ins)
                data, status = b"", Sw.NO_PRECISE_DIAGNOSIS
                self._resync()
            if (
                self._fault(Fault.OATH_WRONG_STATUS_WORDS)
                and status != Sw.OK
                and status >> 8 != 0x61
            ):
                status = Sw.NO_PRECISE_DIAGNOSIS
            return response(data, status)

    # -- dispatch ---------------------------------------------------------------------------------

    def _resync(self) -> None:
        """After a failure (e.g. a state write that failed), forget changes that never reached
        the store, as the FIDO side does: memory matches what a restart would see."""
        try:
            self.store.reload()
        except Exception:
            log.exception("could not re-read the key state")

    def _process(self, apdu: CommandApdu) -> tuple[bytes, int]:
        with self.store.lock:
            outcome = self._process_locked(apdu)
        if not isinstance(outcome, _AwaitTouch):
            return outcome
        self._require_touch()
        with self.store.lock:
            state = self.state
            credential = self._find(state, outcome.name)
            return self._send(self._answer_calculate(state, credential, outcome), apdu)

    def _process_locked(self, apdu: CommandApdu) -> tuple[bytes, int] | _AwaitTouch:
        session = self._session
        if apdu.ins == Ins.SEND_REMAINING:
            pending, session.pending = session.pending, b""
            return self._send(pending, apdu)
        session.pending = b""
        state = self.state
        if (
            state.access_key is not None
            and not session.validated
            and apdu.ins not in (Ins.VALIDATE, Ins.RESET)
            and not self._fault(Fault.OATH_PASSWORD_IGNORED)
        ):
            raise OathError(Sw.AUTH_REQUIRED, "VALIDATE first")
        handlers = {
            Ins.PUT: self._put,
            Ins.DELETE: self._delete,
            Ins.SET_CODE: self._set_code,
            Ins.RESET: self._reset,
            Ins.RENAME: self._rename,
            Ins.LIST: self._list,
            Ins.CALCULATE: self._calculate,
            Ins.VALIDATE: self._validate,
            Ins.CALCULATE_ALL: self._calculate_all,
        }
        handler = handlers.get(apdu.ins)  # type: ignore[call-overload]
        if handler is None:
            raise OathError(Sw.INS_NOT_SUPPORTED)
        p1p2 = (apdu.p1, apdu.p2)
        if apdu.ins == Ins.RESET:
            if p1p2 != RESET_P1P2:
                raise OathError(Sw.WRONG_P1P2)
        elif apdu.ins in (Ins.CALCULATE, Ins.CALCULATE_ALL):
            if apdu.p1 != 0 or apdu.p2 not in (0, 1):
                raise OathError(Sw.WRONG_P1P2)
        elif p1p2 != (0, 0):
            raise OathError(Sw.WRONG_P1P2)
        answer: bytes | _AwaitTouch = handler(state, apdu)
        if isinstance(answer, _AwaitTouch):
            return answer
        return self._send(answer, apdu)

    def _send(self, data: bytes, apdu: CommandApdu) -> tuple[bytes, int]:
        """At most one response's worth of `data`; the rest waits for SEND REMAINING."""
        limit = min(apdu.ne or SHORT_MAX_NE, MAX_CHUNK)
        chunk, rest = data[:limit], data[limit:]
        if not rest or self._fault(Fault.OATH_NO_SEND_REMAINING):
            return chunk, Sw.OK
        self._session.pending = rest
        return chunk, 0x6100 | min(len(rest), 0xFF)

    # -- PUT / DELETE / RENAME / LIST -------------------------------------------------------------

    def _put(self, state: OathState, apdu: CommandApdu) -> bytes:
        reader = TlvReader(apdu.data)
        name = reader.read(Tag.NAME)
        key_field = reader.read(Tag.KEY)
        touch = False
        imf = 0
        while not reader.at_end:
            tag = reader.byte()
            if tag == Tag.PROPERTY:
                prop = reader.byte()
                if prop & ~PROP_KNOWN:
                    raise wrong_data("unknown property")
                touch = bool(prop & PROP_REQUIRE_TOUCH)
            elif tag == Tag.IMF:
                reader.pos -= 1
                value = reader.read(Tag.IMF)
                if len(value) != IMF_BYTES:
                    raise wrong_data("IMF is 4 bytes")
                imf = int.from_bytes(value, "big")
            else:
                raise wrong_data(f"unexpected tag {tag:02x} in PUT")
        if len(key_field) < 2:
            raise wrong_data("key TLV without type and digits")
        kind, digits, secret = key_field[0], key_field[1], key_field[2:]
        oath_type, alg = kind & MASK_TYPE, kind & MASK_ALG
        if oath_type not in (OathType.HOTP, OathType.TOTP) or alg not in HASHES:
            raise wrong_data("unknown OATH type or hash algorithm")
        if digits not in DIGITS:
            raise wrong_data("digits must be 6, 7 or 8")
        if not 0 < len(secret) <= BLOCK_SIZES[HashAlg(alg)]:
            raise wrong_data("key longer than the hash's block size (clients hash such keys first)")
        if oath_type == OathType.TOTP and self._fault(Fault.OATH_PERIOD_IGNORED):
            name = _strip_period(name)
        if not 0 < len(name) <= MAX_NAME:
            raise wrong_data("name must be 1 to 64 bytes")
        existing = state.find(name)
        if existing is None and len(state.credentials) >= self.max_credentials:
            raise OathError(Sw.NO_SPACE)
        record_id = self.env.rng(ID_BYTES)
        credential = OathCredential(
            id=record_id,
            name=name,
            kind=kind,
            digits=digits,
            sealed_key=state.seal(record_id, bytes(secret)),
            touch=touch,
            counter=imf if oath_type == OathType.HOTP else 0,
        )
        if existing is None:
            state.credentials.append(credential)
        else:  # overwrite in place, as the applet does for a name it already holds
            state.credentials[state.credentials.index(existing)] = credential
        self._save()
        return b""

    def _delete(self, state: OathState, apdu: CommandApdu) -> bytes:
        reader = TlvReader(apdu.data)
        credential = self._find(state, reader.read(Tag.NAME))
        state.credentials.remove(credential)
        self._save()
        return b""

    def _rename(self, state: OathState, apdu: CommandApdu) -> bytes:
        reader = TlvReader(apdu.data)
        old = reader.read(Tag.NAME)
        new = reader.read(Tag.NAME)
        reader.done()
        if not 0 < len(new) <= MAX_NAME:
            raise wrong_data("name must be 1 to 64 bytes")
        credential = self._find(state, old)
        if new != old and state.find(new) is not None:
            raise wrong_data("a credential of the new name exists")
        credential.name = new
        self._save()
        return b""

    def _list(self, state: OathState, apdu: CommandApdu) -> bytes:
        return b"".join(tlv(Tag.NAME_LIST, bytes((c.kind,)) + c.name) for c in state.credentials)

    def _find(self, state: OathState, name: bytes) -> OathCredential:
        credential = state.find(name)
        if credential is None:
            raise OathError(Sw.NO_SUCH_OBJECT, "no such credential")
        return credential

    # -- CALCULATE / CALCULATE ALL -----------------------------------------------------------------

    def _calculate(self, state: OathState, apdu: CommandApdu) -> bytes | _AwaitTouch:
        reader = TlvReader(apdu.data)
        name = reader.read(Tag.NAME)
        credential = self._find(state, name)
        challenge = reader.read(Tag.CHALLENGE)
        reader.done()
        request = _AwaitTouch(name, challenge, truncated=apdu.p2 == 1)
        if credential.touch and not self._fault(Fault.OATH_TOUCH_IGNORED):
            return request  # answered by _process once the user has touched the key
        return self._answer_calculate(state, credential, request)

    def _answer_calculate(
        self, state: OathState, credential: OathCredential, request: _AwaitTouch
    ) -> bytes:
        digest = self._digest(state, credential, request.challenge)
        return self._code_tlv(credential, digest, truncated=request.truncated)

    def _calculate_all(self, state: OathState, apdu: CommandApdu) -> bytes:
        reader = TlvReader(apdu.data)
        challenge = reader.read(Tag.CHALLENGE)
        reader.done()
        compute_all = self._fault(Fault.OATH_CALCULATE_ALL_COMPUTES_HOTP)
        touch_ignored = self._fault(Fault.OATH_TOUCH_IGNORED)
        out = bytearray()
        for credential in list(state.credentials):
            out += tlv(Tag.NAME, credential.name)
            digits = bytes((credential.digits,))
            hotp = credential.kind & MASK_TYPE == OathType.HOTP
            if hotp and not compute_all:
                out += tlv(Tag.HOTP, digits)
            elif credential.touch and not (compute_all or touch_ignored):
                out += tlv(Tag.TOUCH, digits)
            else:
                digest = self._digest(state, credential, challenge)
                out += self._code_tlv(credential, digest, truncated=apdu.p2 == 1)
        return bytes(out)

    def _digest(self, state: OathState, credential: OathCredential, challenge: bytes) -> bytes:
        key = state.key_of(credential)
        alg = credential.kind & MASK_ALG
        if credential.kind & MASK_TYPE == OathType.HOTP:
            message = struct.pack(">Q", credential.counter)
            if not self._fault(Fault.OATH_HOTP_COUNTER_STUCK):
                credential.counter = (credential.counter + 1) % 2**64
                self._save()
        else:
            message = challenge
        return hmac_digest(alg, key, message)

    def _code_tlv(self, credential: OathCredential, digest: bytes, *, truncated: bool) -> bytes:
        digits = bytes((credential.digits,))
        if truncated:
            wrong = self._fault(Fault.OATH_WRONG_TRUNCATION)
            return tlv(Tag.TRUNCATED, digits + truncate(digest, off_by_one=wrong))
        return tlv(Tag.RESPONSE, digits + digest)

    def _require_touch(self) -> None:
        try:
            touched = self.env.presence.request(None, "oath calculate")
        except CtapError:  # nobody touched in time, or the wait was cancelled
            touched = False
        if not touched:
            raise OathError(Sw.AUTH_REQUIRED, "touch refused or timed out")

    # -- SET CODE / VALIDATE / RESET --------------------------------------------------------------

    def _set_code(self, state: OathState, apdu: CommandApdu) -> bytes:
        reader = TlvReader(apdu.data)
        key_field = reader.read(Tag.KEY)
        if not key_field:  # an empty key removes the password
            reader.done()
            state.set_access(None)
            self._save()
            return b""
        kind, key = key_field[0], key_field[1:]
        alg = kind & MASK_ALG
        if kind & MASK_TYPE != OathType.TOTP or alg not in (HashAlg.SHA1, HashAlg.SHA256):
            raise wrong_data("access key type")
        if not key:
            raise wrong_data("empty access key")
        challenge = reader.read(Tag.CHALLENGE)
        answer = reader.read(Tag.RESPONSE)
        reader.done()
        if not challenge:
            raise wrong_data("SET CODE without a challenge")
        expected = hmac_digest(alg, key, challenge)
        if len(answer) != len(expected):
            raise wrong_data("response length")
        if not hmac.compare_digest(answer, expected):
            raise OathError(Sw.NO_SUCH_OBJECT, "the response does not prove the new key")
        state.set_access(bytes(key), kind)
        self._save()
        # The session that set the password stays usable (YubiKey 4 and later; yubikit
        # re-selects and validates only for the NEO).
        self._session.validated = True
        return b""

    def _validate(self, state: OathState, apdu: CommandApdu) -> bytes:
        key = state.access()
        if key is None:
            raise OathError(Sw.NO_SUCH_OBJECT, "no password is set")
        alg = state.access_kind & MASK_ALG
        reader = TlvReader(apdu.data)
        answer = reader.read(Tag.RESPONSE)
        host_challenge = reader.read(Tag.CHALLENGE)
        reader.done()
        card_challenge = self._session.challenge
        if card_challenge is None:
            raise wrong_data("no challenge outstanding (SELECT first)")
        expected = hmac_digest(alg, key, card_challenge)
        if len(answer) != len(expected) or not hmac.compare_digest(answer, expected):
            raise wrong_data("wrong response: wrong password")
        if len(host_challenge) < MIN_VALIDATE_CHALLENGE:
            raise wrong_data("client challenge shorter than 8 bytes")
        self._session.validated = True
        self._session.challenge = None
        return tlv(Tag.RESPONSE, hmac_digest(alg, key, host_challenge))

    def _reset(self, state: OathState, apdu: CommandApdu) -> bytes:
        keep = self._fault(Fault.OATH_RESET_KEEPS_ACCOUNTS)
        with self.store.lock:
            if keep:
                state.set_access(None)
                state.salt = self.env.rng(len(state.salt))
            else:
                self.store.state.oath = OathState.fresh(self.env.rng)
            self._save()
        self._session = _Session()
        return b""

    # -- for tests and the control channel -----------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Plain, secret-free facts for `EmulatedKey.status()`."""
        with self.store.lock:
            oath = self.store.state.oath
            if oath is None:
                return {"credentials": 0, "password": False}
            return {"credentials": len(oath.credentials), "password": oath.access_key is not None}


def _strip_period(name: bytes) -> bytes:
    """`60/aws:alice` -> `aws:alice` (the oath-period-ignored fault)."""
    head, sep, rest = name.partition(b"/")
    if sep and head.isdigit() and len(head) <= PERIOD_PREFIX_MAX and rest:
        return rest
    return name
