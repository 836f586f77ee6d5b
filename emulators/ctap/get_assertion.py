"""authenticatorGetAssertion and authenticatorGetNextAssertion (CTAP 2.1 §6.2, §6.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokenbench.emulators.ctap import extensions, user_verification
from tokenbench.emulators.ctap.auth_data import build_auth_data
from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    AuthDataFlag,
    CredProtect,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    GetAssertionParam as P,
)
from tokenbench.emulators.ctap.constants import (
    GetAssertionResponse as R,
)
from tokenbench.emulators.ctap.credentials import CredentialSecret, rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import (
    credential_ids,
    get_bytes,
    get_map,
    get_options,
    get_str,
)
from tokenbench.emulators.ctap.state import ResidentCredential
from tokenbench.emulators.ctap.transaction import Transaction

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator

NEXT_ASSERTION_TIMEOUT = 30.0


@dataclass
class Found:
    """A credential located for an assertion."""

    id: bytes
    secret: CredentialSecret
    resident: ResidentCredential | None


@dataclass
class PendingAssertions:
    """What getNextAssertion needs: the request context and the credentials still to go."""

    rp_hash: bytes
    client_data_hash: bytes
    flags: int
    uv: bool
    ext: extensions.GaExtensions
    remaining: list[Found] = field(default_factory=list)
    started: float = 0.0


def locate(
    auth: Authenticator, rp_id: str, rp_hash: bytes, allow: list[bytes] | None, uv: bool
) -> list[Found]:
    """Credentials usable for this request, most recently created first (§6.2.2 step 7)."""
    residents = {c.id: c for c in auth.state.residents}
    found: list[Found] = []
    if allow:
        for cred_id in allow:
            secret = auth.wrapper.unwrap(rp_hash, cred_id)
            if secret is None:
                continue
            resident = residents.get(cred_id) if secret.resident else None
            if secret.resident and resident is None:
                continue  # deleted discoverable credential
            if secret.cred_protect == CredProtect.UV_REQUIRED and not uv:
                continue
            found.append(Found(cred_id, secret, resident))
        return found
    candidates = sorted(
        (c for c in auth.state.residents if c.rp_id == rp_id), key=lambda c: -c.created
    )
    for cred in candidates:
        secret = auth.wrapper.unwrap(rp_hash, cred.id)
        if secret is None:
            continue
        if cred.cred_protect >= CredProtect.UV_OPTIONAL_WITH_CREDENTIAL_ID_LIST and not uv:
            continue
        found.append(Found(cred.id, secret, cred))
    return found


def get_assertion(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any]:
    param, protocol = user_verification.pin_uv_param(
        auth, params, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL, transaction
    )
    rp_id = get_str(params, P.RP_ID, required=True)
    client_data_hash = get_bytes(params, P.CLIENT_DATA_HASH, required=True)
    assert rp_id is not None and client_data_hash is not None
    allow = credential_ids(params, P.ALLOW_LIST)
    ext_in = extensions.parse_get_assertion(auth, get_map(params, P.EXTENSIONS))
    options = get_options(params, P.OPTIONS)
    if "rk" in options:
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "rk is not a getAssertion option")
    user_verification.uv_option(auth, options)
    up_requested = options.get("up", True)

    if param is None and up_requested and auth.state.always_uv and auth.profile.supports_always_uv:
        raise CtapError(CtapStatus.PUAT_REQUIRED, "alwaysUv is on")
    uv = False
    if param is not None:
        assert protocol is not None
        user_verification.verify(auth, protocol, param, client_data_hash, Permission.GA, rp_id)
        uv = True

    rp_hash = rp_id_hash(rp_id)
    found = locate(auth, rp_id, rp_hash, allow, uv)
    if not found:
        raise CtapError(CtapStatus.NO_CREDENTIALS, "no credentials for this RP")

    up = False
    if up_requested:
        up = user_verification.token_presence(auth, uv) or auth.presence(
            transaction, "getAssertion"
        )
        # Only an assertion with user presence uses up the token (a silent up=false probe,
        # as platforms send to filter an allowList, leaves it usable for the real request).
        user_verification.after_use(auth, uv)

    flags = (AuthDataFlag.UP if up else 0) | (AuthDataFlag.UV if uv else 0)
    first, rest = found[0], found[1:]
    response = _assertion(auth, rp_hash, client_data_hash, flags, uv, ext_in, first, not allow)
    if not allow and rest:
        response[R.NUMBER_OF_CREDENTIALS] = len(found)
        auth.next_assertions = PendingAssertions(
            rp_hash, client_data_hash, flags, uv, ext_in, rest, auth.env.clock.now()
        )
    return {int(k): v for k, v in response.items()}


def get_next_assertion(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any]:
    pending = auth.next_assertions
    if pending is None or not pending.remaining:
        raise CtapError(CtapStatus.NOT_ALLOWED, "no getAssertion to continue")
    if auth.env.clock.now() - pending.started > NEXT_ASSERTION_TIMEOUT:
        auth.next_assertions = None
        raise CtapError(CtapStatus.NOT_ALLOWED, "getNextAssertion timer expired")
    found = pending.remaining.pop(0)
    pending.started = auth.env.clock.now()
    response = _assertion(
        auth,
        pending.rp_hash,
        pending.client_data_hash,
        pending.flags,
        pending.uv,
        pending.ext,
        found,
        True,
    )
    if not pending.remaining:
        auth.next_assertions = None
    return {int(k): v for k, v in response.items()}


def _assertion(
    auth: Authenticator,
    rp_hash: bytes,
    client_data_hash: bytes,
    flags: int,
    uv: bool,
    ext_in: extensions.GaExtensions,
    found: Found,
    discovered: bool,
) -> dict[int, Any]:
    resident = found.resident
    cred_blob = resident.cred_blob if resident is not None else found.secret.cred_blob
    ext_out = extensions.get_assertion_outputs(auth, ext_in, found.secret, cred_blob, uv)
    auth_data = build_auth_data(
        auth.output_rp_hash(rp_hash),
        flags,
        auth.next_counter(found.id, bool(flags & AuthDataFlag.UP)),
        extensions=ext_out,
    )
    key = auth.wrapper.key(found.id, found.secret)
    signature = auth.output_signature(key.sign(auth_data + client_data_hash))
    response: dict[int, Any] = {
        R.CREDENTIAL: {"id": found.id, "type": PUBLIC_KEY_TYPE},
        R.AUTH_DATA: auth_data,
        R.SIGNATURE: signature,
    }
    if resident is not None:
        user: dict[str, Any] = {"id": resident.user_id}
        if uv and discovered:
            # User-identifying fields only after user verification (§6.2.2 step 12).
            if resident.user_name is not None:
                user["name"] = resident.user_name
            if resident.user_display_name is not None:
                user["displayName"] = resident.user_display_name
        response[R.USER] = user
        if ext_in.large_blob_key and resident.large_blob_key is not None:
            response[R.LARGE_BLOB_KEY] = resident.large_blob_key
    return response
