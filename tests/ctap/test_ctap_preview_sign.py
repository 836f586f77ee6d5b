"""previewSign (the draft sign extension, v4) on the ctap22 key, and ARKG-P256's private half.

Signatures are verified with `cryptography` from the raw points the key announced; ARKG keys
are derived on the RP side with python-fido2's public half, so arkg.py is checked against an
independent implementation. Malformed extension inputs (hypothesis) get CTAP errors, never an
internal error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ctap_testkit import DirectDevice, make_key, root_verifier
from fido2 import cbor
from fido2.arkg import _HTF
from fido2.cose import ARKG_P256_PLACEHOLDER, ESP256_SPLIT_ARKG_PLACEHOLDER
from fido2.ctap import CtapError
from fido2.ctap2 import AttestationResponse, Ctap2
from fido2.utils import sha256
from fido2.webauthn import AttestationObject
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbench.emulators.ctap.arkg import ArkgError, ArkgSeed, expand_message_xmd
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.constants import CtapCommand, CtapStatus
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.faults import FaultSet
from tokenbench.emulators.ctap.preview_sign import KEY_HANDLE_LEN, SignAlg
from tokenbench.emulators.ctap.profiles import PROFILES, get_profile

ERR = CtapError.ERR
SIGN = "previewSign"
CDH = sha256(b"{}")
RP = {"id": "example.com", "name": "Example RP"}
USER = {"id": b"user_id", "name": "A. User"}
ALL = [-9, -7, -300, -65539]
PREHASHED = (-300, -65539)
CTX = b"tokenbench unit"


class Generated:
    def __init__(self, response: AttestationResponse) -> None:
        self.response = response
        self.signed = response.auth_data.extensions[SIGN]
        raw = cbor.decode(response.unsigned_extension_outputs[SIGN][7])
        self.attestation = AttestationObject.create(raw[1], raw[2], raw[3])
        data = self.attestation.auth_data.credential_data
        self.key_handle = data.credential_id
        self.public_key = data.public_key
        self.cred_id = response.auth_data.credential_data.credential_id


def _ctap2(key: Authenticator) -> Ctap2:
    return Ctap2(DirectDevice(key))


def generate(ctap2: Ctap2, algorithms: list[int], flags: int = 0, **kw: Any) -> Generated:
    response = ctap2.make_credential(
        CDH,
        RP,
        USER,
        [{"type": "public-key", "alg": -7}],
        extensions={SIGN: {3: algorithms, 4: flags}},
        **kw,
    )
    return Generated(response)


def sign(
    ctap2: Ctap2,
    gen: Generated,
    tbs: bytes,
    args: Mapping[int, Any] | None = None,
    allow: bool = True,
    up: bool = False,
    raw: dict[int, Any] | None = None,
) -> bytes:
    inputs: dict[int, Any] = {2: gen.key_handle, 6: tbs}
    if args is not None:
        inputs[7] = cbor.encode(dict(args))
    assertion = ctap2.get_assertion(
        RP["id"],
        CDH,
        allow_list=[{"type": "public-key", "id": gen.cred_id}] if allow else None,
        options={"up": up},
        extensions={SIGN: inputs if raw is None else raw},
    )
    return assertion.auth_data.extensions[SIGN][6]


def point(cose: Mapping[int, Any]) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big"), ec.SECP256R1()
    ).public_key()


def verifies(public: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def round_trip(ctap2: Ctap2, gen: Generated) -> bool:
    """Sign a random message with the generated key; whether the signature verifies."""
    alg = gen.signed[3]
    message = os.urandom(50)
    public, args = gen.public_key, None
    if alg == ESP256_SPLIT_ARKG_PLACEHOLDER:
        public, args = gen.public_key.derive_public_key(os.urandom(32), CTX)
    tbs = sha256(message) if alg in PREHASHED else message
    return verifies(point(public), message, sign(ctap2, gen, tbs, args))


@pytest.fixture
def ctap2() -> Ctap2:
    return _ctap2(make_key("ctap22"))


# ---- getInfo ------------------------------------------------------------------------------


def test_only_ctap22_claims_preview_sign() -> None:
    claiming = [name for name, profile in PROFILES.items() if SIGN in profile.extensions]
    assert claiming == ["ctap22"]
    assert SIGN in _ctap2(make_key("ctap22")).info.extensions
    assert SIGN not in _ctap2(make_key("all-algorithms")).info.extensions


def test_unclaiming_key_ignores_the_input() -> None:
    response = _ctap2(make_key("default")).make_credential(
        CDH, RP, USER, [{"type": "public-key", "alg": -7}], extensions={SIGN: {3: [-9]}}
    )
    assert SIGN not in (response.auth_data.extensions or {})
    assert not response.unsigned_extension_outputs


# ---- makeCredential -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL)
def test_each_algorithm_signs_verifiably(ctap2: Ctap2, alg: int) -> None:
    gen = generate(ctap2, [alg])
    assert gen.signed == {3: alg, 4: 0}
    assert len(gen.key_handle) == KEY_HANDLE_LEN
    assert round_trip(ctap2, gen)


def test_first_supported_algorithm_in_rp_order_wins(ctap2: Ctap2) -> None:
    assert generate(ctap2, [-18, -65539, -9]).signed[3] == -65539
    assert generate(ctap2, [-300, -7]).signed[3] == -300


def test_split_key_announces_its_verifying_algorithm(ctap2: Ctap2) -> None:
    """ESP256-split's public key is an ESP256 key (the verifier's algorithm)."""
    assert generate(ctap2, [-300]).public_key[3] == SignAlg.ESP256


def test_arkg_seed_key_shape(ctap2: Ctap2) -> None:
    seed = generate(ctap2, [-65539]).public_key
    assert isinstance(seed, ARKG_P256_PLACEHOLDER)
    assert seed[1] == -65537 and seed[-3] == -9
    assert seed[-1][1] == 2 and seed[-2][1] == 2


def test_signing_key_is_attested_like_the_credential(ctap2: Ctap2) -> None:
    key = make_key("ctap22")
    gen = generate(_ctap2(key), [-9], flags=0b001)
    att = gen.attestation
    assert att.fmt == gen.response.fmt
    assert att.auth_data.counter == 0
    assert att.auth_data.rp_id_hash == gen.response.auth_data.rp_id_hash
    assert att.auth_data.extensions[SIGN] == {3: -9, 4: 0b001}
    assert att.auth_data.credential_data.aaguid == gen.response.auth_data.credential_data.aaguid
    assert gen.key_handle != gen.cred_id
    root_verifier(key).verify_attestation(att, CDH)  # batch attestation, its own authData


def test_two_keys_of_one_algorithm_differ(ctap2: Ctap2) -> None:
    first, second = generate(ctap2, [-9]), generate(ctap2, [-9])
    assert first.key_handle != second.key_handle and first.public_key != second.public_key


def test_unsupported_algorithm(ctap2: Ctap2) -> None:
    with pytest.raises(CtapError) as err:
        generate(ctap2, [-18, -8])
    assert err.value.code == ERR.UNSUPPORTED_ALGORITHM


@given(flags=st.integers(min_value=0, max_value=255))
@settings(max_examples=40, deadline=None)
def test_only_three_flag_values_are_valid(flags: int) -> None:
    ctap2 = _ctap2(make_key("ctap22"))
    if flags in (0b000, 0b001, 0b101):
        assert generate(ctap2, ALL, flags).signed[4] == flags
    else:
        with pytest.raises(CtapError) as err:
            generate(ctap2, ALL, flags)
        assert err.value.code == ERR.INVALID_OPTION


# ---- getAssertion -------------------------------------------------------------------------


def _error(call: Any) -> int:
    with pytest.raises(CtapError) as err:
        call()
    return int(err.value.code)


def test_sign_needs_an_allow_list(ctap2: Ctap2) -> None:
    response = ctap2.make_credential(
        CDH,
        RP,
        USER,
        [{"type": "public-key", "alg": -7}],
        extensions={SIGN: {3: [-9]}},
        options={"rk": True},
    )
    gen = Generated(response)
    assert _error(lambda: sign(ctap2, gen, b"x", allow=False)) == ERR.INVALID_OPTION


@pytest.mark.parametrize("missing", [2, 6])
def test_key_handle_and_tbs_are_required(ctap2: Ctap2, missing: int) -> None:
    gen = generate(ctap2, [-9])
    raw = {2: gen.key_handle, 6: b"tbs"}
    del raw[missing]
    assert _error(lambda: sign(ctap2, gen, b"", raw=raw)) == ERR.INVALID_OPTION


def test_arkg_arguments(ctap2: Ctap2) -> None:
    gen = generate(ctap2, [-65539])
    public, args = gen.public_key.derive_public_key(os.urandom(32), CTX)
    message = os.urandom(40)
    tbs = sha256(message)
    assert _error(lambda: sign(ctap2, gen, tbs)) == ERR.MISSING_PARAMETER
    no_alg = {k: v for k, v in args.items() if k != 3}
    assert _error(lambda: sign(ctap2, gen, tbs, no_alg)) == ERR.INVALID_CREDENTIAL
    assert _error(lambda: sign(ctap2, gen, tbs, {**args, 3: -65538})) == ERR.INVALID_CREDENTIAL
    other_ctx = {**args, -2: b"another context"}
    assert _error(lambda: sign(ctap2, gen, tbs, other_ctx)) == ERR.INVALID_CREDENTIAL
    signature = sign(ctap2, gen, tbs, {**args, 42: 1337})  # unknown members are ignored
    assert verifies(point(public), message, signature)


def test_prehashed_algorithms_need_a_32_byte_hash(ctap2: Ctap2) -> None:
    gen = generate(ctap2, [-300])
    assert _error(lambda: sign(ctap2, gen, os.urandom(31))) == ERR.INVALID_LENGTH


def test_up_and_uv_requirements(ctap2: Ctap2) -> None:
    presence = generate(ctap2, [-9], flags=0b001)
    assert _error(lambda: sign(ctap2, presence, b"m", up=False)) == ERR.UP_REQUIRED
    assert verifies(point(presence.public_key), b"m", sign(ctap2, presence, b"m", up=True))
    verified = generate(ctap2, [-9], flags=0b101)
    assert _error(lambda: sign(ctap2, verified, b"m", up=True)) == ERR.PUAT_REQUIRED


def test_key_handle_is_bound_to_its_credential_and_flags(ctap2: Ctap2) -> None:
    first, second = generate(ctap2, [-9], flags=0b001), generate(ctap2, [-9])
    second.key_handle = first.key_handle
    assert _error(lambda: sign(ctap2, second, b"m")) == ERR.INVALID_CREDENTIAL
    lowered = bytearray(first.key_handle)
    lowered[2] = 0  # flags byte: drop the presence requirement
    first.key_handle = bytes(lowered)
    assert _error(lambda: sign(ctap2, first, b"m", up=False)) == ERR.INVALID_CREDENTIAL


def test_fault_signs_with_another_key() -> None:
    env = Env.for_tests(0).with_(faults=FaultSet.parse(["preview-sign-wrong-key"]))
    ctap2 = _ctap2(Authenticator(env, get_profile("ctap22")))
    for alg in ALL:
        assert not round_trip(ctap2, generate(ctap2, [alg]))


def test_key_survives_a_new_key_object_with_the_same_secrets() -> None:
    """Nothing is stored: the signing key comes back from the credential ID and key handle."""
    first = _ctap2(make_key("ctap22", seed=7))
    gen = generate(first, [-65539])
    again = _ctap2(make_key("ctap22", seed=7))
    assert round_trip(again, gen)


# ---- ARKG against python-fido2's public half ----------------------------------------------


@given(ikm=st.binary(min_size=32, max_size=32), ctx=st.binary(max_size=64))
@settings(max_examples=25, deadline=None)
def test_arkg_private_key_matches_python_fido2_public_key(ikm: bytes, ctx: bytes) -> None:
    seed = ArkgSeed.from_scalars(12345, 67890)
    cose = ARKG_P256_PLACEHOLDER(
        {
            1: -65537,
            3: -65700,
            -1: _ec2(seed.sk_bl.public_key()),
            -2: _ec2(seed.sk_kem.public_key()),
            -3: -9,
        }
    )
    public, args = cose.derive_public_key(ikm, ctx)
    private = seed.derive_private_key(args[-1], ctx)
    assert private.public_key().public_numbers() == point(public).public_numbers()
    with pytest.raises(ArkgError):
        seed.derive_private_key(args[-1], ctx + b"!" if len(ctx) < 64 else ctx[:-1])


def _ec2(public: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    numbers = public.public_numbers()
    return {
        1: 2,
        3: -9,
        -1: 1,
        -2: numbers.x.to_bytes(32, "big"),
        -3: numbers.y.to_bytes(32, "big"),
    }


def test_arkg_refuses_long_context_and_bad_points() -> None:
    seed = ArkgSeed.from_scalars(5, 6)
    with pytest.raises(ArkgError):
        seed.derive_private_key(bytes(81), bytes(65))
    with pytest.raises(ArkgError):
        seed.derive_private_key(bytes(81), b"")
    with pytest.raises(ArkgError):
        seed.derive_private_key(bytes(80), b"")


def test_expand_message_xmd_rfc9380_vector() -> None:
    """RFC 9380 K.1 (expand_message_xmd, SHA-256): msg "", len_in_bytes 0x20."""
    dst = b"QUUX-V01-CS02-with-expander-SHA256-128"
    expected = "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"
    assert expand_message_xmd(b"", dst, 0x20).hex() == expected


@given(msg=st.binary(max_size=80), length=st.integers(min_value=1, max_value=300))
@settings(max_examples=30, deadline=None)
def test_expand_message_xmd_matches_python_fido2(msg: bytes, length: int) -> None:
    dst = b"tokenbench test DST"
    theirs = _HTF(dst, 0, 48, hashes.SHA256()).expand_message_xmd(msg, length)
    assert expand_message_xmd(msg, dst, length) == theirs


# ---- malformed inputs: CTAP errors, never an internal error -------------------------------

CBOR_VALUES = st.recursive(  # python-fido2's encoder has no null
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.binary(max_size=90)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.integers(min_value=-3, max_value=8) | st.text(max_size=3), inner, max_size=5
        )
    ),
    max_leaves=12,
)
INPUT_MAPS = st.dictionaries(st.sampled_from([2, 3, 4, 6, 7, 42]), CBOR_VALUES, max_size=5)
ARGS = st.dictionaries(st.sampled_from([3, -1, -2, 9]), CBOR_VALUES, max_size=4).map(cbor.encode)


def _status(key: Authenticator, command: int, params: dict[int, Any]) -> int:
    return key.process(bytes([command]) + cbor.encode(params))[0]


@cache
def _fuzz_key() -> tuple[Authenticator, bytes, bytes]:
    key = make_key("ctap22")
    gen = generate(_ctap2(key), [-65539])
    return key, gen.cred_id, gen.key_handle


@given(value=CBOR_VALUES | INPUT_MAPS)
@settings(max_examples=150, deadline=None)
def test_malformed_generate_key_inputs_get_ctap_errors(value: Any) -> None:
    key = _fuzz_key()[0]
    params = {1: CDH, 2: RP, 3: USER, 4: [{"type": "public-key", "alg": -7}], 6: {SIGN: value}}
    status = _status(key, CtapCommand.MAKE_CREDENTIAL, params)
    assert status in {int(s) for s in CtapStatus} and status != CtapStatus.OTHER


@given(
    value=CBOR_VALUES | INPUT_MAPS,
    args=ARGS | CBOR_VALUES,
    tbs=st.binary(max_size=40),
    real_handle=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_malformed_sign_inputs_get_ctap_errors(
    value: Any, args: Any, tbs: bytes, real_handle: bool
) -> None:
    key, cred_id, key_handle = _fuzz_key()
    if real_handle and isinstance(value, dict):
        value = {**value, 2: key_handle, 6: tbs, 7: args}
    params = {
        1: RP["id"],
        2: CDH,
        3: [{"type": "public-key", "id": cred_id}],
        4: {SIGN: value},
        5: {"up": False},
    }
    status = _status(key, CtapCommand.GET_ASSERTION, params)
    assert status in {int(s) for s in CtapStatus} and status != CtapStatus.OTHER


# ---- the bench suite: passes on a healthy ctap22 key, unclaimed on a 2.1 one --------------

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "bench" / "suites" / "test_ctap2_preview_sign.py"
SUITE_TESTS = 5


@pytest.mark.parametrize(("profile", "outcome"), [("ctap22", "passed"), ("default", "skipped")])
def test_bench_suite_on_a_healthy_key(tmp_path: Path, profile: str, outcome: str) -> None:
    """The other half of the fault matrix: without a fault every suite test passes on ctap22,
    and a key that does not claim previewSign skips them all."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", str(SUITE)]
    command += ["--target", f"emu:profile={profile}", "--allow-destructive"]
    command += ["--bench-json", str(results), "-q", "-p", "no:cacheprovider"]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    outcomes = [t["outcome"] for t in json.loads(results.read_text())["tests"]]
    assert outcomes == [outcome] * SUITE_TESTS
