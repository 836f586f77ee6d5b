"""authenticatorMakeCredential (CTAP 2.1 §6.1).

`MakeCredentialRequest.parse` applies the wire rules (types, required members); `make_credential`
then runs the steps of §6.1.2 in order: options, user verification, excluded credentials,
room and presence, then the new credential and its attestation.
"""

from __future__ import annotations

from dataclasses import dataclass

from fido2.cbor import CborType

from tokenbench.emulators.ctap import user_verification
from tokenbench.emulators.ctap.auth_data import BATCH_ALG, build_auth_data, packed_statement
from tokenbench.emulators.ctap.constants import (
    PUBLIC_KEY_TYPE,
    AuthDataFlag,
    CredProtect,
    CtapStatus,
    Ext,
)
from tokenbench.emulators.ctap.constants import (
    MakeCredentialParam as P,
)
from tokenbench.emulators.ctap.constants import (
    MakeCredentialResponse as R,
)
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.credentials import CredentialKey, CredentialSecret, rp_id_hash
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.extensions import (
    HmacSecretInput,
    McExtensions,
    keeps_payment_flag,
    make_credential_outputs,
    open_mc_salts,
    stored_cred_blob,
)
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.preview_sign import generate_key, key_auth_data, unsigned_outputs
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

ATTESTATION_FORMATS_PREFERENCE = 0x0B
KNOWN_MEMBERS = (*P, ATTESTATION_FORMATS_PREFERENCE)
MAX_USER_ID = 64
ENTERPRISE_VENDOR_FACILITATED = 1
ENTERPRISE_PLATFORM_MANAGED = 2

AttestationStatement = dict[str, CborType]


@dataclass(frozen=True)
class RpEntity:
    id: str
    name: str | None

    @classmethod
    def parse(cls, rp: Members, profile: DeviceProfile) -> RpEntity:
        parsed = cls(id=rp.required("id", str), name=rp.optional("name", str))
        if not profile.ctap21:
            # CTAP 2.0 defines rp.icon (a URL); a 2.0 key type-checks it like every member it
            # defines. 2.1 dropped it with WebAuthn L2, so a 2.1 key ignores it.
            rp.optional("icon", str)
        return parsed


@dataclass(frozen=True)
class UserEntity:
    id: bytes
    name: str | None
    display_name: str | None

    @classmethod
    def parse(cls, user: Members) -> UserEntity:
        user_id = user.required("id", bytes)
        if len(user_id) > MAX_USER_ID:
            raise CtapError(CtapStatus.INVALID_LENGTH, "user id longer than 64 bytes")
        parsed = cls(user_id, user.optional("name", str), user.optional("displayName", str))
        user.optional("icon", str)
        return parsed


def _public_key_algorithms(params: Members) -> tuple[int, ...]:
    """The "public-key" algorithms of pubKeyCredParams, in the platform's preference order."""
    entries = params.required(P.PUB_KEY_CRED_PARAMS, list)
    algorithms = []
    for parameters in params.entries(entries, "pubKeyCredParams entry"):
        if params.lenient:  # a sloppy key skips what it cannot read
            kind, alg = parameters.optional("type", str), parameters.optional("alg", int)
            if kind is None or alg is None:
                continue
        else:
            kind, alg = parameters.required("type", str), parameters.required("alg", int)
        if kind == PUBLIC_KEY_TYPE:
            algorithms.append(alg)
    return tuple(algorithms)


@dataclass(frozen=True)
class MakeCredentialRequest:
    client_data_hash: bytes
    rp: RpEntity
    user: UserEntity
    algorithms: tuple[int, ...]
    exclude_list: tuple[bytes, ...]
    extensions: McExtensions
    options: dict[str, bool]
    pin_uv_auth: PinUvAuth
    enterprise_attestation: int | None
    attestation_formats: tuple[CborType, ...] | None

    @classmethod
    def parse(
        cls, params: CborMap, profile: DeviceProfile, lenient: bool = False
    ) -> MakeCredentialRequest:
        m = Members(params, lenient=lenient)
        pin_uv_auth = PinUvAuth.parse(m, P.PIN_UV_AUTH_PARAM, P.PIN_UV_AUTH_PROTOCOL)
        client_data_hash = m.required(P.CLIENT_DATA_HASH, bytes)
        rp = RpEntity.parse(m.required_map(P.RP, "rp"), profile)
        user = UserEntity.parse(m.required_map(P.USER, "user"))
        algorithms = _public_key_algorithms(m)
        exclude_list = m.credential_ids(P.EXCLUDE_LIST) or ()
        extensions = McExtensions.parse(m.optional_map(P.EXTENSIONS, "extensions"), profile)
        formats = m.optional_list(ATTESTATION_FORMATS_PREFERENCE)
        return cls(
            client_data_hash=client_data_hash,
            rp=rp,
            user=user,
            algorithms=algorithms,
            exclude_list=exclude_list,
            extensions=extensions,
            options=m.options(P.OPTIONS),
            pin_uv_auth=pin_uv_auth,
            enterprise_attestation=m.optional(P.ENTERPRISE_ATTESTATION, int),
            attestation_formats=None if formats is None else tuple(formats),
        )

    @property
    def rk(self) -> bool:
        return self.options.get("rk", False)


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response:
    faults = key.faults
    request = MakeCredentialRequest.parse(params, key.profile, faults.lenient_requests)
    if faults.refuses_unknown:
        members = Members(params)
        extensions = members.optional_map(P.EXTENSIONS, "extensions")
        refuse_unknown(members, KNOWN_MEMBERS, request.options, extensions, key.profile.extensions)
    return make_credential(key, request, transaction)


def make_credential(
    key: KeyContext, request: MakeCredentialRequest, transaction: Transaction | None
) -> Response:
    param = user_verification.ceremony_param(key, request.pin_uv_auth, transaction)
    alg = _algorithm(key, request)
    _check_options(key, request)
    wants_sensor = user_verification.wants_sensor(key, request.options, param)
    _require_uv_when_protected(key, request, param is not None or wants_sensor)
    enterprise = _enterprise(key, request.enterprise_attestation, request.rp.id)
    token = param is not None
    if param is not None:
        user_verification.verify(key, param, request.client_data_hash, Permission.MC, request.rp.id)
    by_sensor = user_verification.sensor_uv(key, request.options, param, transaction)
    uv = token or by_sensor
    already_present = user_verification.finger_is_touch(key, by_sensor)
    already_present = already_present or user_verification.token_presence(key, token)
    _refuse_excluded(key, request, uv, already_present, transaction)
    _check_room(key, request)
    mc_salts = open_mc_salts(key, request.extensions)
    up = already_present or key.presence(transaction, "makeCredential")
    user_verification.after_use(key, token)
    flags = (AuthDataFlag.UP if up else 0) | (AuthDataFlag.UV if uv else 0)
    return _register(key, request, alg, flags, enterprise, mc_salts)


def _algorithm(key: KeyContext, request: MakeCredentialRequest) -> int:
    """The first pubKeyCredParams entry this key supports (the platform's preference order)."""
    for alg in request.algorithms:
        if alg in key.profile.algorithms:
            return alg
    raise CtapError(CtapStatus.UNSUPPORTED_ALGORITHM, "no supported algorithm")


def _check_options(key: KeyContext, request: MakeCredentialRequest) -> None:
    if request.rk and not key.profile.supports_rk:
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "no discoverable credentials")
    if request.options.get("up") is False:
        raise CtapError(CtapStatus.INVALID_OPTION, "makeCredential always needs presence")
    user_verification.refuse_uv_option(key, request.options)


def _require_uv_when_protected(
    key: KeyContext, request: MakeCredentialRequest, has_param: bool
) -> None:
    """Without a pinUvAuthParam: refused under alwaysUv, or when a PIN is set, unless
    makeCredUvNotRqd lets a non-discoverable credential through (§6.1.2 steps 4-5)."""
    if has_param:
        return
    always_uv = user_verification.always_uv(key)
    if always_uv:
        raise CtapError(CtapStatus.PUAT_REQUIRED, "alwaysUv is on")
    uv_not_required = key.profile.options.get("makeCredUvNotRqd") and not request.rk
    if key.uv_protected() and not uv_not_required:
        raise CtapError(CtapStatus.PUAT_REQUIRED, "a PIN is set")


def _enterprise(key: KeyContext, value: int | None, rp_id: str) -> bool:
    """Whether this registration gets enterprise attestation (§7.1)."""
    if value is None:
        return False
    if not key.profile.supports_ep or not key.state.enterprise_attestation:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "enterprise attestation not enabled")
    if value == ENTERPRISE_VENDOR_FACILITATED:
        return rp_id in key.profile.enterprise_rp_ids
    if value == ENTERPRISE_PLATFORM_MANAGED:
        return True
    raise CtapError(CtapStatus.INVALID_OPTION, f"enterpriseAttestation {value}")


def _resident(key: KeyContext, cred_id: bytes) -> ResidentCredential | None:
    return next((c for c in key.state.residents if c.id == cred_id), None)


def _refuse_excluded(
    key: KeyContext,
    request: MakeCredentialRequest,
    uv: bool,
    already_present: bool,
    transaction: Transaction | None,
) -> None:
    """CREDENTIAL_EXCLUDED, after a touch, if the key holds a credential of the excludeList
    that this request could see (a credProtect=3 credential only with UV)."""
    rp_hash = rp_id_hash(request.rp.id)
    for cred_id in key.faults.credential_list(request.exclude_list):
        secret = key.wrapper.unwrap(rp_hash, cred_id)
        if secret is None or (secret.resident and _resident(key, cred_id) is None):
            continue
        if secret.cred_protect == CredProtect.UV_REQUIRED and not uv:
            continue
        if not already_present:
            key.presence(transaction, "excluded credential")
        raise CtapError(CtapStatus.CREDENTIAL_EXCLUDED, "credential already registered")


def _check_room(key: KeyContext, request: MakeCredentialRequest) -> None:
    if request.extensions.large_blob_key and not request.rk and not key.faults.ignores_options:
        raise CtapError(CtapStatus.INVALID_OPTION, "largeBlobKey needs a discoverable credential")
    replaces = any(
        c.rp_id == request.rp.id and c.user_id == request.user.id for c in key.state.residents
    )
    if request.rk and key.remaining_resident_slots() <= 0 and not replaces:
        raise CtapError(CtapStatus.KEY_STORE_FULL, "no room for another resident credential")


def _register(
    key: KeyContext,
    request: MakeCredentialRequest,
    alg: int,
    flags: int,
    enterprise: bool,
    mc_salts: HmacSecretInput | None = None,
) -> Response:
    """Make the credential, keep it if discoverable, and answer with its attestation."""
    ext_in = request.extensions
    cred_protect = ext_in.cred_protect or CredProtect.UV_OPTIONAL
    blob = stored_cred_blob(key, ext_in)
    secret = key.wrapper.new_secret(
        alg,
        cred_protect=key.faults.stored_cred_protect(cred_protect),
        resident=request.rk,
        hmac_secret=ext_in.hmac_secret,
        cred_blob=None if request.rk else blob,
        third_party_payment=keeps_payment_flag(key, ext_in),
    )
    rp_hash = rp_id_hash(request.rp.id)
    cred_id = key.wrapper.wrap(rp_hash, secret)
    large_blob_key = key.random(32) if ext_in.large_blob_key else None
    if request.rk:
        _store_resident(key, request, cred_id, secret, blob, large_blob_key)
    credential_key = key.wrapper.key(cred_id, secret)
    sign_request = ext_in.preview_sign
    generated = None if sign_request is None else generate_key(key, sign_request, secret.seed)
    auth_data = build_auth_data(
        key.faults.rp_hash(rp_hash),
        key.faults.flags(flags),
        key.next_counter(cred_id),
        aaguid=key.profile.aaguid,
        cred_id=cred_id,
        public_key=credential_key.cose_public_key(),
        extensions=make_credential_outputs(
            key,
            ext_in,
            request.rp.id,
            cred_protect,
            secret,
            uv=bool(flags & AuthDataFlag.UV),
            mc_salts=mc_salts,
            generated=generated,
        ),
    )
    fmt, stmt = _attest(key, request, auth_data, credential_key, enterprise)
    response: Response = {R.FMT: fmt, R.AUTH_DATA: auth_data, R.ATT_STMT: stmt}
    if enterprise:
        response[R.EP_ATT] = True
    if large_blob_key is not None:
        response[R.LARGE_BLOB_KEY] = large_blob_key
    if generated is not None:  # previewSign's key, attested as the credential is
        key_data = key_auth_data(key, generated, rp_hash, flags)
        key_att = _attest(key, request, key_data, credential_key, enterprise)
        outputs = unsigned_outputs(key_att[0], key_data, key_att[1])
        response[R.UNSIGNED_EXTENSION_OUTPUTS] = {Ext.PREVIEW_SIGN: dict(outputs)}
    return response


def _store_resident(
    key: KeyContext,
    request: MakeCredentialRequest,
    cred_id: bytes,
    secret: CredentialSecret,
    blob: bytes | None,
    large_blob_key: bytes | None,
) -> None:
    """Keep a discoverable credential; one per (RP, user handle), the newer one wins."""
    state = key.state
    rp, user = request.rp, request.user
    same_account = [c for c in state.residents if c.rp_id == rp.id and c.user_id == user.id]
    for old in same_account if key.faults.replaces_residents else []:
        state.residents.remove(old)
        key.forget_counter(old.id)
    state.residents.append(
        ResidentCredential(
            id=cred_id,
            rp_id=rp.id,
            rp_name=rp.name,
            user_id=user.id,
            user_name=key.faults.user_field(user.name),
            user_display_name=key.faults.user_field(user.display_name),
            alg=secret.alg,
            cred_protect=secret.cred_protect,
            created=state.next_created,
            cred_blob=blob,
            large_blob_key=large_blob_key,
            hmac_secret=secret.hmac_secret,
        )
    )
    state.next_created += 1
    key.persist()


def _attest(
    key: KeyContext,
    request: MakeCredentialRequest,
    auth_data: bytes,
    credential_key: CredentialKey,
    enterprise: bool,
) -> tuple[str, AttestationStatement]:
    """The attestation statement: packed (batch, enterprise or self) or none."""
    mode = key.profile.attestation
    formats = request.attestation_formats
    if formats and formats[0] == "none" and not enterprise:
        mode = "none"
    to_sign = auth_data + request.client_data_hash
    if mode == "none" and not enterprise:
        return "none", {}
    if mode == "self" and not enterprise:
        signature = key.faults.signature(credential_key.sign(to_sign))
        return "packed", packed_statement(credential_key.alg, signature, None)
    profile = key.profile
    if enterprise:
        batch = key.attestation.enterprise_batch(profile.aaguid, profile.model)
    else:
        batch = key.attestation.batch(profile.aaguid, profile.model)
    signature = key.faults.signature(batch.sign(to_sign))
    return "packed", packed_statement(BATCH_ALG, signature, batch.chain_der())
