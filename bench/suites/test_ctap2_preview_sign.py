"""ctap2 suite: the draft sign extension `previewSign` (version 4, as python-fido2 2.2.1 sends
it): a signing key made beside a credential at makeCredential, used at getAssertion.

Every signature is checked here with `cryptography` alone, from the raw point the key
announced (an ARKG-derived key is derived with python-fido2's public half of ARKG, as an RP
would), so a key that signs with another key than the one it attested fails. Each test skips
as `unclaimed` on a key whose getInfo does not list previewSign.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from fido2 import cbor
from fido2.cose import ARKG_P256_PLACEHOLDER, CoseKey
from fido2.ctap import CtapError
from fido2.ctap2 import AttestationResponse, Ctap2
from fido2.webauthn import AttestationObject

from tokenbench.bench.suites._ctap import (
    ERR,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    make_credential,
    require_extension,
    rp_id_hash,
    skip_unclaimed,
    verify_attestation,
)

SIGN = "previewSign"
ESP256, ESP256_SPLIT, ESP256_SPLIT_ARKG = -9, -300, -65539
ARKG_P256 = -65700
IN_KEY_HANDLE, IN_ALGORITHMS, IN_FLAGS, IN_TBS, IN_ARGS = 2, 3, 4, 6, 7
OUT_ALG, OUT_FLAGS, OUT_SIGNATURE, OUT_ATT_OBJ = 3, 4, 6, 7
REQUIRE_UP = 0b001
ARKG_CTX = b"tokenbench previewSign suite"


class SigningKey:
    """A generated signing key as the RP keeps it: algorithm, handle, attested public key."""

    def __init__(self, response: AttestationResponse, cdh: bytes, rp_id: str) -> None:
        signed = (response.auth_data.extensions or {}).get(SIGN)
        assert isinstance(signed, Mapping), "makeCredential answered without previewSign"
        unsigned = response.unsigned_extension_outputs.get(SIGN)
        assert isinstance(unsigned, Mapping) and OUT_ATT_OBJ in unsigned, "no attestation object"
        att = cbor.decode(unsigned[OUT_ATT_OBJ])
        assert isinstance(att, Mapping), "previewSign attObj is not a CBOR map"
        self.attestation = AttestationObject.create(att[1], att[2], att[3])
        data = self.attestation.auth_data.credential_data
        assert data is not None, "previewSign attObj attests no key"
        self.alg: int = signed[OUT_ALG]
        self.flags: int = signed[OUT_FLAGS]
        self.key_handle = bytes(data.credential_id)
        self.public_key: CoseKey = data.public_key
        self.credential_id = credential_id(response)
        self.cdh = cdh
        self.rp_id = rp_id


def _generate(ctap2: Ctap2, algorithms: list[int], flags: int = 0) -> SigningKey:
    require_extension(ctap2, SIGN)
    inputs = {SIGN: {IN_ALGORITHMS: algorithms, IN_FLAGS: flags}}
    rp_id = f"sign-{os.urandom(4).hex()}.example"
    try:
        response, cdh = make_credential(ctap2, rp_id=rp_id, extensions=inputs)
    except CtapError as exc:
        if exc.code == ERR.UNSUPPORTED_ALGORITHM:
            skip_unclaimed(f"previewSign algorithm among {algorithms}")
        raise
    return SigningKey(response, cdh, rp_id)


def _sign(
    ctap2: Ctap2, key: SigningKey, tbs: bytes, args: Mapping[int, Any] | None, up: bool = False
) -> bytes:
    inputs: dict[int, Any] = {IN_KEY_HANDLE: key.key_handle, IN_TBS: tbs}
    if args is not None:
        inputs[IN_ARGS] = cbor.encode(dict(args))
    assertion = ctap2.get_assertion(
        key.rp_id,
        client_data_hash("sign"),
        allow_list=[descriptor(key.credential_id)],
        options={"up": up},
        extensions={SIGN: inputs},
    )
    signed = (assertion.auth_data.extensions or {}).get(SIGN)
    assert isinstance(signed, Mapping) and OUT_SIGNATURE in signed, "no previewSign signature"
    signature = signed[OUT_SIGNATURE]
    assert isinstance(signature, bytes)
    return signature


def _point(cose: Mapping[int, Any]) -> ec.EllipticCurvePublicKey:
    """A COSE EC2 P-256 key as `cryptography` reads it, from its raw coordinates."""
    assert cose.get(1) == 2 and cose.get(-1) == 1, f"not an EC2 P-256 key: {dict(cose)}"
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big"), ec.SECP256R1()
    ).public_key()


def _arkg_seed(key: SigningKey) -> ARKG_P256_PLACEHOLDER:
    """The ARKG-P256 seed public key an ESP256-split-ARKG key announces."""
    seed = key.public_key
    assert isinstance(seed, ARKG_P256_PLACEHOLDER) and seed[3] == ARKG_P256, (
        f"not an ARKG-P256 seed key: alg {seed.get(3)}"
    )
    return seed


def _verify(public: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> None:
    try:
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("previewSign signature does not verify with the key") from None


def test_preview_sign_esp256_signs_the_message(ctap_device):
    """An ESP256 key signs `tbs` itself (ECDSA with SHA-256), verifiable with the announced key;
    the attestation object carries it as an attested credential of the same RP."""
    ctap2 = ctap2_of(ctap_device)
    key = _generate(ctap2, [ESP256])
    assert key.alg == ESP256 and key.flags == 0
    auth_data = key.attestation.auth_data
    assert auth_data.rp_id_hash == rp_id_hash(key.rp_id)
    assert auth_data.counter == 0, "the signing key's authenticatorData counter is not 0"
    assert key.key_handle != key.credential_id, "the key handle is the credential ID"
    message = os.urandom(48)
    _verify(_point(key.public_key), message, _sign(ctap2, key, message, None))


def test_preview_sign_split_key_signs_the_hash(ctap_device):
    """ESP256-split signs a SHA-256 hash computed by the RP: an ordinary ESP256 signature of
    the message."""
    ctap2 = ctap2_of(ctap_device)
    key = _generate(ctap2, [ESP256_SPLIT])
    message = os.urandom(48)
    signature = _sign(ctap2, key, hashlib.sha256(message).digest(), None)
    _verify(_point(key.public_key), message, signature)
    digest = hashlib.sha256(message).digest()
    try:
        _point(key.public_key).verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise AssertionError("split signature does not verify over the hash") from None


def test_preview_sign_arkg_signs_with_the_derived_key(ctap_device):
    """ESP256-split-ARKG: the RP derives a public key from the seed key offline; the key,
    given the ARKG key handle and context, signs with the matching private key."""
    ctap2 = ctap2_of(ctap_device)
    key = _generate(ctap2, [ESP256_SPLIT_ARKG])
    seed = _arkg_seed(key)
    derived, args = seed.derive_public_key(os.urandom(32), ARKG_CTX)
    message = os.urandom(48)
    signature = _sign(ctap2, key, hashlib.sha256(message).digest(), args)
    _verify(_point(derived), message, signature)
    other, _ = seed.derive_public_key(os.urandom(32), ARKG_CTX)
    try:
        _point(other).verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return
    raise AssertionError("an unrelated derived key verifies the signature")


def test_preview_sign_key_is_attested_and_flags_hold(ctap_device):
    """The signing key's attestation verifies over its own authenticatorData; a key made to
    need user presence refuses an up=false request (UP_REQUIRED) and signs with a touch."""
    ctap2 = ctap2_of(ctap_device)
    key = _generate(ctap2, [ESP256], flags=REQUIRE_UP)
    assert key.flags == REQUIRE_UP
    att = key.attestation
    statement = dict(att.att_stmt)
    verify_attestation(AttestationResponse(att.fmt, att.auth_data, statement), key.cdh)
    message = os.urandom(32)
    with expect_ctap_error(ERR.UP_REQUIRED, what="presence-bound key, up=false"):
        _sign(ctap2, key, message, None, up=False)
    signature = _sign(ctap2, key, message, None, up=True)
    _verify(_point(key.public_key), message, signature)


def test_preview_sign_key_handle_belongs_to_its_credential(ctap_device):
    """A key handle works with its own credential only: another credential's handle, or
    ARKG arguments with a forged key handle, are refused, not signed with."""
    ctap2 = ctap2_of(ctap_device)
    key = _generate(ctap2, [ESP256_SPLIT_ARKG])
    derived, args = _arkg_seed(key).derive_public_key(os.urandom(32), ARKG_CTX)
    message = os.urandom(32)
    _verify(_point(derived), message, _sign(ctap2, key, hashlib.sha256(message).digest(), args))
    forged = {**args, -1: bytes(16) + bytes(args[-1])[16:]}
    with expect_ctap_error(ERR.INVALID_CREDENTIAL, what="ARKG key handle with a forged tag"):
        _sign(ctap2, key, hashlib.sha256(message).digest(), forged)
    other = _generate(ctap2, [ESP256_SPLIT_ARKG])
    other.key_handle = key.key_handle
    with expect_ctap_error(ERR.INVALID_CREDENTIAL, what="another credential's key handle"):
        _sign(ctap2, other, hashlib.sha256(message).digest(), args)
