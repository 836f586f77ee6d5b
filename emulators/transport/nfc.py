"""The card side of CTAP over NFC: an ISO 7816-4 FIDO applet around the transport-free core.

CTAP 2.1 §11.3 maps CTAP onto ISO 7816-4 APDUs. A reader first SELECTs the FIDO applet (AID
A0000006472F0001) and gets the version string back ("U2F_V2" when CTAP1 works too, "FIDO_2_0"
for a CTAP2-only key). CTAP2 requests travel in NFCCTAP_MSG (80 10); when the reader sets P1 bit
0x80 it can poll a running command with NFCCTAP_GETRESPONSE (80 11), and the card answers
9100 + keepalive status byte until the result is ready (P1 0x11 on the poll cancels it).
CTAP1/U2F requests are plain U2F APDUs (INS 01/02/03). Long commands arrive in ISO command
chains (CLA bit 0x10) or extended APDUs; long answers leave through 61XX + GET RESPONSE.

Other applets sit next to the FIDO one on the same card, as on a YubiKey 5 NFC: `applets`
(`emulators.card.applet.Applet`, e.g. the OATH and Management applets of `emulators.oath`) are
selected by their AIDs, and while one is selected every command after the SELECT goes to it,
command chains assembled and long answers chained (61XX + GET RESPONSE) by the card as for FIDO.

`NfcCard` is that state machine. It knows nothing of readers: `vpcd.py` feeds it APDUs and
power events from vsmartcard's virtual reader, tests feed it bytes directly. Every malformed or
unexpected APDU is answered with an ISO status word; nothing a reader sends makes it raise.

Deliberate breakages (`NfcBreakage`) make the card violate the framing in one named way, so the
bench's `nfc` suite can be shown to catch each of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from tokenbench.emulators.card.apdu import (
    CLA_PROPRIETARY,
    EXTENDED_MAX_NE,
    SHORT_MAX_NE,
    ApduError,
    CommandApdu,
    ResponseChain,
    StatusWord,
    response,
    split_response,
)
from tokenbench.emulators.card.applet import Applet
from tokenbench.emulators.ctap.faults import Fault
from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction

log = logging.getLogger(__name__)

FIDO_AID = bytes.fromhex("A0000006472F0001")
VERSION_U2F = b"U2F_V2"  # SELECT answer of a key that also speaks CTAP1/U2F
VERSION_FIDO2_ONLY = b"FIDO_2_0"  # SELECT answer of a CTAP2-only key
GETINFO_VERSIONS_KEY = 0x01
MAX_CHAINED_COMMAND = 65535  # longest command data accepted through command chaining
WORKER_JOIN_TIMEOUT = 5.0  # seconds to wait for a cancelled command when the field drops
SLOW_FAULT_STATUS_UPDATES = 3  # Fault.SLOW: this many 9100 answers before every result


class Ins(IntEnum):
    """Instruction bytes the FIDO applet knows."""

    SELECT = 0xA4
    GET_RESPONSE = 0xC0
    NFCCTAP_MSG = 0x10
    NFCCTAP_GETRESPONSE = 0x11
    U2F_REGISTER = 0x01
    U2F_AUTHENTICATE = 0x02
    U2F_VERSION = 0x03


SELECT_BY_DF_NAME = 0x04  # SELECT P1: select by AID
SELECT_FIRST_OR_ONLY = (0x00, 0x0C)  # SELECT P2 values accepted (FCI / no FCI requested)
NFCCTAP_MSG_GETRESPONSE_SUPPORTED = 0x80  # NFCCTAP_MSG P1: the client polls with 80 11
NFCCTAP_GETRESPONSE_CANCEL = 0x11  # NFCCTAP_GETRESPONSE P1: cancel the running command
U2F_INSTRUCTIONS = frozenset((Ins.U2F_REGISTER, Ins.U2F_AUTHENTICATE, Ins.U2F_VERSION))


class NfcBreakage(StrEnum):
    """Ways to make the card break ISO 7816 / CTAP NFC framing on purpose (for suite proofs)."""

    NO_COMMAND_CHAINING = "no-command-chaining"  # each chained fragment is taken as a whole command
    NO_RESPONSE_CHAINING = "no-response-chaining"  # long answers are cut to Ne, no 61XX
    SELECT_ANY_AID = "select-any-aid"  # SELECT answers 9000 to every AID
    SHORT_ANSWERS = "short-answers"  # extended-length requests, too, get 256 bytes and 61XX

    @classmethod
    def parse(cls, names: Iterable[str] | str | None) -> frozenset[NfcBreakage]:
        if names is None:
            return frozenset()
        if isinstance(names, str):
            names = [n for n in names.replace("+", ",").split(",") if n]
        out = set()
        for name in names:
            try:
                out.add(cls(name))
            except ValueError:
                known = ", ".join(b.value for b in cls)
                raise ValueError(f"unknown NFC breakage {name!r} (known: {known})") from None
        return frozenset(out)


class CtapCore(Protocol):
    """What the card needs from the authenticator core (`emulators.ctap.authenticator`)."""

    def process(self, request: bytes, transaction: Transaction | None = None) -> bytes: ...

    def process_u2f(self, apdu: bytes, transaction: Transaction | None = None) -> bytes: ...

    def power_cycle(self) -> None: ...


@dataclass
class _Running:
    """One NFCCTAP_MSG command executing on a worker thread."""

    transaction: Transaction
    done: threading.Event = field(default_factory=threading.Event)
    result: bytes = b""
    thread: threading.Thread | None = None
    status_updates_owed: int = 0


@dataclass
class _Chain:
    """Command data collected from an ISO command chain."""

    header: tuple[int, int, int, int]
    data: bytearray = field(default_factory=bytearray)


def _core_supports_u2f(core: object) -> bool:
    """CTAP1 is offered when the core's getInfo versions (which change, e.g. alwaysUv turns
    U2F off) or, for a core without getInfo, its profile list U2F_V2."""
    info: Any = getattr(core, "info", None)
    if isinstance(info, dict) and GETINFO_VERSIONS_KEY in info:
        return "U2F_V2" in info[GETINFO_VERSIONS_KEY]
    profile_u2f = getattr(getattr(core, "profile", None), "u2f", None)
    return profile_u2f if isinstance(profile_u2f, bool) else True


def _core_faults(core: object) -> frozenset[Any]:
    env = getattr(core, "env", None)
    faults = getattr(env, "faults", None)
    return frozenset(faults) if faults is not None else frozenset()


class NfcCard:
    """The FIDO applet on a contactless card: APDUs and field power events in, R-APDUs out."""

    def __init__(
        self,
        core: CtapCore,
        *,
        u2f: bool | None = None,
        breakages: Iterable[NfcBreakage] = (),
        status_wait: float = 0.05,
        applets: Iterable[Applet] = (),
    ) -> None:
        self.core = core
        self.applets: dict[bytes, Applet] = {bytes(a.aid): a for a in applets}
        self._current: Applet | None = None  # the selected applet other than FIDO
        self._u2f_override = u2f
        self.breakages = frozenset(breakages)
        self.status_wait = status_wait
        self._slow = Fault.SLOW in _core_faults(core)
        self._lock = threading.RLock()
        self._selected = False
        self._chain: _Chain | None = None
        self._responses = ResponseChain()
        self._running: _Running | None = None

    # -- field power ------------------------------------------------------------------------

    @property
    def selected(self) -> bool:
        """Whether the FIDO applet is selected."""
        return self._selected

    @property
    def current_applet(self) -> Applet | None:
        """The selected applet other than FIDO, if any."""
        return self._current

    @property
    def u2f(self) -> bool:
        """Whether the applet answers SELECT with U2F_V2 and takes U2F instructions (now)."""
        if self._u2f_override is not None:
            return self._u2f_override
        return _core_supports_u2f(self.core)

    def power_on(self) -> None:
        """The reader's field came up: the card boots with no applet selected."""
        with self._lock:
            self._forget_session()

    def power_off(self) -> None:
        """The field dropped: a running command is cancelled, volatile core state is lost."""
        with self._lock:
            self._cancel_running()
            self._forget_session()
            self.core.power_cycle()
            for applet in self.applets.values():
                applet.power_cycle()

    def reset(self) -> None:
        """Warm reset from the reader: for a contactless card the field is cycled."""
        self.power_off()
        self.power_on()

    # -- APDUs --------------------------------------------------------------------------------

    def transmit(self, raw: bytes) -> bytes:
        """Answer one command APDU with an R-APDU (data + SW1 SW2); never raises."""
        with self._lock:
            try:
                apdu = CommandApdu.parse(bytes(raw))
                return self._dispatch(apdu)
            except ApduError as exc:
                return exc.status.to_bytes()
            except Exception:
                log.exception("unexpected error while answering an APDU")
                self._chain = None
                return StatusWord.NO_PRECISE_DIAGNOSIS.to_bytes()

    def _dispatch(self, apdu: CommandApdu) -> bytes:
        cla = apdu.base_cla
        if cla not in (0x00, CLA_PROPRIETARY):
            if not cla & CLA_PROPRIETARY and cla & 0x03:
                raise ApduError(StatusWord.LOGICAL_CHANNEL_NOT_SUPPORTED)
            raise ApduError(StatusWord.CLA_NOT_SUPPORTED)
        if cla == 0x00 and apdu.ins == Ins.SELECT and self._is_select(apdu):
            self._chain = None
            self._responses.clear()
            return self._select(apdu)
        if (
            cla == 0x00
            and apdu.ins == Ins.GET_RESPONSE
            and (self._current is None or self._responses.pending)
        ):
            return self._get_response(apdu)
        self._responses.clear()
        if not self._selected and self._current is None:
            raise ApduError(StatusWord.INS_NOT_SUPPORTED, "no applet selected")
        data = self._collect_chain(apdu)
        if data is None:
            return StatusWord.SUCCESS.to_bytes()
        if self._current is not None:
            return self._applet_command(self._current, apdu, data)
        if cla == CLA_PROPRIETARY and apdu.ins == Ins.NFCCTAP_MSG:
            return self._ctap_msg(apdu, data)
        if cla == CLA_PROPRIETARY and apdu.ins == Ins.NFCCTAP_GETRESPONSE:
            return self._ctap_get_response(apdu)
        if cla == 0x00 and apdu.ins in U2F_INSTRUCTIONS:
            return self._u2f(apdu, data)
        raise ApduError(StatusWord.INS_NOT_SUPPORTED)

    def _is_select(self, apdu: CommandApdu) -> bool:
        """INS A4 is ISO SELECT, except that a selected applet may use it for its own command
        with another P1 (YKOATH's CALCULATE ALL is 00 A4 00 0x): as on a Java Card, only a
        select by DF name is the card's while another applet is selected."""
        return self._current is None or apdu.p1 == SELECT_BY_DF_NAME

    def _select(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != SELECT_BY_DF_NAME or apdu.p2 not in SELECT_FIRST_OR_ONLY:
            raise ApduError(StatusWord.INCORRECT_P1_P2)
        applet = self.applets.get(apdu.data) if apdu.data != FIDO_AID else None
        if self._selected and apdu.data != FIDO_AID:  # selecting another application
            self._cancel_running()  # deselects FIDO
            self._selected = False
        if self._current is not None and self._current is not applet:
            self._current.deselect()
            self._current = None
        if applet is not None:
            self._current = applet
            payload, status = split_response(applet.select(apdu))
            if status != StatusWord.SUCCESS:
                self._current = None
            return self._answer(apdu, payload, status)
        if apdu.data != FIDO_AID and NfcBreakage.SELECT_ANY_AID not in self.breakages:
            raise ApduError(StatusWord.FILE_NOT_FOUND, "unknown AID")
        self._selected = True
        version = VERSION_U2F if self.u2f else VERSION_FIDO2_ONLY
        return self._answer(apdu, version)

    def _get_response(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 or apdu.p2:
            raise ApduError(StatusWord.INCORRECT_P1_P2)
        if not self._responses.pending:
            raise ApduError(StatusWord.CONDITIONS_NOT_SATISFIED, "no response data left")
        return self._responses.next(self._ne(apdu))

    def _collect_chain(self, apdu: CommandApdu) -> bytes | None:
        """Command chaining: None while the chain goes on, the whole data on its last link."""
        header = (apdu.base_cla, apdu.ins, apdu.p1, apdu.p2)
        if self._chain is not None and self._chain.header != header:
            self._chain = None
            raise ApduError(StatusWord.LAST_COMMAND_OF_CHAIN_EXPECTED)
        if NfcBreakage.NO_COMMAND_CHAINING in self.breakages:
            return apdu.data
        chain = self._chain or _Chain(header)
        if len(chain.data) + len(apdu.data) > MAX_CHAINED_COMMAND:
            self._chain = None
            raise ApduError(StatusWord.WRONG_LENGTH, "command chain too long")
        chain.data += apdu.data
        if apdu.chained:
            self._chain = chain
            return None
        self._chain = None
        return bytes(chain.data)

    # -- other applets ---------------------------------------------------------------------------

    def _applet_command(self, applet: Applet, apdu: CommandApdu, data: bytes) -> bytes:
        """A whole command (chain assembled) for the selected applet; its answer leaves through
        the card's response chaining when longer than the reader's Ne."""
        whole = CommandApdu(apdu.base_cla, apdu.ins, apdu.p1, apdu.p2, data, apdu.ne, apdu.extended)
        payload, status = split_response(applet.process(whole))
        return self._answer(apdu, payload, status)

    # -- CTAP2 -----------------------------------------------------------------------------------

    def _ctap_msg(self, apdu: CommandApdu, data: bytes) -> bytes:
        if apdu.p1 not in (0x00, NFCCTAP_MSG_GETRESPONSE_SUPPORTED) or apdu.p2:
            raise ApduError(StatusWord.INCORRECT_P1_P2)
        if not data:
            raise ApduError(StatusWord.WRONG_LENGTH, "NFCCTAP_MSG without a CTAP command")
        if self._busy():
            raise ApduError(StatusWord.CONDITIONS_NOT_SATISFIED, "a command is still running")
        running = self._start(data)
        if apdu.p1 & NFCCTAP_MSG_GETRESPONSE_SUPPORTED:
            return self._poll(apdu, running)
        running.done.wait()  # the reader waits; a real card would ask for waiting time
        return self._finish(apdu, running)

    def _ctap_get_response(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 not in (0x00, NFCCTAP_GETRESPONSE_CANCEL) or apdu.p2:
            raise ApduError(StatusWord.INCORRECT_P1_P2)
        running = self._running
        if running is None:
            raise ApduError(StatusWord.CONDITIONS_NOT_SATISFIED, "no command running")
        if apdu.p1 == NFCCTAP_GETRESPONSE_CANCEL:
            running.transaction.cancel()
        return self._poll(apdu, running)

    def _start(self, request: bytes) -> _Running:
        running = _Running(Transaction())
        if self._slow:
            running.status_updates_owed = SLOW_FAULT_STATUS_UPDATES

        def work() -> None:
            try:
                running.result = self.core.process(request, running.transaction)
            except Exception:  # the core promises not to raise; answer ERR_OTHER if it does
                log.exception("authenticator core raised")
                running.result = b"\x7f"
            finally:
                running.done.set()

        running.thread = threading.Thread(target=work, name="nfc-ctap-command", daemon=True)
        self._running = running
        running.thread.start()
        return running

    def _poll(self, apdu: CommandApdu, running: _Running) -> bytes:
        if running.status_updates_owed == 0 and running.done.wait(self.status_wait):
            return self._finish(apdu, running)
        running.status_updates_owed = max(0, running.status_updates_owed - 1)
        status = KeepaliveStatus(running.transaction.status)
        return response(bytes((status,)), StatusWord.CTAP_STATUS_UPDATE)

    def _finish(self, apdu: CommandApdu, running: _Running) -> bytes:
        self._running = None
        return self._answer(apdu, running.result)

    def _busy(self) -> bool:
        """A command still executing; a finished one whose result was never fetched is dropped."""
        return self._running is not None and not self._running.done.is_set()

    def _cancel_running(self) -> None:
        running, self._running = self._running, None
        if running is None:
            return
        running.transaction.cancel()
        if running.thread is not None:
            running.thread.join(WORKER_JOIN_TIMEOUT)

    # -- CTAP1 / U2F -----------------------------------------------------------------------------

    def _u2f(self, apdu: CommandApdu, data: bytes) -> bytes:
        if self._busy():
            raise ApduError(StatusWord.CONDITIONS_NOT_SATISFIED, "a CTAP2 command is running")
        if not self.u2f:
            raise ApduError(StatusWord.INS_NOT_SUPPORTED, "CTAP2-only key")
        # U2F raw messages use the extended-length encoding; the core sees one whole APDU
        # however the reader chained or shortened it.
        whole = CommandApdu(
            0x00, apdu.ins, apdu.p1, apdu.p2, data=data, ne=EXTENDED_MAX_NE, extended=True
        )
        payload, status = split_response(self.core.process_u2f(whole.encode(), Transaction()))
        return self._answer(apdu, payload, status)

    # -- responses -----------------------------------------------------------------------------

    def _ne(self, apdu: CommandApdu) -> int:
        """How many bytes the reader takes. Without Le we answer as if Le were 00 (lenient,
        like most cards): the largest amount the APDU's form allows."""
        if NfcBreakage.SHORT_ANSWERS in self.breakages:
            return min(apdu.ne or SHORT_MAX_NE, SHORT_MAX_NE)
        if apdu.ne is not None:
            return apdu.ne
        return EXTENDED_MAX_NE if apdu.extended else SHORT_MAX_NE

    def _answer(self, apdu: CommandApdu, data: bytes, status: int = StatusWord.SUCCESS) -> bytes:
        ne = self._ne(apdu)
        if NfcBreakage.NO_RESPONSE_CHAINING in self.breakages:
            return response(data[:ne], status)
        return self._responses.start(data, ne, status)

    def _forget_session(self) -> None:
        if self._current is not None:
            self._current.deselect()
            self._current = None
        self._selected = False
        self._chain = None
        self._responses.clear()
