"""A second, independent relying party (py_webauthn) accepts the emulated key, and catches
its counter faults; it trusts the emulated vendor's root exported as PEM."""

from __future__ import annotations

import json

import pytest
import webauthn
from cryptography.hazmat.primitives import serialization
from ctap_testkit import ORIGIN, RP_ID, client_for, creation_options, make_key, request_options
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import AttestationFormat

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.faults import FaultSet


def register(key: Authenticator, **kw):
    reg = client_for(key).make_credential(creation_options(**kw))
    pem = key.env.attestation.root_certificate.public_bytes(serialization.Encoding.PEM)
    return webauthn.verify_registration_response(
        credential=json.dumps(dict(reg)),
        expected_challenge=b"\x01" * 32,
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        pem_root_certs_bytes_by_fmt={AttestationFormat.PACKED: [pem]},
    )


def authenticate(key: Authenticator, verified, current: int) -> int:
    got = client_for(key).get_assertion(request_options([verified.credential_id])).get_response(0)
    return webauthn.verify_authentication_response(
        credential=json.dumps(dict(got)),
        expected_challenge=b"\x02" * 32,
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        credential_public_key=verified.credential_public_key,
        credential_current_sign_count=current,
    ).new_sign_count


@pytest.mark.parametrize("algs", [(-7,), (-8,)], ids=["ES256", "EdDSA"])
def test_registration_and_authentication(algs) -> None:
    key = make_key()
    verified = register(key, algs=algs)
    assert verified.fmt == AttestationFormat.PACKED
    assert verified.aaguid.replace("-", "") == key.profile.aaguid.hex()
    count = verified.sign_count
    for _ in range(3):
        count = authenticate(key, verified, count)


@pytest.mark.parametrize("fault", ["counter-rollback", "clone"])
def test_counter_faults_are_caught(fault: str) -> None:
    healthy = make_key()
    verified = register(healthy)
    count = authenticate(healthy, verified, verified.sign_count)
    bad = Authenticator.clone_of(healthy, healthy.env.with_(faults=FaultSet.parse(fault)))
    with pytest.raises(InvalidAuthenticationResponse, match=r"(?i)sign count"):
        for _ in range(4):
            count = authenticate(bad, verified, count)
