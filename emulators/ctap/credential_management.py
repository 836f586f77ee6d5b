"""authenticatorCredentialManagement (CTAP 2.1 §6.8; also the 0x41 preview command).

Every subCommand that starts something needs a pinUvAuthParam over
subCommand || CBOR(subCommandParams) made with a token holding the `cm` permission. Calls
that span all RPs (metadata, RP enumeration) refuse a token bound to an RP; calls about one
RP's credentials accept a token bound to that RP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fido2 import cbor

from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    CredMgmtParam as P,
)
from tokenbench.emulators.ctap.constants import (
    CredMgmtResponse as R,
)
from tokenbench.emulators.ctap.constants import (
    CredMgmtSub as Sub,
)
from tokenbench.emulators.ctap.constants import (
    CredMgmtSubParam as SP,
)
from tokenbench.emulators.ctap.credentials import rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import get_bytes, get_int, get_map, get_str
from tokenbench.emulators.ctap.state import ResidentCredential
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import token_param

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator


@dataclass
class Enumeration:
    """An enumeration in progress (RPs or one RP's credentials)."""

    kind: Sub
    items: list[Any] = field(default_factory=list)


def handle(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any] | None:
    sub = get_int(params, P.SUB_COMMAND, required=True)
    sub_params = get_map(params, P.SUB_COMMAND_PARAMS)
    if sub == Sub.ENUMERATE_RPS_GET_NEXT:
        return _next(auth, Sub.ENUMERATE_RPS_BEGIN)
    if sub == Sub.ENUMERATE_CREDENTIALS_GET_NEXT:
        return _next(auth, Sub.ENUMERATE_CREDENTIALS_BEGIN)
    if sub not in tuple(Sub):
        raise CtapError(CtapStatus.INVALID_SUBCOMMAND, f"subCommand {sub}")
    assert sub is not None
    auth.cred_mgmt_enumeration = None
    if sub == Sub.GET_CREDS_METADATA:
        _authorize(auth, params, sub, None, None, forbid_rp_id=True)
        return {
            R.EXISTING_RESIDENT_CREDENTIALS_COUNT: len(auth.state.residents),
            R.MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT: auth.remaining_resident_slots(),
        }
    if sub == Sub.ENUMERATE_RPS_BEGIN:
        _authorize(auth, params, sub, None, None, forbid_rp_id=True)
        return _rps_begin(auth)
    if sub_params is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "subCommandParams missing")
    if sub == Sub.ENUMERATE_CREDENTIALS_BEGIN:
        rp_hash = get_bytes(sub_params, SP.RP_ID_HASH, required=True)
        assert rp_hash is not None
        creds = [c for c in auth.state.residents if rp_id_hash(c.rp_id) == rp_hash]
        _authorize(auth, params, sub, sub_params, creds[0].rp_id if creds else None)
        return _credentials_begin(auth, creds)
    cred_id = _credential_id(sub_params)
    cred = next((c for c in auth.state.residents if c.id == cred_id), None)
    _authorize(auth, params, sub, sub_params, cred.rp_id if cred else None)
    if cred is None:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no such credential")
    if sub == Sub.DELETE_CREDENTIAL:
        auth.state.residents.remove(cred)
        auth.store.forget_counter_for(cred.id)
        auth.persist()
        return None
    user = get_map(sub_params, SP.USER, required=True)
    assert user is not None
    if get_bytes(user, "id", required=True) != cred.user_id:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "user id does not match the credential")
    cred.user_name = get_str(user, "name")
    cred.user_display_name = get_str(user, "displayName")
    auth.persist()
    return None


def _credential_id(sub_params: dict[Any, Any]) -> bytes:
    descriptor = get_map(sub_params, SP.CREDENTIAL_ID, required=True)
    assert descriptor is not None
    cred_id = get_bytes(descriptor, "id", required=True)
    get_str(descriptor, "type", required=True)
    assert cred_id is not None
    return cred_id


def _authorize(
    auth: Authenticator,
    params: dict[Any, Any],
    sub: int,
    sub_params: dict[Any, Any] | None,
    rp_id: str | None,
    forbid_rp_id: bool = False,
) -> None:
    param, protocol = token_param(
        auth, params, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL, "credential management"
    )
    message = bytes([sub]) + (cbor.encode(sub_params) if sub_params is not None else b"")
    # Credential management checks a token's RP ID but, unlike mc/ga, never binds one (§6.8):
    # only pass the RP ID on when the token already carries one.
    if getattr(auth.client_pin, "permissions_rp_id", None) is None:
        rp_id = None
    auth.client_pin.verify_token(
        protocol, param, message, Permission.CM, rp_id, forbid_rp_id=forbid_rp_id
    )


def _rp_entry(cred: ResidentCredential) -> dict[int, Any]:
    rp: dict[str, Any] = {"id": cred.rp_id}
    if cred.rp_name is not None:
        rp["name"] = cred.rp_name
    return {R.RP: rp, R.RP_ID_HASH: rp_id_hash(cred.rp_id)}


def _rps_begin(auth: Authenticator) -> dict[int, Any]:
    seen: dict[str, ResidentCredential] = {}
    for cred in sorted(auth.state.residents, key=lambda c: c.created):
        seen.setdefault(cred.rp_id, cred)
    if not seen:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no discoverable credentials")
    entries = [_rp_entry(c) for c in seen.values()]
    auth.cred_mgmt_enumeration = Enumeration(Sub.ENUMERATE_RPS_BEGIN, entries[1:])
    return {**entries[0], R.TOTAL_RPS: len(entries)}


def _credential_entry(auth: Authenticator, cred: ResidentCredential) -> dict[int, Any]:
    user: dict[str, Any] = {"id": cred.user_id}
    if cred.user_name is not None:
        user["name"] = cred.user_name
    if cred.user_display_name is not None:
        user["displayName"] = cred.user_display_name
    secret = auth.wrapper.unwrap(rp_id_hash(cred.rp_id), cred.id)
    assert secret is not None
    entry: dict[int, Any] = {
        R.USER: user,
        R.CREDENTIAL_ID: {"id": cred.id, "type": PUBLIC_KEY_TYPE},
        R.PUBLIC_KEY: auth.wrapper.key(cred.id, secret).cose_public_key(),
        R.CRED_PROTECT: cred.cred_protect,
    }
    if cred.large_blob_key is not None:
        entry[R.LARGE_BLOB_KEY] = cred.large_blob_key
    return entry


def _credentials_begin(auth: Authenticator, creds: list[ResidentCredential]) -> dict[int, Any]:
    if not creds:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no credentials for this RP")
    ordered = sorted(creds, key=lambda c: -c.created)
    entries = [_credential_entry(auth, c) for c in ordered]
    auth.cred_mgmt_enumeration = Enumeration(Sub.ENUMERATE_CREDENTIALS_BEGIN, entries[1:])
    return {**entries[0], R.TOTAL_CREDENTIALS: len(entries)}


def _next(auth: Authenticator, kind: Sub) -> dict[int, Any]:
    enumeration = auth.cred_mgmt_enumeration
    if enumeration is None or enumeration.kind != kind or not enumeration.items:
        raise CtapError(CtapStatus.NOT_ALLOWED, "nothing being enumerated")
    item = enumeration.items.pop(0)
    if not enumeration.items:
        auth.cred_mgmt_enumeration = None
    return {int(k): v for k, v in item.items()}
