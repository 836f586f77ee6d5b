"""Every core fault is caught by the side that should catch it (python-fido2 as client and RP)."""

from __future__ import annotations

import itertools

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from ctap_testkit import RP_ID, DirectDevice, client_for, make_key, root_verifier
from fido2.attestation.base import InvalidSignature
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2
from fido2.server import Fido2Server
from fido2.utils import sha256
from fido2.webauthn import (
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.faults import FaultSet

USER = PublicKeyCredentialUserEntity(id=b"user-1", name="alice", display_name="Alice")


def faulty(*faults: str):
    return make_key(faults=FaultSet.parse(list(faults)))


def rp_server(key) -> Fido2Server:
    return Fido2Server(
        PublicKeyCredentialRpEntity(id=RP_ID, name="RP"),
        attestation="direct",
        verify_attestation=root_verifier(key),
    )


def register(key, server: Fido2Server):
    options, state = server.register_begin(USER, user_verification="discouraged")
    response = client_for(key).make_credential(options.public_key)
    return server.register_complete(state, response)


def authenticate(key, server: Fido2Server, creds):
    options, state = server.authenticate_begin(creds, user_verification="discouraged")
    response = client_for(key).get_assertion(options.public_key).get_response(0)
    server.authenticate_complete(state, creds, response)
    return response.response.authenticator_data


def test_healthy_key_passes_the_relying_party() -> None:
    key = make_key()
    server = rp_server(key)
    creds = [register(key, server).credential_data]
    first = authenticate(key, server, creds)
    assert authenticate(key, server, creds).counter > first.counter


def test_bad_signature_fails_attestation_and_assertion() -> None:
    key = faulty("bad-signature")
    with pytest.raises(InvalidSignature):  # python-fido2's packed verifier
        register(key, rp_server(key))
    healthy = make_key()
    server = rp_server(healthy)
    creds = [register(healthy, server).credential_data]
    key = Authenticator.clone_of(healthy, healthy.env.with_(faults=FaultSet.parse("bad-signature")))
    with pytest.raises(ValueError, match="Invalid signature"):
        authenticate(key, server, creds)


def test_bad_signature_fails_u2f_verification() -> None:
    key = faulty("bad-signature")
    ctap1 = Ctap1(DirectDevice(key))
    app, chal = sha256(RP_ID.encode()), b"\x07" * 32
    reg = ctap1.register(chal, app)
    with pytest.raises(InvalidSignature):
        reg.verify(app, chal)
    healthy = make_key()
    good = Ctap1(DirectDevice(healthy)).register(chal, app)
    bad = Authenticator.clone_of(healthy, healthy.env.with_(faults=FaultSet.parse("bad-signature")))
    sig = Ctap1(DirectDevice(bad)).authenticate(chal, app, good.key_handle)
    with pytest.raises(CryptoInvalidSignature):
        sig.verify(app, chal, good.public_key)


def test_wrong_rpid_hash_is_rejected_by_the_rp() -> None:
    key = faulty("wrong-rpid-hash")
    with pytest.raises(ValueError, match="Wrong RP ID hash"):
        register(key, rp_server(key))


def test_no_presence_is_rejected_by_the_rp() -> None:
    key = faulty("no-presence")
    with pytest.raises(ValueError, match="User Present flag not set"):
        register(key, rp_server(key))
    assert key.env.presence.requests == []


def test_malformed_cbor_is_a_client_decode_error() -> None:
    key = faulty("malformed-cbor")
    with pytest.raises(Exception) as e:
        Ctap2(DirectDevice(key)).get_info()
    assert not isinstance(e.value, AssertionError)


def _counters(key, creds, server, n=4) -> list[int]:
    return [authenticate(key, server, creds).counter for _ in range(n)]


def test_counter_rollback_and_clone_break_the_counter_rule() -> None:
    for fault in ("counter-rollback", "clone"):
        healthy = make_key()
        server = rp_server(healthy)
        creds = [register(healthy, server).credential_data]
        bad = Authenticator.clone_of(healthy, healthy.env.with_(faults=FaultSet.parse(fault)))
        values = _counters(bad, creds, server)
        # an RP keeping the last counter sees one that did not increase
        assert any(b <= a for a, b in itertools.pairwise(values)), (fault, values)
    healthy_values = _counters(healthy, creds, server)
    assert healthy_values == sorted(set(healthy_values))
