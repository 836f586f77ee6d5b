"""The `webauthn_authenticator` fixture as a user's test suite loads it: `-p` in a pytest run
of its own (pytester), against a server of theirs (here py_webauthn), with a fault."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TEST = """
import json
import pytest
import webauthn
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

RP_ID, ORIGIN = "shop.example", "https://shop.example"


def register(key):
    options = webauthn.generate_registration_options(rp_id=RP_ID, rp_name="Shop", user_name="a")
    response = key.create(webauthn.options_to_json(options))
    return webauthn.verify_registration_response(
        credential=response, expected_challenge=options.challenge,
        expected_origin=ORIGIN, expected_rp_id=RP_ID,
    )


def sign_in(key, registered):
    allow = [PublicKeyCredentialDescriptor(id=registered.credential_id)]
    options = webauthn.generate_authentication_options(rp_id=RP_ID, allow_credentials=allow)
    return webauthn.verify_authentication_response(
        credential=key.get(webauthn.options_to_json(options)),
        expected_challenge=options.challenge, expected_origin=ORIGIN, expected_rp_id=RP_ID,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=registered.sign_count,
    )


def test_register_and_sign_in(webauthn_authenticator):
    key = webauthn_authenticator(ORIGIN)
    registered = register(key)
    assert sign_in(key, registered).new_sign_count > registered.sign_count


def test_bad_signature_is_refused(webauthn_authenticator, tmp_path):
    target = f"emu:state={tmp_path / 'key.json'}"
    registered = register(webauthn_authenticator(ORIGIN, target))
    broken = webauthn_authenticator(ORIGIN, target, faults=["bad-signature"])
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        sign_in(broken, registered)
"""


def test_a_users_suite_gets_the_fixture_with_dash_p(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users_server=USER_TEST)
    result = pytester.runpytest_subprocess(
        "-p", "tokenbench.bench.webauthn.pytest_plugin", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)


def test_without_asking_there_is_no_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users_server=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'webauthn_authenticator' not found*"])
