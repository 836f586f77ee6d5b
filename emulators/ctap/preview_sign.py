"""The draft sign extension, `previewSign` (version 4, as python-fido2 2.2.1 speaks it).

At makeCredential the RP asks for a signing key of one of `algorithms`; the key makes one
beside the credential and answers with its algorithm and flags (signed) and, as an unsigned
output, an attestation object whose attested credential is the signing key (its "credential
ID" is the key handle). At getAssertion the RP names that key handle with the data to sign
(`tbs`), for an allowListed credential, and gets the signature back in the signed extensions.

Nothing is stored: like a credential's own key (cose_algorithms.py), the signing key is derived
from the credential's seed, with a random nonce that the key handle carries beside the
algorithm and the flags. A MAC under the same seed binds the handle to its credential, so a
handle of another credential, or an edited one (flags lowered, say), is INVALID_CREDENTIAL.

Algorithms: ESP256 and ES256 sign `tbs` as the message; ESP256-split (-300) signs `tbs` as a
SHA-256 hash the RP computed; ESP256-split-ARKG signs it with a private key derived by ARKG
(arkg.py) from the key handle and context the RP passes in `additionalArgs`.

Error codes are the ones python-fido2's device suite (tests/device/test_sign_extension_v4.py)
expects: an unknown flags value is INVALID_OPTION, no supported algorithm UNSUPPORTED_ALGORITHM,
a sign request without keyHandle or tbs, or without an allowList, INVALID_OPTION, ARKG
arguments that are missing MISSING_PARAMETER, of another algorithm INVALID_CREDENTIAL, and a
key that needs presence or user verification it did not get UP_REQUIRED or PUAT_REQUIRED.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap.arkg import ArkgError, ArkgSeed
from tokenbench.emulators.ctap.auth_data import build_auth_data
from tokenbench.emulators.ctap.constants import CtapStatus, Ext
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.cose_algorithms import P256_ORDER
from tokenbench.emulators.ctap.credentials import hkdf
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.request import Members


class Input(IntEnum):
    """Authenticator extension input keys."""

    KEY_HANDLE = 2
    ALGORITHMS = 3
    FLAGS = 4
    TBS = 6
    ADDITIONAL_ARGS = 7


class Output(IntEnum):
    """Authenticator extension output keys (signed: ALG, FLAGS, SIGNATURE; unsigned: ATT_OBJ)."""

    ALG = 3
    FLAGS = 4
    SIGNATURE = 6
    ATT_OBJ = 7


class SignAlg(IntEnum):
    """The signing algorithms this key makes keys for (COSE identifiers, some placeholders)."""

    ESP256 = -9
    ES256 = -7
    ESP256_SPLIT = -300  # draft-lundberg-cose-two-party-signing-algs: requested assignment
    ESP256_SPLIT_ARKG = -65539  # draft-bradleylundberg-cfrg-arkg: placeholder


ARKG_P256 = -65700
"""COSE alg of an ARKG-P256 seed public key (placeholder, as python-fido2 reads it)."""
KTY_ARKG_PUB = -65537
"""COSE kty ARKG-pub (placeholder of the ARKG draft's registrations)."""
ECDH_ES_HKDF_256 = -25
"""COSE alg named on the seed's KEM public key."""
ARGS_ALG, ARGS_KH, ARGS_CTX = 3, -1, -2
"""COSE_Sign_Args members for ESP256-split-ARKG: alg, ARKG key handle, context."""

FLAG_UP = 0b001
FLAG_UV = 0b100
VALID_FLAGS = (0b000, FLAG_UP, FLAG_UP | FLAG_UV)
PREHASHED = (SignAlg.ESP256_SPLIT, SignAlg.ESP256_SPLIT_ARKG)
PREHASH_LEN = 32

KH_VERSION = 0x01
NONCE_LEN = 16
MAC_LEN = 16
KH_HEADER_LEN = 3
KEY_HANDLE_LEN = KH_HEADER_LEN + NONCE_LEN + MAC_LEN
ALG_CODES: dict[SignAlg, int] = {
    SignAlg.ESP256: 1,
    SignAlg.ES256: 2,
    SignAlg.ESP256_SPLIT: 3,
    SignAlg.ESP256_SPLIT_ARKG: 4,
}
"""The algorithm's byte inside key handles; never renumber (handles already issued carry it)."""
_ALGS_BY_CODE = {code: alg for alg, code in ALG_CODES.items()}
_SUPPORTED = frozenset(int(alg) for alg in SignAlg)
_SCALAR_BYTES = 40  # 8 bytes over the order's length: negligible modular bias
_CURVE = ec.SECP256R1()
COSE_KTY_EC2 = 2
COSE_CRV_P256 = 1
P256_COORDINATE = 32

Outputs = dict[int, CborType]


# ---- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateKeyRequest:
    """makeCredential's input: the algorithm chosen and the flags asked for."""

    alg: SignAlg
    flags: int

    @classmethod
    def parse(cls, value: CborType, lenient: bool = False) -> GenerateKeyRequest:
        members = Members.of(value, "previewSign input", lenient)
        algorithms = members.required(Input.ALGORITHMS, list)
        flags = members.optional(Input.FLAGS, int)
        flags = 0 if flags is None else flags
        if flags not in VALID_FLAGS:
            raise CtapError(CtapStatus.INVALID_OPTION, f"previewSign flags {flags:#b}")
        return cls(_first_supported(algorithms), flags)


def _first_supported(algorithms: Sequence[CborType]) -> SignAlg:
    """The RP's most preferred algorithm this key supports."""
    listed: list[int] = []
    for alg in algorithms:
        if isinstance(alg, bool) or not isinstance(alg, int):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "previewSign algorithm not an int")
        listed.append(alg)
    for alg in listed:
        if alg in _SUPPORTED:
            return SignAlg(alg)
    raise CtapError(CtapStatus.UNSUPPORTED_ALGORITHM, "no supported previewSign algorithm")


@dataclass(frozen=True)
class SignRequest:
    """getAssertion's input: which generated key signs what."""

    key_handle: bytes
    tbs: bytes
    additional_args: bytes | None

    @classmethod
    def parse(cls, value: CborType, lenient: bool = False) -> SignRequest:
        members = Members.of(value, "previewSign input", lenient)
        key_handle = members.optional(Input.KEY_HANDLE, bytes)
        tbs = members.optional(Input.TBS, bytes)
        if key_handle is None or tbs is None:
            raise CtapError(CtapStatus.INVALID_OPTION, "previewSign needs keyHandle and tbs")
        return cls(key_handle, tbs, members.optional(Input.ADDITIONAL_ARGS, bytes))


# ---- key handles and keys -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyHandle:
    """What a key handle carries in clear: the key's algorithm, flags and nonce."""

    alg: SignAlg
    flags: int
    nonce: bytes

    def header(self) -> bytes:
        return bytes([KH_VERSION, ALG_CODES[self.alg], self.flags]) + self.nonce

    def encode(self, seed: bytes) -> bytes:
        return self.header() + _mac(seed, self.header())

    @classmethod
    def open(cls, seed: bytes, handle: bytes) -> KeyHandle:
        """The handle's facts, if this credential (`seed`) made it; else INVALID_CREDENTIAL."""
        body, mac = handle[:-MAC_LEN], handle[-MAC_LEN:]
        if len(handle) != KEY_HANDLE_LEN or not hmac.compare_digest(mac, _mac(seed, body)):
            raise CtapError(CtapStatus.INVALID_CREDENTIAL, "not a previewSign key of this cred")
        return cls(_ALGS_BY_CODE[body[1]], body[2], body[KH_HEADER_LEN:])

    def material(self, seed: bytes, label: bytes, length: int) -> bytes:
        return hkdf(seed, b"tokenbench previewSign " + label + self.header(), length)


def _mac(seed: bytes, header: bytes) -> bytes:
    mac_key = hkdf(seed, b"tokenbench previewSign key handle")
    return hmac.new(mac_key, header, hashlib.sha256).digest()[:MAC_LEN]


def _scalar(material: bytes) -> int:
    return int.from_bytes(material, "big") % (P256_ORDER - 1) + 1


def _p256_key(handle: KeyHandle, seed: bytes, label: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_scalar(handle.material(seed, label, _SCALAR_BYTES)), _CURVE)


def _arkg_seed(handle: KeyHandle, seed: bytes) -> ArkgSeed:
    material = handle.material(seed, b"arkg seed", 2 * _SCALAR_BYTES)
    return ArkgSeed.from_scalars(
        _scalar(material[:_SCALAR_BYTES]), _scalar(material[_SCALAR_BYTES:])
    )


def _ec2(public: ec.EllipticCurvePublicKey, alg: int) -> dict[int, CborType]:
    """A COSE EC2 key on P-256 (RFC 9053 §7.1.1) naming `alg`."""
    numbers = public.public_numbers()
    x, y = numbers.x.to_bytes(P256_COORDINATE, "big"), numbers.y.to_bytes(P256_COORDINATE, "big")
    return {1: COSE_KTY_EC2, 3: int(alg), -1: COSE_CRV_P256, -2: x, -3: y}


def public_key(handle: KeyHandle, seed: bytes) -> dict[int, CborType]:
    """The COSE public key an RP verifies with (ESP256-split: ESP256, its verifying alg) or,
    for ARKG, the seed public key it derives verifying keys from."""
    if handle.alg == SignAlg.ESP256_SPLIT_ARKG:
        arkg = _arkg_seed(handle, seed)
        return {
            1: KTY_ARKG_PUB,
            3: ARKG_P256,
            -1: _ec2(arkg.sk_bl.public_key(), SignAlg.ESP256),
            -2: _ec2(arkg.sk_kem.public_key(), ECDH_ES_HKDF_256),
            -3: int(SignAlg.ESP256),
        }
    verifying = SignAlg.ES256 if handle.alg == SignAlg.ES256 else SignAlg.ESP256
    return _ec2(_p256_key(handle, seed, b"key").public_key(), verifying)


# ---- makeCredential -----------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedKey:
    key_handle: bytes
    alg: SignAlg
    flags: int
    public_key: dict[int, CborType]


def generate_key(key: KeyContext, request: GenerateKeyRequest, seed: bytes) -> GeneratedKey:
    """A new signing key for the credential whose seed is `seed`."""
    handle = KeyHandle(request.alg, request.flags, key.random(NONCE_LEN))
    return GeneratedKey(handle.encode(seed), request.alg, request.flags, public_key(handle, seed))


def signed_outputs(generated: GeneratedKey) -> Outputs:
    return {Output.ALG: int(generated.alg), Output.FLAGS: generated.flags}


def key_auth_data(key: KeyContext, generated: GeneratedKey, rp_hash: bytes, flags: int) -> bytes:
    """The authenticatorData that attests the signing key (counter 0, the key as credential)."""
    return build_auth_data(
        rp_hash,
        flags,
        0,
        aaguid=key.profile.aaguid,
        cred_id=generated.key_handle,
        public_key=generated.public_key,
        extensions={Ext.PREVIEW_SIGN: signed_outputs(generated)},
    )


def unsigned_outputs(fmt: str, auth_data: bytes, statement: dict[str, CborType]) -> Outputs:
    """The signing key's attestation object, CBOR-encoded as a makeCredential response."""
    return {Output.ATT_OBJ: cbor.encode({1: fmt, 2: auth_data, 3: statement})}


# ---- getAssertion -------------------------------------------------------------------------


def check_assertion(
    request: SignRequest, seed: bytes, up: bool, uv: bool, allow_listed: bool
) -> None:
    """Refuse, before any touch, a sign request this assertion cannot answer."""
    if not allow_listed:
        raise CtapError(CtapStatus.INVALID_OPTION, "previewSign needs an allowList")
    handle = KeyHandle.open(seed, request.key_handle)
    if handle.flags & FLAG_UP and not up:
        raise CtapError(CtapStatus.UP_REQUIRED, "this previewSign key needs user presence")
    if handle.flags & FLAG_UV and not uv:
        raise CtapError(CtapStatus.PUAT_REQUIRED, "this previewSign key needs verification")
    _signing_key(handle, seed, request)


def _arkg_args(raw: bytes | None) -> tuple[bytes, bytes]:
    """The ARKG key handle and context of a COSE_Sign_Args."""
    if raw is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "ESP256-split-ARKG needs additionalArgs")
    try:
        decoded = cbor.decode(raw)
    except Exception:  # as decode_params: whatever the CBOR decoder raises on bad bytes
        raise CtapError(CtapStatus.INVALID_CBOR, "additionalArgs is not CBOR") from None
    args = Members.of(decoded, "additionalArgs")
    if args.optional(ARGS_ALG, int) != SignAlg.ESP256_SPLIT_ARKG:
        raise CtapError(CtapStatus.INVALID_CREDENTIAL, "additionalArgs of another algorithm")
    return args.required(ARGS_KH, bytes), args.required(ARGS_CTX, bytes)


def _signing_key(
    handle: KeyHandle, seed: bytes, request: SignRequest
) -> ec.EllipticCurvePrivateKey:
    if handle.alg in PREHASHED and len(request.tbs) != PREHASH_LEN:
        raise CtapError(CtapStatus.INVALID_LENGTH, "a split algorithm signs a SHA-256 hash")
    if handle.alg != SignAlg.ESP256_SPLIT_ARKG:
        return _p256_key(handle, seed, b"key")
    arkg_kh, ctx = _arkg_args(request.additional_args)
    try:
        return _arkg_seed(handle, seed).derive_private_key(arkg_kh, ctx)
    except ArkgError as err:
        raise CtapError(CtapStatus.INVALID_CREDENTIAL, str(err)) from None


def sign(key: KeyContext, request: SignRequest, seed: bytes) -> Outputs:
    """The signed output: `tbs` signed with the handle's key (DER ECDSA)."""
    handle = KeyHandle.open(seed, request.key_handle)
    private = _signing_key(handle, seed, request)
    if not key.faults.preview_sign_right_key:
        private = _p256_key(handle, seed, b"another key")
    hashing = hashes.SHA256()
    scheme = ec.ECDSA(Prehashed(hashing) if handle.alg in PREHASHED else hashing)
    return {Output.SIGNATURE: private.sign(request.tbs, scheme)}
