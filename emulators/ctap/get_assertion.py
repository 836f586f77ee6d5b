"""authenticatorGetAssertion and authenticatorGetNextAssertion (CTAP 2.1 §6.2, §6.3).

`GetAssertionRequest.parse` applies the wire rules; `get_assertion` then runs the steps of
§6.2.2: options, user verification, locating credentials, presence, then the first assertion.
The others wait in the key's `pending` slot for getNextAssertion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenbench.emulators.ctap import user_verification
from tokenbench.emulators.ctap.auth_data import build_auth_data
from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    AuthDataFlag,
    CredProtect,
    CtapCommand,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    GetAssertionParam as P,
)
from tokenbench.emulators.ctap.constants import (
    GetAssertionResponse as R,
)
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.credentials import CredentialSecret, rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.extensions import (
    GaExtensionInputs,
    GaExtensions,
    get_assertion_outputs,
)
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.preview_sign import check_assertion
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import (
    CborMap,
    Members,
    PinUvAuth,
    Response,
    refuse_unknown,
)
from tokenbench.emulators.ctap.state import ResidentCredential
from tokenbench.emulators.ctap.transaction import Transaction

NEXT_ASSERTION_TIMEOUT = 30.0


@dataclass(frozen=True)
class GetAssertionRequest:
    rp_id: str
    client_data_hash: bytes
    allow_list: tuple[bytes, ...] | None
    extensions: GaExtensions
    options: dict[str, bool]
    pin_uv_auth: PinUvAuth

    @classmethod
    def parse(
        cls, params: CborMap, profile: DeviceProfile, lenient: bool = False
    ) -> GetAssertionRequest:
        m = Members(params, lenient=lenient)
        pin_uv_auth = PinUvAuth.parse(m, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL)
        return cls(
            rp_id=m.required(P.RP_ID, str),
            client_data_hash=m.required(P.CLIENT_DATA_HASH, bytes),
            allow_list=m.credential_ids(P.ALLOW_LIST),
            extensions=GaExtensions.parse(m.optional_map(P.EXTENSIONS, "extensions"), profile),
            options=m.options(P.OPTIONS),
            pin_uv_auth=pin_uv_auth,
        )

    @property
    def up(self) -> bool:
        return self.options.get("up", True)


@dataclass(frozen=True)
class Found:
    """A credential located for an assertion."""

    id: bytes
    secret: CredentialSecret
    resident: ResidentCredential | None


@dataclass(frozen=True)
class AssertionContext:
    """What every assertion of one request shares."""

    rp_hash: bytes
    client_data_hash: bytes
    flags: int
    uv: bool
    extensions: GaExtensionInputs
    discovered: bool
    """No allowList: the credentials were discovered, so user details may be returned."""


@dataclass
class PendingAssertions:
    """What getNextAssertion needs: the request context and the credentials still to go."""

    context: AssertionContext
    remaining: list[Found] = field(default_factory=list)
    started: float = 0.0

    def continued_by(self, command: int, body: bytes) -> bool:
        return command == CtapCommand.GET_NEXT_ASSERTION


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response:
    faults = key.faults
    request = GetAssertionRequest.parse(params, key.profile, faults.lenient_requests)
    if faults.refuses_unknown:
        members = Members(params)
        extensions = members.optional_map(P.EXTENSIONS, "extensions")
        refuse_unknown(members, tuple(P), request.options, extensions, key.profile.extensions)
    return get_assertion(key, request, transaction)


def get_assertion(
    key: KeyContext, request: GetAssertionRequest, transaction: Transaction | None
) -> Response:
    param = user_verification.ceremony_param(key, request.pin_uv_auth, transaction)
    extensions = GaExtensionInputs.open(key, request.extensions)
    _check_options(key, request)
    wants_sensor = user_verification.wants_sensor(key, request.options, param)
    if param is None and not wants_sensor and request.up and user_verification.always_uv(key):
        raise CtapError(CtapStatus.PUAT_REQUIRED, "alwaysUv is on")
    token = param is not None
    if param is not None:
        user_verification.verify(key, param, request.client_data_hash, Permission.GA, request.rp_id)
    by_sensor = user_verification.sensor_uv(key, request.options, param, transaction)
    uv = token or by_sensor
    rp_hash = rp_id_hash(request.rp_id)
    found = locate(key, request.rp_id, rp_hash, request.allow_list, uv)
    if not found:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no credentials for this RP")
    if extensions.preview_sign is not None:
        allowed = bool(request.allow_list)
        check_assertion(extensions.preview_sign, found[0].secret.seed, request.up, uv, allowed)
    touched = user_verification.finger_is_touch(key, by_sensor)
    up = request.up and (touched or _presence(key, token, transaction))
    flags = (AuthDataFlag.UP if up else 0) | (AuthDataFlag.UV if uv else 0)
    discovered = not request.allow_list
    context = AssertionContext(rp_hash, request.client_data_hash, flags, uv, extensions, discovered)
    response = _assertion(key, context, found[0])
    if discovered and len(found) > 1:
        response[R.NUMBER_OF_CREDENTIALS] = len(found)
        key.pending = PendingAssertions(context, found[1:], key.now())
    return response


def _check_options(key: KeyContext, request: GetAssertionRequest) -> None:
    if "rk" in request.options and not key.faults.ignores_options:
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "rk is not a getAssertion option")
    user_verification.refuse_uv_option(key, request.options)


def _presence(key: KeyContext, uv: bool, transaction: Transaction | None) -> bool:
    """User presence for an up=true request: the token's recent touch, or a new one.

    Only an assertion with user presence uses up the token: a silent up=false probe, as
    platforms send to filter an allowList, leaves it usable for the real request.
    """
    present = user_verification.token_presence(key, uv) or key.presence(transaction, "getAssertion")
    user_verification.after_use(key, uv)
    return present


def locate(
    key: KeyContext, rp_id: str, rp_hash: bytes, allow: tuple[bytes, ...] | None, uv: bool
) -> list[Found]:
    """Credentials usable for this request, most recently created first (§6.2.2 step 7)."""
    if allow:
        return _allowed(key, rp_hash, key.faults.credential_list(allow), uv)
    order = -1 if key.faults.newest_first else 1
    candidates = sorted(
        (c for c in key.state.residents if c.rp_id == rp_id), key=lambda c: order * c.created
    )
    found: list[Found] = []
    for cred in candidates:
        secret = key.wrapper.unwrap(rp_hash, cred.id)
        if secret is None:
            continue
        if cred.cred_protect >= CredProtect.UV_OPTIONAL_WITH_CREDENTIAL_ID_LIST and not uv:
            continue
        found.append(Found(cred.id, secret, cred))
    return found


def _allowed(key: KeyContext, rp_hash: bytes, allow: tuple[bytes, ...], uv: bool) -> list[Found]:
    residents = {c.id: c for c in key.state.residents}
    found: list[Found] = []
    for cred_id in allow:
        secret = key.wrapper.unwrap(rp_hash, cred_id)
        if secret is None:
            continue
        resident = residents.get(cred_id) if secret.resident else None
        if secret.resident and resident is None:
            continue  # deleted discoverable credential
        if secret.cred_protect == CredProtect.UV_REQUIRED and not uv:
            continue
        found.append(Found(cred_id, secret, resident))
    return found


def handle_next(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response:
    """authenticatorGetNextAssertion: the next located credential, within 30 s of the last."""
    pending = key.pending
    if not isinstance(pending, PendingAssertions) or not pending.remaining:
        raise CtapError(CtapStatus.NOT_ALLOWED, "no getAssertion to continue")
    if key.now() - pending.started > NEXT_ASSERTION_TIMEOUT and key.faults.next_assertion_timer:
        pending.remaining.clear()
        raise CtapError(CtapStatus.NOT_ALLOWED, "getNextAssertion timer expired")
    found = pending.remaining.pop(0)
    pending.started = key.now()
    return _assertion(key, pending.context, found)


def _assertion(key: KeyContext, context: AssertionContext, found: Found) -> Response:
    resident = found.resident
    cred_blob = resident.cred_blob if resident is not None else found.secret.cred_blob
    extensions = get_assertion_outputs(key, context.extensions, found.secret, cred_blob, context.uv)
    auth_data = build_auth_data(
        key.faults.rp_hash(context.rp_hash),
        key.faults.flags(context.flags),
        key.next_counter(found.id, bool(context.flags & AuthDataFlag.UP)),
        extensions=extensions,
    )
    credential_key = key.wrapper.key(found.id, found.secret)
    signature = key.faults.signature(credential_key.sign(auth_data + context.client_data_hash))
    response: Response = {
        R.CREDENTIAL: {"id": found.id, "type": PUBLIC_KEY_TYPE},
        R.AUTH_DATA: auth_data,
        R.SIGNATURE: signature,
    }
    if resident is not None:
        identifying = context.uv or key.faults.identifies_without_uv
        response[R.USER] = _user(resident, identifying and context.discovered)
        if context.extensions.large_blob_key and resident.large_blob_key is not None:
            response[R.LARGE_BLOB_KEY] = resident.large_blob_key
    return response


def _user(resident: ResidentCredential, identifying: bool) -> dict[str, bytes | str]:
    """The user entity: the handle always, name and displayName only after user verification
    of a discovered credential (§6.2.2 step 12)."""
    user: dict[str, bytes | str] = {"id": resident.user_id}
    if identifying:
        if resident.user_name is not None:
            user["name"] = resident.user_name
        if resident.user_display_name is not None:
            user["displayName"] = resident.user_display_name
    return user
