"""CTAP1 / FIDO U2F raw messages (FIDO U2F Raw Message Formats v1.2; CTAP 2.1 §10, §11.2.4).

Key handles are the same credential IDs CTAP2 uses (see credentials.py), with the U2F
application parameter as the RP ID hash. So a U2F registration works through CTAP2
getAssertion (rpId whose SHA-256 is the application parameter), and a non-resident ES256
credential made with CTAP2 works through U2F AUTHENTICATE, as CTAP 2.1 §10 allows.
Credentials whose credProtect level demands user verification are refused over U2F, which
has no way to verify the user.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from tokenbench.emulators.ctap.constants import (
    AuthDataFlag,
    CoseAlg,
    CredProtect,
    IsoSw,
    U2fControl,
    U2fIns,
    Version,
)
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.transaction import Transaction

log = logging.getLogger(__name__)

CLA = 0x00
PARAM_LEN = 32
REGISTER_RESERVED = 0x05
REGISTER_SIGN_PREFIX = 0x00
STATUS_LEN = 2  # an ISO 7816 status word ends every response


class ApduError(Exception):
    def __init__(self, sw: IsoSw) -> None:
        super().__init__(f"SW {int(sw):04X}")
        self.sw = sw


@dataclass(frozen=True)
class Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes


def parse_apdu(apdu: bytes) -> Apdu:
    """ISO 7816-4 command APDU, short or extended length (Le is accepted and ignored)."""
    if len(apdu) < 4:
        raise ApduError(IsoSw.WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body or len(body) == 1:  # case 1, or case 2 short (Le only)
        data = b""
    elif body[0] == 0:  # extended length
        if len(body) == 3:  # case 2 extended (Le only)
            data = b""
        else:
            if len(body) < 3:
                raise ApduError(IsoSw.WRONG_LENGTH)
            lc = int.from_bytes(body[1:3], "big")
            data = body[3 : 3 + lc]
            rest = body[3 + lc :]
            if len(data) != lc or len(rest) not in (0, 2):
                raise ApduError(IsoSw.WRONG_LENGTH)
    else:  # short length
        lc = body[0]
        data = body[1 : 1 + lc]
        rest = body[1 + lc :]
        if len(data) != lc or len(rest) not in (0, 1):
            raise ApduError(IsoSw.WRONG_LENGTH)
    return Apdu(cla, ins, p1, p2, bytes(data))


def sw(status: IsoSw) -> bytes:
    return int(status).to_bytes(STATUS_LEN, "big")


def process(key: KeyContext, raw: bytes, transaction: Transaction | None) -> bytes:
    """One U2F APDU -> response data + status word (lying about the status under u2f-status)."""
    response = _answer(key, raw, transaction)
    if key.faults.lies_in_u2f_status:
        return _wrong_status(response)
    return response


def _wrong_status(response: bytes) -> bytes:
    """The u2f-status fault: success ends in 6F00 and every error in 9000.

    The data stays as it was, so only a host that checks the status word, as a U2F client
    must before it trusts the data, notices the lie.
    """
    data, status = response[:-STATUS_LEN], response[-STATUS_LEN:]
    lie = IsoSw.NO_PRECISE_DIAGNOSIS if status == sw(IsoSw.NO_ERROR) else IsoSw.NO_ERROR
    return data + sw(lie)


def _answer(key: KeyContext, raw: bytes, transaction: Transaction | None) -> bytes:
    try:
        if not key.profile.u2f or (key.state.always_uv and key.profile.supports_always_uv):
            raise ApduError(IsoSw.INS_NOT_SUPPORTED)  # no U2F model, or U2F off by alwaysUv
        apdu = parse_apdu(raw)
        if apdu.cla != CLA:
            raise ApduError(IsoSw.CLA_NOT_SUPPORTED)
        if apdu.ins == U2fIns.VERSION:
            if apdu.data:
                raise ApduError(IsoSw.WRONG_LENGTH)
            return Version.U2F_V2.encode("ascii") + sw(IsoSw.NO_ERROR)
        if apdu.ins == U2fIns.REGISTER:
            return register(key, apdu, transaction) + sw(IsoSw.NO_ERROR)
        if apdu.ins == U2fIns.AUTHENTICATE:
            return authenticate(key, apdu, transaction) + sw(IsoSw.NO_ERROR)
        raise ApduError(IsoSw.INS_NOT_SUPPORTED)
    except ApduError as e:
        return sw(e.sw)
    except CtapError:  # presence timed out, was declined or cancelled
        return sw(IsoSw.CONDITIONS_NOT_SATISFIED)
    except Exception:
        log.exception("internal error in U2F command")
        return sw(IsoSw.NO_PRECISE_DIAGNOSIS)


def _present(key: KeyContext, transaction: Transaction | None, reason: str) -> bool:
    """U2F has no keepalive-and-wait: no touch right now means 'conditions not satisfied'.

    False only under the no-presence fault (the key goes ahead without a touch).
    """
    try:
        return key.presence(transaction, reason)
    except CtapError:
        raise ApduError(IsoSw.CONDITIONS_NOT_SATISFIED) from None


def register(key: KeyContext, apdu: Apdu, transaction: Transaction | None) -> bytes:
    if len(apdu.data) != 2 * PARAM_LEN:
        raise ApduError(IsoSw.WRONG_LENGTH)
    challenge, application = apdu.data[:PARAM_LEN], apdu.data[PARAM_LEN:]
    _present(key, transaction, "U2F register")
    secret = key.wrapper.new_secret(int(CoseAlg.ES256))
    key_handle = key.wrapper.wrap(application, secret)
    public = key.wrapper.key(key_handle, secret).raw_p256_public()
    batch = key.attestation.batch(key.profile.aaguid, key.profile.model)
    signed = (
        bytes([REGISTER_SIGN_PREFIX])
        + key.faults.rp_hash(application)
        + challenge
        + key_handle
        + public
    )
    signature = key.faults.signature(batch.sign(signed))
    return (
        bytes([REGISTER_RESERVED])
        + public
        + bytes([len(key_handle)])
        + key_handle
        + batch.chain_der()[0]
        + signature
    )


def authenticate(key: KeyContext, apdu: Apdu, transaction: Transaction | None) -> bytes:
    data = apdu.data
    if len(data) < 2 * PARAM_LEN + 1 or len(data) != 2 * PARAM_LEN + 1 + data[2 * PARAM_LEN]:
        raise ApduError(IsoSw.WRONG_LENGTH)
    challenge, application = data[:PARAM_LEN], data[PARAM_LEN : 2 * PARAM_LEN]
    key_handle = data[2 * PARAM_LEN + 1 :]
    secret = key.wrapper.unwrap(application, key_handle)
    if (
        secret is None
        or secret.alg != CoseAlg.ES256
        or secret.cred_protect == CredProtect.UV_REQUIRED
        or (secret.resident and all(c.id != key_handle for c in key.state.residents))
    ):
        raise ApduError(IsoSw.WRONG_DATA)
    if apdu.p1 == U2fControl.CHECK_ONLY:
        raise ApduError(IsoSw.CONDITIONS_NOT_SATISFIED)
    if apdu.p1 == U2fControl.ENFORCE_USER_PRESENCE:
        present = _present(key, transaction, "U2F authenticate")
    elif apdu.p1 == U2fControl.DONT_ENFORCE_USER_PRESENCE:
        present = False
    else:
        raise ApduError(IsoSw.WRONG_DATA)
    flags = AuthDataFlag.UP if present else 0
    counter = key.next_counter(key_handle)
    tail = struct.pack(">BI", flags, counter & 0xFFFFFFFF)
    credential = key.wrapper.key(key_handle, secret)
    signature = credential.sign(key.faults.rp_hash(application) + tail + challenge)
    return tail + key.faults.signature(signature)
