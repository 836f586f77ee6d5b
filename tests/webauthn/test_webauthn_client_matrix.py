"""Every software-authenticator option against three relying parties: the documented verdicts.

For each option (a fault of the emulated key, or uv=off) and each server (py_webauthn,
python-fido2's Fido2Server, our verifier), two ceremonies: a registration with the option on
from the start, and sign-ins with the option switched on after an honest registration on the
same key (`emu:state=FILE`, as the CLI does it between `create` and `get`). The verdicts must
be exactly `tokenbench.bench.webauthn.faults.EXPECTED`, which docs/webauthn-client.md prints.
Plain ceremonies are accepted by all three for ES256 and EdDSA, with and without UV.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from webauthn_client_servers import ORIGIN, SERVERS, Rejected, RelyingParty, Verdict

from tokenbench.bench.webauthn import SoftwareAuthenticator
from tokenbench.bench.webauthn.faults import ACCEPTED, EXPECTED, UV_OFF, WEBAUTHN_FAULTS

PIN = "4831-webauthn"
SIGN_INS = 3  # enough for the clone's twin to show (the third sign-in)
ROWS = [*WEBAUTHN_FAULTS, UV_OFF]
ES256, EDDSA = -7, -8


def test_every_option_has_a_verdict_from_every_server():
    assert set(EXPECTED) == set(ROWS)
    assert all(set(row) == set(SERVERS) for row in EXPECTED.values())


def attempt(call: Callable[[], Verdict]) -> Verdict | str:
    """The server's verdict, or its refusal's text."""
    try:
        return call()
    except Rejected as refused:
        return str(refused) or "refused"


def authenticator(row: str, target: str = "emu:") -> SoftwareAuthenticator:
    if row == UV_OFF:
        return SoftwareAuthenticator(ORIGIN, target, uv="off")
    return SoftwareAuthenticator(ORIGIN, target, faults=[row])


def honest(target: str, uv_required: bool) -> SoftwareAuthenticator:
    if uv_required:
        return SoftwareAuthenticator(ORIGIN, target, uv="on", pin=PIN)
    return SoftwareAuthenticator(ORIGIN, target)


def check(outcome: Verdict | str, expected: str, what: str) -> None:
    if expected == ACCEPTED:
        assert isinstance(outcome, Verdict), f"{what}: refused ({outcome}), documented accepted"
    else:
        assert isinstance(outcome, str), f"{what}: accepted, documented refused ({expected})"
        assert expected.lower() in outcome.lower(), f"{what}: refused with {outcome!r}"


def register(rp: RelyingParty, key: SoftwareAuthenticator) -> Verdict | str:
    return attempt(lambda: rp.finish_registration(key.create(rp.registration_options())))


def sign_in(rp: RelyingParty, key: SoftwareAuthenticator) -> Verdict | str:
    return attempt(lambda: rp.finish_authentication(key.get(rp.authentication_options())))


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("row", ROWS)
def test_registration_with_the_option_on(row: str, server: str) -> None:
    expected = EXPECTED[row][server]
    rp = SERVERS[server](uv_required=row == UV_OFF)
    with authenticator(row) as key:
        outcome = register(rp, key)
    check(outcome, expected.registration, f"{row} registration at {server}")
    if row == "backup-flags":
        assert isinstance(outcome, Verdict) and outcome.backed_up, "BS not reported"


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("row", ROWS)
def test_sign_in_after_the_option_is_switched_on(row: str, server: str, tmp_path: Path) -> None:
    expected = EXPECTED[row][server]
    target = f"emu:state={tmp_path / 'key.json'}"
    rp = SERVERS[server](uv_required=row == UV_OFF)
    with honest(target, uv_required=row == UV_OFF) as key:
        assert isinstance(register(rp, key), Verdict)
    outcomes: list[Verdict | str] = []
    with authenticator(row, target) as key:
        for _ in range(SIGN_INS):
            outcomes.append(sign_in(rp, key))
            if isinstance(outcomes[-1], str):
                break
    if expected.sign_in == ACCEPTED:
        assert all(isinstance(o, Verdict) for o in outcomes), f"{row} at {server}: {outcomes}"
        if row == "backup-flags":
            assert all(isinstance(o, Verdict) and o.backed_up for o in outcomes), outcomes
        return
    refused = len(outcomes)
    check(outcomes[-1], expected.sign_in, f"{row} sign-in {refused} at {server}")
    assert refused == expected.sign_in_number, f"{row} at {server}: refused at {refused}"


def only_algorithm(options_json: str, alg: int) -> str:
    """The server's options with one algorithm offered (how a site pins ES256 or EdDSA)."""
    options = json.loads(options_json)
    inner = options.get("publicKey", options)
    inner["pubKeyCredParams"] = [{"type": "public-key", "alg": alg}]
    return json.dumps(options)


@pytest.mark.parametrize("uv", [None, "on"], ids=["no-uv", "uv"])
@pytest.mark.parametrize("alg", [ES256, EDDSA], ids=["ES256", "EdDSA"])
@pytest.mark.parametrize("server", SERVERS)
def test_plain_ceremonies_are_accepted(server: str, alg: int, uv: str | None) -> None:
    rp = SERVERS[server](uv_required=uv == "on")
    with SoftwareAuthenticator(ORIGIN, uv=uv, pin=PIN if uv else None) as key:
        response = key.create(only_algorithm(rp.registration_options(), alg))
        registered = rp.finish_registration(response)
        counts = [registered.sign_count]
        for _ in range(2):
            verdict = rp.finish_authentication(key.get(rp.authentication_options()))
            assert verdict.user_verified == (uv == "on")
            assert not verdict.backed_up
            counts.append(verdict.sign_count)
    assert counts == sorted(set(counts)), f"counters do not grow: {counts}"
    public_key = json.loads(json.dumps(response))["response"]["publicKeyAlgorithm"]
    assert public_key == alg


def test_the_plain_ceremonies_cover_every_algorithm_the_key_claims() -> None:
    with SoftwareAuthenticator(ORIGIN) as key:
        claimed = {entry["alg"] for entry in key.client.info.algorithms or []}
    assert claimed == {ES256, EDDSA}


def test_discoverable_credentials_sign_in_without_an_allow_list() -> None:
    """Passkey-style sign-in (no allowCredentials): the most recent account's credential
    answers, with its user handle, as the first choice a browser would offer."""
    import webauthn
    from webauthn.helpers.structs import AuthenticatorSelectionCriteria, ResidentKeyRequirement

    rp_id = ORIGIN.removeprefix("https://")
    selection = AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.REQUIRED)
    with SoftwareAuthenticator(ORIGIN) as key:
        for name in ("alice", "bob"):
            options = webauthn.generate_registration_options(
                rp_id=rp_id, rp_name="Shop", user_name=name, authenticator_selection=selection
            )
            registered = webauthn.verify_registration_response(
                credential=key.create(webauthn.options_to_json(options)),
                expected_challenge=options.challenge,
                expected_origin=ORIGIN,
                expected_rp_id=rp_id,
            )
        request = webauthn.generate_authentication_options(rp_id=rp_id)
        response = key.get(webauthn.options_to_json(request))
    assert response["rawId"] == webauthn.helpers.bytes_to_base64url(registered.credential_id)
    assert response["response"]["userHandle"] == webauthn.helpers.bytes_to_base64url(
        options.user.id
    )
    verified = webauthn.verify_authentication_response(
        credential=response,
        expected_challenge=request.challenge,
        expected_origin=ORIGIN,
        expected_rp_id=rp_id,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=registered.sign_count,
    )
    assert verified.new_sign_count > registered.sign_count
