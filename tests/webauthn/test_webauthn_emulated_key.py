"""End to end: python-fido2's Fido2Client registers on and signs in with the emulated key,
and this verifier judges the responses; the key's faults must each be refused.

The vendor root of the emulated key (`VendorAuthority.default().root_certificate`) is the
trust anchor, so the key's packed batch attestation is trusted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.webauthn import (
    Aaguid,
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)

from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.key import EmulatedKey
from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import (
    TYPE_GET,
    CounterRegression,
    RegisteredCredential,
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    authentication_options,
    classify,
    new_challenge,
    registration_options,
    verify_assertion,
    verify_registration,
)

ORIGIN = "https://example.com"
RP_ID = "example.com"
PIN = "4831-tokenbench"


def policy(uv: str = "discouraged", required: bool = True) -> RelyingPartyPolicy:
    trust = TrustStore.from_certificates([VendorAuthority.default().root_certificate])
    return RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification=uv,
        trust=trust,
        require_trusted_attestation=required,
    )


class PinEntry(UserInteraction):
    def request_pin(self, permissions, rp_id):
        return PIN

    def request_uv(self, permissions, rp_id):
        return True


def client_for(key: EmulatedKey, pin: bool = False) -> Fido2Client:
    collector = DefaultClientDataCollector(ORIGIN)
    if pin:
        return Fido2Client(
            key.hid_device(), client_data_collector=collector, user_interaction=PinEntry()
        )
    return Fido2Client(key.hid_device(), client_data_collector=collector)


def register(
    client: Fido2Client, pol: RelyingPartyPolicy, user: bytes, name: str, resident: bool = False
) -> RegisteredCredential:
    challenge = new_challenge()
    opts = registration_options(pol, user, name, challenge, [])
    if resident:
        opts["authenticatorSelection"]["residentKey"] = "required"
    response = client.make_credential(PublicKeyCredentialCreationOptions.from_dict(opts))
    return verify_registration(
        pol,
        challenge,
        bytes(response.response.client_data),
        bytes(response.response.attestation_object),
    )


def stored(cred: RegisteredCredential, user: bytes) -> StoredCredential:
    return StoredCredential(
        cred.credential_id, cred.public_key, cred.sign_count, cred.backup_eligible, user
    )


def sign_in(
    client: Fido2Client,
    pol: RelyingPartyPolicy,
    record: StoredCredential,
    discoverable: bool = False,
):
    challenge = new_challenge()
    opts = authentication_options(pol, challenge, [] if discoverable else [record.credential_id])
    response = client.get_assertion(PublicKeyCredentialRequestOptions.from_dict(opts)).get_response(
        0
    )
    result = verify_assertion(
        pol,
        challenge,
        record,
        response.raw_id,
        bytes(response.response.client_data),
        bytes(response.response.authenticator_data),
        response.response.signature,
        response.response.user_handle,
    )
    record.sign_count = result.new_sign_count  # the caller stores the counter only on success
    return result


def test_register_and_sign_in_trusted() -> None:
    key = EmulatedKey.create(seed=11)
    client, pol = client_for(key), policy()
    cred = register(client, pol, b"user-alice", "alice")
    assert cred.attestation_format == "packed"
    assert cred.attestation_trusted is True
    assert "Batch Attestation" in (cred.trust_path_subject or "")
    assert classify(cred.backup_eligible, cred.backup_state) == "device-bound"
    record = stored(cred, b"user-alice")
    first = sign_in(client, pol, record).new_sign_count
    second = sign_in(client, pol, record).new_sign_count
    assert cred.sign_count < first < second


def test_untrusted_without_the_vendor_root() -> None:
    key = EmulatedKey.create(seed=12)
    pol = RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification="discouraged",
        require_trusted_attestation=True,
    )
    with pytest.raises(WebAuthnError) as info:
        register(client_for(key), pol, b"user-1", "u")
    assert info.value.code == "untrusted-attestation"


def test_one_key_several_identities() -> None:
    key = EmulatedKey.create(seed=13)
    client, pol = client_for(key), policy()
    alice = stored(register(client, pol, b"user-alice", "alice"), b"user-alice")
    bob = stored(register(client, pol, b"user-bob", "bob"), b"user-bob")
    assert alice.credential_id != bob.credential_id
    assert sign_in(client, pol, alice).new_sign_count > 0
    assert sign_in(client, pol, bob).new_sign_count > 0
    mixed_up = StoredCredential(alice.credential_id, bob.public_key, 0, False, b"user-alice")
    with pytest.raises(WebAuthnError) as info:
        sign_in(client, pol, mixed_up)
    assert info.value.code == "signature-invalid"


def test_user_verification_with_pin() -> None:
    """UV required: the PIN is set and entered. The credential is discoverable and the sign-in
    has an empty allow list, because with an allow list python-fido2 first probes the key with
    an up=false getAssertion that uses the PIN token, after which the emulated key (as of
    this writing) refuses the token for the real getAssertion (PIN_AUTH_INVALID)."""
    key = EmulatedKey.create(seed=14)
    ClientPin(Ctap2(key.hid_device())).set_pin(PIN)
    client, pol = client_for(key, pin=True), policy(uv="required")
    cred = register(client, pol, b"user-uv", "uv", resident=True)
    assert cred.user_verified is True
    assert sign_in(client, pol, stored(cred, b"user-uv"), discoverable=True).user_verified is True


def _registered_then_faulted(tmp_path: Path, fault: str, seed: int):
    """Register on a healthy key, then sign in with the same key state under `fault`."""
    state = tmp_path / "key-state.json"
    pol = policy()
    healthy = EmulatedKey.create(state_path=state, seed=seed)
    record = stored(register(client_for(healthy), pol, b"user-f", "f"), b"user-f")
    sign_in(client_for(healthy), pol, record)
    faulted = EmulatedKey.create(state_path=state, faults=fault, seed=seed)
    return client_for(faulted), pol, record


@pytest.mark.parametrize(
    ("fault", "code", "seed"),
    [("bad-signature", "signature-invalid", 15), ("wrong-rpid-hash", "rp-id-mismatch", 16)],
)
def test_faulty_responses_refused(tmp_path: Path, fault: str, code: str, seed: int) -> None:
    """The fault spoils registration on a faulty key, and sign-in with a key gone faulty."""
    with pytest.raises(WebAuthnError) as info:
        register(client_for(EmulatedKey.create(faults=fault, seed=seed)), policy(), b"u", "u")
    assert info.value.code == code
    client, pol, record = _registered_then_faulted(tmp_path, fault, seed)
    with pytest.raises(WebAuthnError) as info:
        sign_in(client, pol, record)
    assert info.value.code == code


def raw_sign_in(ctap: Ctap2, pol: RelyingPartyPolicy, record: StoredCredential):
    """One bare getAssertion, as a client that does not probe the key first would send."""
    challenge = new_challenge()
    client_data = CollectedClientData.create(TYPE_GET, challenge, ORIGIN)
    allow = [{"type": "public-key", "id": record.credential_id}]
    response = ctap.get_assertion(RP_ID, client_data.hash, allow)
    result = verify_assertion(
        pol,
        challenge,
        record,
        response.credential["id"],
        bytes(client_data),
        bytes(response.auth_data),
        response.signature,
        response.user["id"] if response.user else None,
    )
    record.sign_count = result.new_sign_count
    return result


def test_counter_rollback_fault_refused(tmp_path: Path) -> None:
    client, pol, record = _registered_then_faulted(tmp_path, "counter-rollback", 17)
    before = record.sign_count
    with pytest.raises(CounterRegression):
        for _ in range(3):
            sign_in(client, pol, record)
    assert record.sign_count >= before  # never lowered


def test_clone_fault_refused(tmp_path: Path) -> None:
    """The clone fault alternates between two counter histories on successive assertions.

    Sign-ins go out as single getAssertion commands: python-fido2's client probes with an
    up=false getAssertion before each sign-in, which would consume every other counter and
    hide the clone's history from the verifier.
    """
    state = tmp_path / "key-state.json"
    pol = policy()
    healthy = EmulatedKey.create(state_path=state, seed=19)
    record = stored(register(client_for(healthy), pol, b"user-c", "c"), b"user-c")
    raw_sign_in(Ctap2(healthy.hid_device()), pol, record)
    clone = Ctap2(EmulatedKey.create(state_path=state, faults="clone", seed=19).hid_device())
    before = record.sign_count
    with pytest.raises(CounterRegression):
        for _ in range(3):
            raw_sign_in(clone, pol, record)
    assert record.sign_count >= before


def test_physically_cloned_state_refused(tmp_path: Path) -> None:
    """Two keys made from copies of one key's state. The copy resumes above the counter mark
    the state reserved, so after it signs in, the original's next counter regresses."""
    original, copy = tmp_path / "original.json", tmp_path / "copy.json"
    pol = policy()
    key = EmulatedKey.create(state_path=original, seed=20)
    record = stored(register(client_for(key), pol, b"user-d", "d"), b"user-d")
    shutil.copyfile(original, copy)
    twin = EmulatedKey.create(state_path=copy, seed=20)
    sign_in(client_for(key), pol, record)
    sign_in(client_for(twin), pol, record)
    with pytest.raises(CounterRegression):
        sign_in(client_for(key), pol, record)


def test_counter_regression_allowed_is_flagged(tmp_path: Path) -> None:
    client, _, record = _registered_then_faulted(tmp_path, "counter-rollback", 18)
    lax = RelyingPartyPolicy(
        RP_ID, frozenset({ORIGIN}), user_verification="discouraged", allow_counter_regression=True
    )
    results = []
    for _ in range(3):
        before = record.sign_count
        results.append(sign_in(client, lax, record))
        assert record.sign_count >= before
    flagged = [r for r in results if r.counter_regressed]
    assert flagged, "the rolled-back counter was never flagged"


def test_u2f_only_key_registers_with_fido_u2f_attestation() -> None:
    """A CTAP1-only model: python-fido2 falls back to U2F and wraps it as fido-u2f."""
    key = EmulatedKey.create(profile="u2f-only", seed=21)
    client, pol = client_for(key), policy()
    cred = register(client, pol, b"user-u2f", "u2f")
    assert (cred.attestation_format, cred.attestation_trusted) == ("fido-u2f", True)
    assert cred.aaguid == bytes(16)
    assert sign_in(client, pol, stored(cred, b"user-u2f")).new_sign_count > cred.sign_count


def test_trusted_through_mds_blob_of_the_emulated_model() -> None:
    """The emulated model's own metadata statement, in an MDS3 blob we sign, anchors trust."""
    from webauthn_factory import NOW
    from webauthn_mds_factory import MdsSigner

    from tokenbench.emulators.ctap.attestation import metadata_statement

    key = EmulatedKey.create(seed=22)
    info = Ctap2(key.hid_device()).send_cbor(Ctap2.CMD.GET_INFO)
    aaguid = bytes(info[3])
    root = VendorAuthority.default().root_certificate
    statement = metadata_statement(aaguid, "tokenbench emulated key", info, root)
    mds = MdsSigner.create()
    blob = mds.blob(
        [
            {
                "aaguid": statement["aaguid"],
                "metadataStatement": statement,
                "statusReports": [{"status": "NOT_FIDO_CERTIFIED", "effectiveDate": "2026-01-01"}],
                "timeOfLastStatusChange": "2026-01-01",
            }
        ]
    )
    store = TrustStore.from_mds_blob(blob, mds.root, NOW)
    assert store.lookup(aaguid).metadata_statement.description == "tokenbench emulated key"
    pol = RelyingPartyPolicy(
        RP_ID,
        frozenset({ORIGIN}),
        user_verification="discouraged",
        trust=store,
        require_trusted_attestation=True,
    )
    cred = register(client_for(key), pol, b"user-mds", "mds")
    assert cred.attestation_trusted is True
    assert cred.aaguid == aaguid


def test_py_webauthn_agrees_on_the_emulated_keys_responses() -> None:
    """The same registration and sign-in responses of the emulated key, through py_webauthn."""
    from fido2.utils import websafe_encode
    from webauthn import verify_authentication_response, verify_registration_response
    from webauthn.helpers.structs import AttestationFormat

    key = EmulatedKey.create(seed=23)
    client, pol = client_for(key), policy()
    challenge = new_challenge()
    opts = registration_options(pol, b"user-x", "x", challenge, [])
    created = client.make_credential(PublicKeyCredentialCreationOptions.from_dict(opts))
    cdj, att = bytes(created.response.client_data), bytes(created.response.attestation_object)
    ours = verify_registration(pol, challenge, cdj, att)
    root = VendorAuthority.default().root_pem
    theirs = verify_registration_response(
        credential=dict(created),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        pem_root_certs_bytes_by_fmt={AttestationFormat.PACKED: [root]},
    )
    assert theirs.credential_id == ours.credential_id
    assert theirs.sign_count == ours.sign_count
    assert theirs.aaguid == str(Aaguid(ours.aaguid))

    challenge = new_challenge()
    request = authentication_options(pol, challenge, [ours.credential_id])
    got = client.get_assertion(PublicKeyCredentialRequestOptions.from_dict(request)).get_response(0)
    record = stored(ours, b"user-x")
    mine = verify_assertion(
        pol,
        challenge,
        record,
        got.raw_id,
        bytes(got.response.client_data),
        bytes(got.response.authenticator_data),
        got.response.signature,
        got.response.user_handle,
    )
    verified = verify_authentication_response(
        credential=dict(got),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=ours.public_key,
        credential_current_sign_count=ours.sign_count,
    )
    assert verified.new_sign_count == mine.new_sign_count
    assert websafe_encode(verified.credential_id) == websafe_encode(ours.credential_id)
