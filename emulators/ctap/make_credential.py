"""authenticatorMakeCredential (CTAP 2.1 §6.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenbench.emulators.ctap import extensions, user_verification
from tokenbench.emulators.ctap.auth_data import BATCH_ALG, build_auth_data, packed_statement
from tokenbench.emulators.ctap.client_pin import Permission
from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    AuthDataFlag,
    CredProtect,
    CtapStatus,
)
from tokenbench.emulators.ctap.constants import (
    MakeCredentialParam as P,
)
from tokenbench.emulators.ctap.constants import (
    MakeCredentialResponse as R,
)
from tokenbench.emulators.ctap.credentials import CredentialKey, CredentialSecret, rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import (
    credential_ids,
    get_bytes,
    get_int,
    get_list,
    get_map,
    get_options,
    get_str,
)
from tokenbench.emulators.ctap.state import ResidentCredential
from tokenbench.emulators.ctap.transaction import Transaction

if TYPE_CHECKING:
    from tokenbench.emulators.ctap.authenticator import Authenticator

ATTESTATION_FORMATS_PREFERENCE = 0x0B
MAX_USER_ID = 64
ENTERPRISE_VENDOR_FACILITATED = 1
ENTERPRISE_PLATFORM_MANAGED = 2


def _user(params: dict[Any, Any]) -> dict[str, Any]:
    user = get_map(params, P.USER, required=True)
    assert user is not None
    user_id = get_bytes(user, "id", required=True)
    assert user_id is not None
    if len(user_id) > MAX_USER_ID:
        raise CtapError(CtapStatus.INVALID_LENGTH, "user id longer than 64 bytes")
    get_str(user, "name")
    get_str(user, "displayName")
    get_str(user, "icon")
    return user


def _algorithm(auth: Authenticator, params: dict[Any, Any]) -> int:
    """The first pubKeyCredParams entry this key supports (the platform's preference order)."""
    entries = get_list(params, P.PUB_KEY_CRED_PARAMS, required=True)
    assert entries is not None
    chosen = None
    for entry in entries:
        if not isinstance(entry, dict):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "pubKeyCredParams entry")
        kind = get_str(entry, "type", required=True)
        alg = get_int(entry, "alg", required=True)
        if chosen is None and kind == PUBLIC_KEY_TYPE and alg in auth.profile.algorithms:
            chosen = alg
    if chosen is None:
        raise CtapError(CtapStatus.UNSUPPORTED_ALGORITHM, "no supported algorithm")
    return chosen


def make_credential(
    auth: Authenticator, params: dict[Any, Any], transaction: Transaction | None
) -> dict[int, Any]:
    profile = auth.profile
    param, protocol = user_verification.pin_uv_param(
        auth, params, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL, transaction
    )
    client_data_hash = get_bytes(params, P.CLIENT_DATA_HASH, required=True)
    rp = get_map(params, P.RP, required=True)
    assert rp is not None and client_data_hash is not None
    rp_id = get_str(rp, "id", required=True)
    assert rp_id is not None
    get_str(rp, "name")
    user = _user(params)
    alg = _algorithm(auth, params)
    exclude = credential_ids(params, P.EXCLUDE_LIST) or []
    ext_in = extensions.parse_make_credential(auth, get_map(params, P.EXTENSIONS))
    options = get_options(params, P.OPTIONS)
    enterprise = get_int(params, P.ENTERPRISE_ATTESTATION)
    formats = get_list(params, ATTESTATION_FORMATS_PREFERENCE)

    rk = bool(options.get("rk", False))
    if rk and not profile.supports_rk:
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "no discoverable credentials")
    if options.get("up") is False:
        raise CtapError(CtapStatus.INVALID_OPTION, "makeCredential always needs presence")
    user_verification.uv_option(auth, options)

    protected = auth.uv_protected()
    if param is None:
        if auth.state.always_uv and profile.supports_always_uv:
            raise CtapError(CtapStatus.PUAT_REQUIRED, "alwaysUv is on")
        uv_not_required = (
            profile.options.get("makeCredUvNotRqd") and not rk and not auth.state.always_uv
        )
        if protected and not uv_not_required:
            raise CtapError(CtapStatus.PUAT_REQUIRED, "a PIN is set")

    enterprise_attestation = _enterprise(auth, enterprise, rp_id)

    uv = False
    if param is not None:
        assert protocol is not None
        user_verification.verify(auth, protocol, param, client_data_hash, Permission.MC, rp_id)
        uv = True
    already_present = user_verification.token_presence(auth, uv)

    rp_hash = rp_id_hash(rp_id)
    for cred_id in exclude:
        secret = auth.wrapper.unwrap(rp_hash, cred_id)
        if secret is None or (secret.resident and _resident(auth, cred_id) is None):
            continue
        if secret.cred_protect == CredProtect.UV_REQUIRED and not uv:
            continue
        if not already_present:
            auth.presence(transaction, "excluded credential")
        raise CtapError(CtapStatus.CREDENTIAL_EXCLUDED, "credential already registered")

    if ext_in.large_blob_key and not rk:
        raise CtapError(CtapStatus.INVALID_OPTION, "largeBlobKey needs a discoverable credential")
    if rk and auth.remaining_resident_slots() <= 0 and not _replaces(auth, rp_id, user["id"]):
        raise CtapError(CtapStatus.KEY_STORE_FULL, "no room for another resident credential")

    up = already_present or auth.presence(transaction, "makeCredential")
    user_verification.after_use(auth, uv)

    cred_protect = ext_in.cred_protect or CredProtect.UV_OPTIONAL
    blob = extensions.stored_cred_blob(auth, ext_in)
    secret = auth.wrapper.new_secret(
        alg,
        cred_protect=cred_protect,
        resident=rk,
        hmac_secret=ext_in.hmac_secret,
        cred_blob=None if rk else blob,
    )
    cred_id = auth.wrapper.wrap(rp_hash, secret)
    key = auth.wrapper.key(cred_id, secret)
    large_blob_key = auth.env.rng(32) if ext_in.large_blob_key else None
    if rk:
        _store_resident(auth, rp, user, cred_id, secret, blob, large_blob_key)

    flags = (AuthDataFlag.UP if up else 0) | (AuthDataFlag.UV if uv else 0)
    ext_out = extensions.make_credential_outputs(auth, ext_in, rp_id, cred_protect)
    auth_data = build_auth_data(
        auth.output_rp_hash(rp_hash),
        flags,
        auth.next_counter(cred_id),
        aaguid=profile.aaguid,
        cred_id=cred_id,
        public_key=key.cose_public_key(),
        extensions=ext_out,
    )
    fmt, stmt = _attest(auth, auth_data, client_data_hash, key, enterprise_attestation, formats)
    response: dict[int, Any] = {R.FMT: fmt, R.AUTH_DATA: auth_data, R.ATT_STMT: stmt}
    if enterprise_attestation:
        response[R.EP_ATT] = True
    if large_blob_key is not None:
        response[R.LARGE_BLOB_KEY] = large_blob_key
    return {int(k): v for k, v in response.items()}


def _enterprise(auth: Authenticator, value: int | None, rp_id: str) -> bool:
    """Whether this registration gets enterprise attestation (§7.1)."""
    if value is None:
        return False
    if not auth.profile.supports_ep or not auth.state.enterprise_attestation:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "enterprise attestation not enabled")
    if value == ENTERPRISE_VENDOR_FACILITATED:
        return rp_id in auth.profile.enterprise_rp_ids
    if value == ENTERPRISE_PLATFORM_MANAGED:
        return True
    raise CtapError(CtapStatus.INVALID_OPTION, f"enterpriseAttestation {value}")


def _resident(auth: Authenticator, cred_id: bytes) -> ResidentCredential | None:
    for cred in auth.state.residents:
        if cred.id == cred_id:
            return cred
    return None


def _replaces(auth: Authenticator, rp_id: str, user_id: bytes) -> bool:
    return any(c.rp_id == rp_id and c.user_id == user_id for c in auth.state.residents)


def _store_resident(
    auth: Authenticator,
    rp: dict[str, Any],
    user: dict[str, Any],
    cred_id: bytes,
    secret: CredentialSecret,
    blob: bytes | None,
    large_blob_key: bytes | None,
) -> None:
    """Keep a discoverable credential; one per (RP, user handle), the newer one wins."""
    state = auth.state
    for old in [c for c in state.residents if c.rp_id == rp["id"] and c.user_id == user["id"]]:
        state.residents.remove(old)
        auth.store.forget_counter_for(old.id)
    state.residents.append(
        ResidentCredential(
            id=cred_id,
            rp_id=rp["id"],
            rp_name=rp.get("name"),
            user_id=user["id"],
            user_name=user.get("name"),
            user_display_name=user.get("displayName"),
            alg=secret.alg,
            cred_protect=secret.cred_protect,
            created=state.next_created,
            cred_blob=blob,
            large_blob_key=large_blob_key,
            hmac_secret=secret.hmac_secret,
        )
    )
    state.next_created += 1
    auth.persist()


def _attest(
    auth: Authenticator,
    auth_data: bytes,
    client_data_hash: bytes,
    key: CredentialKey,
    enterprise: bool,
    formats: list[Any] | None,
) -> tuple[str, dict[str, Any]]:
    """The attestation statement: packed (batch, enterprise or self) or none."""
    mode = auth.profile.attestation
    if formats and formats[0] == "none" and not enterprise:
        mode = "none"
    to_sign = auth_data + client_data_hash
    if mode == "none" and not enterprise:
        return "none", {}
    if mode == "self" and not enterprise:
        return "packed", packed_statement(key.alg, auth.output_signature(key.sign(to_sign)), None)
    authority = auth.env.attestation
    if enterprise and hasattr(authority, "enterprise_batch"):
        try:
            batch = authority.enterprise_batch(auth.profile.aaguid, auth.profile.model)
        except NotImplementedError:
            batch = authority.batch(auth.profile.aaguid, auth.profile.model)
    else:
        batch = authority.batch(auth.profile.aaguid, auth.profile.model)
    signature = auth.output_signature(batch.sign(to_sign))
    return "packed", packed_statement(BATCH_ALG, signature, batch.chain_der())
