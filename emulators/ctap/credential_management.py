"""authenticatorCredentialManagement (CTAP 2.1 §6.8; also the 0x41 preview command).

Every subCommand that starts something needs a pinUvAuthParam over
subCommand || CBOR(subCommandParams) made with a token holding the `cm` permission. Calls
that span all RPs (metadata, RP enumeration) refuse a token bound to an RP; calls about one
RP's credentials accept a token bound to that RP. A CTAP 2.2 key also takes its persistent
token (pcmr) for the read-only subCommands (metadata, enumerations), never for a write.

A request is parsed first (`parse`: one frozen dataclass per subCommand), then the rules run
on the typed fields. The RPs or credentials still to be sent by the getNext subCommands wait
in the key's `pending` slot as an `Enumeration`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    CtapCommand,
    CtapStatus,
    Ext,
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
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.credentials import rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError, StateError
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.request import (
    CborMap,
    Members,
    PinUvAuth,
    Response,
    decode_params,
)
from tokenbench.emulators.ctap.state import ResidentCredential
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import token_param

COMMANDS = frozenset({CtapCommand.CREDENTIAL_MANAGEMENT, CtapCommand.CREDENTIAL_MANAGEMENT_PRE})
GET_NEXT = {
    Sub.ENUMERATE_RPS_GET_NEXT: Sub.ENUMERATE_RPS_BEGIN,
    Sub.ENUMERATE_CREDENTIALS_GET_NEXT: Sub.ENUMERATE_CREDENTIALS_BEGIN,
}
"""Each getNext subCommand and the begin subCommand whose enumeration it continues."""
SUBCOMMANDS = frozenset(Sub)


# ---- the request, parsed ------------------------------------------------------------------


@dataclass(frozen=True)
class SubCommand:
    """The members every request has: subCommand and its (optional) subCommandParams."""

    request: Members
    sub: int
    params: Members | None

    @classmethod
    def parse(cls, params: CborMap) -> SubCommand:
        request = Members(params, "credential management request")
        sub = request.required(P.SUB_COMMAND, int)
        return cls(request, sub, request.optional_map(P.SUB_COMMAND_PARAMS, "subCommandParams"))

    @property
    def ends_enumeration(self) -> bool:
        """A known subCommand other than getNext starts afresh; an unknown one is refused
        and, like a request refused before this point, leaves an enumeration alone."""
        return self.sub in SUBCOMMANDS and self.sub not in GET_NEXT


@dataclass(frozen=True)
class Authorized:
    """What a pinUvAuthParam covers: subCommand || CBOR(subCommandParams) as sent (§6.8)."""

    sub: Sub
    sub_params: CborMap | None
    auth: PinUvAuth

    @classmethod
    def parse(cls, members: Members, sub: Sub, sub_params: Members | None) -> Authorized:
        auth = PinUvAuth.parse(members, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL)
        return cls(sub, None if sub_params is None else sub_params.raw, auth)

    def message(self) -> bytes:
        params = b"" if self.sub_params is None else cbor.encode(self.sub_params)
        return bytes([self.sub]) + params


@dataclass(frozen=True)
class GetNext:
    """enumerateRPsGetNextRP / enumerateCredentialsGetNextCredential: no token needed."""

    begun_by: Sub


@dataclass(frozen=True)
class GetMetadata:
    authorized: Authorized


@dataclass(frozen=True)
class EnumerateRps:
    authorized: Authorized


@dataclass(frozen=True)
class EnumerateCredentials:
    authorized: Authorized
    rp_id_hash: bytes


@dataclass(frozen=True)
class DeleteCredential:
    authorized: Authorized
    credential_id: bytes


@dataclass(frozen=True)
class UserInfo:
    """The PublicKeyCredentialUserEntity of updateUserInformation."""

    id: bytes
    name: str | None
    display_name: str | None

    @classmethod
    def parse(cls, members: Members) -> UserInfo:
        return cls(
            members.required("id", bytes),
            members.optional("name", str),
            members.optional("displayName", str),
        )


@dataclass(frozen=True)
class UpdateUser:
    authorized: Authorized
    credential_id: bytes
    user: UserInfo


CredMgmtRequest = (
    GetNext | GetMetadata | EnumerateRps | EnumerateCredentials | DeleteCredential | UpdateUser
)


def parse(params: CborMap) -> CredMgmtRequest:
    """The request as one of the subCommand dataclasses.

    MISSING_PARAMETER / CBOR_UNEXPECTED_TYPE for a missing or mistyped member,
    INVALID_SUBCOMMAND for an unknown subCommand. getNext carries nothing else to check.
    """
    header = SubCommand.parse(params)
    if header.sub in GET_NEXT:
        return GetNext(GET_NEXT[Sub(header.sub)])
    if header.sub not in SUBCOMMANDS:
        raise CtapError(CtapStatus.INVALID_SUBCOMMAND, f"subCommand {header.sub}")
    sub = Sub(header.sub)
    if sub == Sub.GET_CREDS_METADATA:
        return GetMetadata(Authorized.parse(header.request, sub, header.params))
    if sub == Sub.ENUMERATE_RPS_BEGIN:
        return EnumerateRps(Authorized.parse(header.request, sub, header.params))
    if header.params is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "subCommandParams missing")
    return _parse_with_params(header.request, sub, header.params)


def _parse_with_params(members: Members, sub: Sub, sub_params: Members) -> CredMgmtRequest:
    if sub == Sub.ENUMERATE_CREDENTIALS_BEGIN:
        rp_hash = sub_params.required(SP.RP_ID_HASH, bytes)
        return EnumerateCredentials(Authorized.parse(members, sub, sub_params), rp_hash)
    descriptor = sub_params.required_map(SP.CREDENTIAL_ID, "credentialID")
    cred_id = descriptor.required("id", bytes)
    descriptor.required("type", str)
    authorized = Authorized.parse(members, sub, sub_params)
    if sub == Sub.DELETE_CREDENTIAL:
        return DeleteCredential(authorized, cred_id)
    user = UserInfo.parse(sub_params.required_map(SP.USER, "user"))
    return UpdateUser(authorized, cred_id, user)


# ---- the enumeration in progress -------------------------------------------------------------


@dataclass(frozen=True)
class Enumeration:
    """An enumeration in progress (RPs or one RP's credentials): the entries not yet sent.

    Any other command ends it, and so does a credential management request that reaches a
    subCommand other than getNext; one refused earlier (not CBOR, no or a mistyped
    subCommand, an unknown subCommand) leaves it alone. Once exhausted it answers NOT_ALLOWED.
    """

    kind: Sub
    items: tuple[Response, ...] = ()

    def continued_by(self, command: int, body: bytes) -> bool:
        if command not in COMMANDS:
            return False
        try:
            header = SubCommand.parse(decode_params(body))
        except CtapError:
            return True
        return not header.ends_enumeration


# ---- the rules -----------------------------------------------------------------------------


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response | None:
    match parse(params):
        case GetNext(begun_by=kind):
            return _next(key, kind)
        case GetMetadata(authorized=authorized):
            _authorize(key, authorized, None, forbid_rp_id=True, read_only=True)
            return {
                R.EXISTING_RESIDENT_CREDENTIALS_COUNT: len(key.state.residents),
                R.MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT: (
                    key.remaining_resident_slots()
                ),
            }
        case EnumerateRps(authorized=authorized):
            _authorize(key, authorized, None, forbid_rp_id=True, read_only=True)
            return _rps_begin(key)
        case EnumerateCredentials() as request:
            return _credentials_begin(key, request)
        case DeleteCredential() as request:
            _delete(key, request)
        case UpdateUser() as request:
            _update_user(key, request)
    return None


def _authorize(
    key: KeyContext,
    authorized: Authorized,
    rp_id: str | None,
    forbid_rp_id: bool = False,
    *,
    read_only: bool = False,
) -> None:
    """Check the request's pinUvAuthParam: the `cm` token, or for a read-only subCommand the
    persistent `pcmr` token (never for a write: PIN_AUTH_INVALID, CTAP 2.2 §6.8)."""
    param, protocol = token_param(key, authorized.auth, "credential management")
    if key.client_pin.verify_persistent_token(protocol, param, authorized.message()):
        if read_only or key.faults.persistent_token_writes:
            return
        raise CtapError(CtapStatus.PIN_AUTH_INVALID, "the persistent token is read-only")
    # Credential management checks a token's RP ID but, unlike mc/ga, never binds one (§6.8):
    # only pass the RP ID on when the token already carries one.
    if key.client_pin.permissions_rp_id is None:
        rp_id = None
    permission = Permission.CM
    if not key.faults.checks_token_permissions:
        permission, rp_id, forbid_rp_id = Permission(0), None, False
    key.client_pin.verify_token(
        protocol, param, authorized.message(), permission, rp_id, forbid_rp_id=forbid_rp_id
    )


def _rp_entry(cred: ResidentCredential) -> Response:
    rp: dict[str, CborType] = {"id": cred.rp_id}
    if cred.rp_name is not None:
        rp["name"] = cred.rp_name
    return {R.RP: rp, R.RP_ID_HASH: rp_id_hash(cred.rp_id)}


def _rps_begin(key: KeyContext) -> Response:
    seen: dict[str, ResidentCredential] = {}
    for cred in sorted(key.state.residents, key=lambda c: c.created):
        seen.setdefault(cred.rp_id, cred)
    if not seen:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no discoverable credentials")
    entries = [_rp_entry(c) for c in seen.values()]
    key.pending = Enumeration(Sub.ENUMERATE_RPS_BEGIN, tuple(entries[1:]))
    return {**entries[0], R.TOTAL_RPS: len(entries)}


def _credential_entry(key: KeyContext, cred: ResidentCredential) -> Response:
    user: dict[str, CborType] = {"id": cred.user_id}
    if cred.user_name is not None:
        user["name"] = cred.user_name
    if cred.user_display_name is not None:
        user["displayName"] = cred.user_display_name
    secret = key.wrapper.unwrap(rp_id_hash(cred.rp_id), cred.id)
    if secret is None:
        raise StateError("a stored credential ID does not open under the master secret")
    entry: Response = {
        R.USER: user,
        R.CREDENTIAL_ID: {"id": cred.id, "type": PUBLIC_KEY_TYPE},
        R.PUBLIC_KEY: key.wrapper.key(cred.id, secret).cose_public_key(),
        R.CRED_PROTECT: cred.cred_protect,
    }
    if cred.large_blob_key is not None:
        entry[R.LARGE_BLOB_KEY] = cred.large_blob_key
    if Ext.THIRD_PARTY_PAYMENT in key.profile.extensions:
        entry[R.THIRD_PARTY_PAYMENT] = secret.third_party_payment
    return entry


def _credentials_begin(key: KeyContext, request: EnumerateCredentials) -> Response:
    creds = [c for c in key.state.residents if rp_id_hash(c.rp_id) == request.rp_id_hash]
    _authorize(key, request.authorized, creds[0].rp_id if creds else None, read_only=True)
    if not creds:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no credentials for this RP")
    ordered = sorted(creds, key=lambda c: -c.created)
    entries = [_credential_entry(key, c) for c in ordered]
    key.pending = Enumeration(Sub.ENUMERATE_CREDENTIALS_BEGIN, tuple(entries[1:]))
    return {**entries[0], R.TOTAL_CREDENTIALS: len(entries)}


def _next(key: KeyContext, kind: Sub) -> Response:
    enumeration = key.pending
    if not isinstance(enumeration, Enumeration) or enumeration.kind != kind:
        raise CtapError(CtapStatus.NOT_ALLOWED, "nothing being enumerated")
    if not enumeration.items:
        raise CtapError(CtapStatus.NOT_ALLOWED, "enumeration finished")
    key.pending = Enumeration(kind, enumeration.items[1:])
    return dict(enumeration.items[0])


def _target(key: KeyContext, authorized: Authorized, cred_id: bytes) -> ResidentCredential:
    """The resident credential a delete / update names, once the token allows it."""
    cred = next((c for c in key.state.residents if c.id == cred_id), None)
    _authorize(key, authorized, cred.rp_id if cred else None)
    if cred is None:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no such credential")
    return cred


def _delete(key: KeyContext, request: DeleteCredential) -> None:
    cred = _target(key, request.authorized, request.credential_id)
    key.state.residents.remove(cred)
    key.forget_counter(cred.id)
    key.persist()


def _update_user(key: KeyContext, request: UpdateUser) -> None:
    cred = _target(key, request.authorized, request.credential_id)
    if request.user.id != cred.user_id:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "user id does not match the credential")
    cred.user_name = key.faults.user_field(request.user.name)
    cred.user_display_name = key.faults.user_field(request.user.display_name)
    key.persist()
