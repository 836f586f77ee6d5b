"""WebAuthn relying-party checks: registration (attestation) and sign-in (assertion).

Built on python-fido2's data classes: `CollectedClientData`, `AttestationObject`,
`AuthenticatorData` parse; its attestation verifiers check statements
(`verifier.webauthn_attestation`); `tokenbench.verifier.trust` decides which roots are trusted.
What this module adds is the relying party's policy, in the order of WebAuthn Level 3
sections 7.1 and 7.2: client data type, challenge, origin, RP ID hash, user presence and
verification, backup flags, algorithm, signature, and the signature counter.

Nothing here keeps state: the caller stores what `verify_registration` returns and passes
it back as a `StoredCredential`. One authenticator may hold credentials for many identities;
every check is per credential. The caller stores `AssertionResult.new_sign_count` only on
success, and it is never lower than the stored counter.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestationObject,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn_attestation import evaluate_trust, verify_statement
from tokenbench.verifier.webauthn_errors import CounterRegression, WebAuthnError
from tokenbench.verifier.webauthn_keys import (
    ALLOWED_ALGORITHMS,
    CoseKeyError,
    cached_verifier,
)

__all__ = [
    "AssertionResult",
    "CounterRegression",
    "RegisteredCredential",
    "RelyingPartyPolicy",
    "StoredCredential",
    "WebAuthnError",
    "authentication_options",
    "classify",
    "new_challenge",
    "registration_options",
    "verify_assertion",
    "verify_registration",
]

UV_REQUIRED, UV_PREFERRED, UV_DISCOURAGED = "required", "preferred", "discouraged"
UV_POLICIES = frozenset({UV_REQUIRED, UV_PREFERRED, UV_DISCOURAGED})
TYPE_CREATE = CollectedClientData.TYPE.CREATE.value  # "webauthn.create"
TYPE_GET = CollectedClientData.TYPE.GET.value  # "webauthn.get"
CHALLENGE_BYTES = 32  # WebAuthn asks for at least 16 random bytes
MAX_CREDENTIAL_ID_LENGTH = 1023  # WebAuthn Level 3, section 7.1 step 23
DEFAULT_TIMEOUT_MS = 120_000
DEVICE_BOUND, SYNCED = "device-bound", "synced"

_FLAG = AuthenticatorData.FLAG
# Plain ints for the hot path: IntFlag arithmetic costs microseconds per operation.
_UP, _UV, _BE, _BS = int(_FLAG.UP), int(_FLAG.UV), int(_FLAG.BE), int(_FLAG.BS)
_AT, _ED = int(_FLAG.AT), int(_FLAG.ED)
_RP_ID_HASH_LEN = 32
_HEADER = struct.Struct(">32sBI")  # rpIdHash, flags, signCount (WebAuthn section 6.1)


@dataclass(frozen=True)
class RelyingPartyPolicy:
    """What this relying party accepts. `origins` are full origins ("https://example.com")."""

    rp_id: str
    origins: frozenset[str]
    user_verification: str = UV_PREFERRED
    require_trusted_attestation: bool = False
    trust: TrustStore | None = None
    allow_counter_regression: bool = False

    def __post_init__(self) -> None:
        if self.user_verification not in UV_POLICIES:
            raise ValueError(f"user_verification must be one of {sorted(UV_POLICIES)}")
        origins: object = self.origins  # a caller ignoring the annotation may pass one string
        if isinstance(origins, str):
            raise TypeError("origins must be a set of origins, not one string")
        object.__setattr__(self, "origins", frozenset(self.origins))


@dataclass
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes  # COSE key, CBOR-encoded
    sign_count: int
    aaguid: bytes
    attestation_format: str
    attestation_trusted: bool
    trust_path_subject: str | None
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    attestation_reason: str = ""  # one line: why trusted or not

    @property
    def kind(self) -> str:
        return classify(self.backup_eligible, self.backup_state)


@dataclass
class StoredCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    backup_eligible: bool
    user_handle: bytes | None


@dataclass
class AssertionResult:
    new_sign_count: int
    user_verified: bool
    backup_state: bool
    counter_regressed: bool = field(default=False)  # only ever True under allow_counter_regression


def new_challenge(rng: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """A fresh random challenge; the caller keeps it server-side until the response."""
    return rng(CHALLENGE_BYTES)


def classify(backup_eligible: bool, backup_state: bool = False) -> str:
    """ "device-bound" for a key that can never leave its authenticator, "synced" for a passkey
    that may be copied (backup eligible). BS without BE is a contradiction."""
    if backup_state and not backup_eligible:
        raise WebAuthnError(
            "malformed", "backup state set on a credential that is not backup eligible"
        )
    return SYNCED if backup_eligible else DEVICE_BOUND


# --- options ------------------------------------------------------------------------------


def _descriptors(ids: Sequence[bytes]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=bytes(i))
        for i in ids
    ]


def registration_options(
    policy: RelyingPartyPolicy,
    user_id: bytes,
    user_name: str,
    challenge: bytes,
    exclude: Sequence[bytes],
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as a JSON-able dict (binary fields base64url)."""
    wants_attestation = policy.require_trusted_attestation or policy.trust is not None
    options = PublicKeyCredentialCreationOptions(
        rp=PublicKeyCredentialRpEntity(id=policy.rp_id, name=policy.rp_id),
        user=PublicKeyCredentialUserEntity(
            id=bytes(user_id), name=user_name, display_name=user_name
        ),
        challenge=bytes(challenge),
        pub_key_cred_params=[
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
            for alg in ALLOWED_ALGORITHMS
        ],
        timeout=DEFAULT_TIMEOUT_MS,
        exclude_credentials=_descriptors(exclude),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement(policy.user_verification),
        ),
        attestation=(
            AttestationConveyancePreference.DIRECT
            if wants_attestation
            else AttestationConveyancePreference.NONE
        ),
    )
    return dict(options)


def authentication_options(
    policy: RelyingPartyPolicy, challenge: bytes, allow: Sequence[bytes]
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions as a JSON-able dict (binary fields base64url)."""
    options = PublicKeyCredentialRequestOptions(
        challenge=bytes(challenge),
        timeout=DEFAULT_TIMEOUT_MS,
        rp_id=policy.rp_id,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(policy.user_verification),
    )
    return dict(options)


# --- shared checks ------------------------------------------------------------------------


def _as_bytes(value: object, what: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise WebAuthnError("malformed", f"{what} is not bytes")


@lru_cache(maxsize=64)
def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def _client_data(
    policy: RelyingPartyPolicy, raw: bytes, expected_type: str, challenge: bytes
) -> None:
    """Client data checks (7.1 steps 7-10, 7.2 steps 11-14)."""
    try:
        client = CollectedClientData(raw)
    except Exception:  # JSON, UTF-8, base64, missing keys: all mean "malformed"
        raise WebAuthnError("malformed", "client data JSON is not valid") from None
    if client.type != expected_type:
        raise WebAuthnError("type-mismatch", f"client data type is not {expected_type}")
    if not hmac.compare_digest(client.challenge, challenge):
        raise WebAuthnError("challenge-mismatch", "challenge does not match the one issued")
    origin = client.origin
    if not isinstance(origin, str) or origin not in policy.origins:
        raise WebAuthnError("origin-mismatch", f"origin {str(origin)[:80]!r} is not allowed")
    if client.cross_origin is not False and client.cross_origin is not None:
        raise WebAuthnError("origin-mismatch", "cross-origin ceremonies are not allowed")


def _rp_id(policy: RelyingPartyPolicy, auth_data: AuthenticatorData) -> None:
    if not hmac.compare_digest(auth_data.rp_id_hash, _rp_id_hash(policy.rp_id)):
        raise WebAuthnError("rp-id-mismatch", "authenticator data is for another RP ID")


def _flags(policy: RelyingPartyPolicy, flags: int) -> None:
    """UP, UV policy and backup-flag consistency (7.1 steps 14-17, 7.2 steps 16-18)."""
    if not flags & _UP:
        raise WebAuthnError("user-presence-missing", "user presence flag not set")
    if policy.user_verification == UV_REQUIRED and not flags & _UV:
        raise WebAuthnError(
            "user-verification-missing", "user verification required but not performed"
        )
    if flags & _BS and not flags & _BE:
        raise WebAuthnError("malformed", "backup state set without backup eligibility")


# --- registration -------------------------------------------------------------------------


def verify_registration(
    policy: RelyingPartyPolicy,
    challenge: bytes,
    client_data_json: bytes,
    attestation_object: bytes,
) -> RegisteredCredential:
    """Check a navigator.credentials.create() response; return what to store."""
    client_data_json = _as_bytes(client_data_json, "client data JSON")
    _client_data(policy, client_data_json, TYPE_CREATE, challenge)
    try:
        attestation = AttestationObject(_as_bytes(attestation_object, "attestation object"))
    except Exception:  # CBOR, COSE, length errors: all mean "malformed"
        raise WebAuthnError("malformed", "attestation object is not valid") from None
    auth_data = attestation.auth_data
    flags = int(auth_data.flags)
    _rp_id(policy, auth_data)
    _flags(policy, flags)
    credential = auth_data.credential_data
    if credential is None:
        raise WebAuthnError("malformed", "no attested credential data in a registration")
    if len(credential.credential_id) > MAX_CREDENTIAL_ID_LENGTH:
        raise WebAuthnError("malformed", "credential ID longer than 1023 bytes")
    public_key = _cose_bytes(credential)
    try:
        cached_verifier(public_key)
    except CoseKeyError as exc:
        raise WebAuthnError(
            "unsupported-algorithm" if exc.unsupported else "malformed", str(exc)
        ) from None
    client_data_hash = hashlib.sha256(client_data_json).digest()
    result = verify_statement(attestation, client_data_hash)
    outcome = evaluate_trust(attestation, result, policy.trust)
    if policy.require_trusted_attestation and not outcome.trusted:
        raise WebAuthnError("untrusted-attestation", f"attestation not trusted: {outcome.reason}")
    return RegisteredCredential(
        credential_id=bytes(credential.credential_id),
        public_key=public_key,
        sign_count=auth_data.counter,
        aaguid=bytes(credential.aaguid),
        attestation_format=outcome.fmt,
        attestation_trusted=outcome.trusted,
        trust_path_subject=outcome.trust_path_subject,
        user_verified=bool(flags & _UV),
        backup_eligible=bool(flags & _BE),
        backup_state=bool(flags & _BS),
        attestation_reason=outcome.reason,
    )


def _cose_bytes(credential: Any) -> bytes:
    """The credential public key exactly as the authenticator encoded it."""
    raw = bytes(credential)
    id_len = int.from_bytes(raw[16:18], "big")
    return raw[18 + id_len :]


# --- assertion ----------------------------------------------------------------------------


def verify_assertion(
    policy: RelyingPartyPolicy,
    challenge: bytes,
    stored: StoredCredential,
    credential_id: bytes,
    client_data_json: bytes,
    authenticator_data: bytes,
    signature: bytes,
    user_handle: bytes | None,
) -> AssertionResult:
    """Check a navigator.credentials.get() response against the stored credential."""
    credential_id = _as_bytes(credential_id, "credential ID")
    client_data_json = _as_bytes(client_data_json, "client data JSON")
    raw_auth_data = _as_bytes(authenticator_data, "authenticator data")
    if not hmac.compare_digest(credential_id, stored.credential_id):
        raise WebAuthnError("malformed", "credential ID does not match the stored credential")
    if user_handle is not None:
        user_handle = _as_bytes(user_handle, "user handle")
    if (
        user_handle
        and stored.user_handle is not None
        and not hmac.compare_digest(user_handle, stored.user_handle)
    ):
        raise WebAuthnError("malformed", "user handle does not match the credential's owner")
    _client_data(policy, client_data_json, TYPE_GET, challenge)
    rp_id_hash, flags, counter = _assertion_header(raw_auth_data)
    if not hmac.compare_digest(rp_id_hash, _rp_id_hash(policy.rp_id)):
        raise WebAuthnError("rp-id-mismatch", "authenticator data is for another RP ID")
    _check_signature(stored.public_key, signature, raw_auth_data, client_data_json)
    _flags(policy, flags)
    backup_eligible = bool(flags & _BE)
    if backup_eligible != bool(stored.backup_eligible):
        raise WebAuthnError(
            "backup-eligibility-changed", "backup eligibility differs from registration"
        )
    counter, regressed = _next_counter(policy, stored.sign_count, counter)
    return AssertionResult(
        new_sign_count=counter,
        user_verified=bool(flags & _UV),
        backup_state=bool(flags & _BS),
        counter_regressed=regressed,
    )


def _assertion_header(raw: bytes) -> tuple[bytes, int, int]:
    """(rpIdHash, flags, signCount) of assertion authenticator data.

    Nearly every assertion is the bare 37-byte header (no extensions); that case is read with
    one struct unpack, because this is the hot path of every sign-in. Anything longer goes
    through python-fido2's `AuthenticatorData`, which validates the extension CBOR.
    """
    if len(raw) == _HEADER.size and not raw[_RP_ID_HASH_LEN] & (_AT | _ED):
        return _HEADER.unpack(raw)
    try:
        parsed = AuthenticatorData(raw)
    except Exception:  # truncated or garbage authenticator data
        raise WebAuthnError("malformed", "authenticator data is not valid") from None
    return parsed.rp_id_hash, int(parsed.flags), parsed.counter


def _check_signature(
    public_key: bytes, signature: bytes, auth_data: bytes, client_data_json: bytes
) -> None:
    try:
        _, verify = cached_verifier(bytes(public_key))
    except CoseKeyError as exc:
        raise WebAuthnError(
            "unsupported-algorithm" if exc.unsupported else "malformed", str(exc)
        ) from None
    message = auth_data + hashlib.sha256(client_data_json).digest()
    try:
        verify(bytes(signature), message)
    except InvalidSignature:
        raise WebAuthnError("signature-invalid", "assertion signature does not verify") from None
    except (ValueError, TypeError):
        raise WebAuthnError("signature-invalid", "assertion signature is malformed") from None


def _next_counter(policy: RelyingPartyPolicy, stored: int, received: int) -> tuple[int, bool]:
    """The counter to store: must grow unless both are zero (7.2 step 21)."""
    if (received or stored) and received <= stored:
        if not policy.allow_counter_regression:
            raise CounterRegression(stored, received)
        return stored, True
    return max(received, stored), False
