"""Our emulated key on our console: python-fido2's Fido2Client over tokenbench's emulated key
(in process, through `CtapHidDevice`) answers the console's WebAuthn JSON endpoints, reached
through TestClient. The key's packed attestation is checked against the trust store (the
emulated vendor root). The `counter-rollback` and `clone` faults are refused with the console's
error, and the credential is then shown as suspended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import ConsoleUser, add_user, make_service, mounted
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import MLDSA65
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)
from starlette.testclient import TestClient

from tokenbench.emulators.ctap.attestation import VendorAuthority
from tokenbench.emulators.key import EmulatedKey
from tokenbench.verifier.service import Service
from tokenbench.verifier.trust import TrustStore
from tokenbench.verifier.webauthn import TYPE_GET

ORIGIN = "http://localhost:8080"
RP_ID = "localhost"
CLONED = "signature counter went backwards: the key may be cloned"
PIN = "4831-console"
SUSPENDED = "this security key is suspended: possibly cloned"


@pytest.fixture
def trusted_service(tmp_path: Path) -> Iterator[Service]:
    trust = TrustStore.from_certificates([VendorAuthority.default().root_certificate])
    opened = make_service(
        tmp_path, rp_id=RP_ID, origins=frozenset({ORIGIN}), trust=trust, lockout=False
    )
    add_user(opened)
    yield opened
    opened.close()


@pytest.fixture
def web(trusted_service: Service) -> Iterator[ConsoleUser]:
    with TestClient(mounted(trusted_service), base_url=ORIGIN) as client:
        yield ConsoleUser(client)


class PinEntry(UserInteraction):
    """The person at the keyboard: types the key's PIN when the client asks."""

    def request_pin(self, permissions: Any, rp_id: Any) -> str:
        return PIN

    def request_uv(self, permissions: Any, rp_id: Any) -> bool:
        return True


def new_key(seed: int, state: Path | None = None) -> EmulatedKey:
    """A key with a PIN: python-fido2's client, unlike a browser, will not skip user
    verification under "preferred" on a key that could do it but has no PIN set."""
    key = EmulatedKey.create(state_path=state, seed=seed)
    ClientPin(Ctap2(key.hid_device())).set_pin(PIN)
    return key


def client_for(key: EmulatedKey) -> Fido2Client:
    return Fido2Client(
        key.hid_device(),
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=PinEntry(),
    )


def post_json(web: ConsoleUser, path: str, body: dict[str, Any]) -> Any:
    return web.client.post(path, json=body, headers={"x-csrf-token": web.csrf})


def register(web: ConsoleUser, key: EmulatedKey, name: str = "yubi") -> str:
    """The page's registration, with Fido2Client where a browser would be."""
    begun = post_json(web, "/console/credentials/key/begin", {"name": name})
    assert begun.status_code == 200, begun.text
    options = PublicKeyCredentialCreationOptions.from_dict(begun.json()["publicKey"])
    response = client_for(key).make_credential(options)
    finished = post_json(
        web,
        "/console/credentials/key/finish",
        {"ceremonyId": begun.json()["ceremonyId"], "credential": dict(response)},
    )
    assert finished.status_code == 200, finished.text
    assert finished.json()["redirect"] == "/console/credentials?notice=key-added"
    serial: str = finished.json()["serialNumber"]
    return serial


def begin_sign_in(web: ConsoleUser) -> dict[str, Any]:
    web.sign_in()
    begun = post_json(web, "/console/mfa/key/begin", {})
    assert begun.status_code == 200, begun.text
    body: dict[str, Any] = begun.json()
    return body


def finish_sign_in(web: ConsoleUser, ceremony_id: str, credential: dict[str, Any]) -> Any:
    """Send the assertion; on success follow the redirect as the page does (which also picks
    up the signed-in session's new CSRF token)."""
    response = post_json(
        web, "/console/mfa/key/finish", {"ceremonyId": ceremony_id, "credential": credential}
    )
    if response.status_code == 200:
        assert "<h1>My security credentials</h1>" in web.get(response.json()["redirect"])
    return response


def sign_in_with(web: ConsoleUser, key: EmulatedKey) -> Any:
    begun = begin_sign_in(web)
    options = PublicKeyCredentialRequestOptions.from_dict(begun["publicKey"])
    response = client_for(key).get_assertion(options).get_response(0)
    return finish_sign_in(web, begun["ceremonyId"], dict(response))


def raw_sign_in(web: ConsoleUser, ctap: Ctap2) -> Any:
    """One bare getAssertion (python-fido2's client probes first, which would hide the clone
    fault's second counter history), wrapped as the page would send it."""
    begun = begin_sign_in(web)
    challenge = begun["publicKey"]["challenge"]
    client_data = CollectedClientData.create(TYPE_GET, bytes(websafe_decode(challenge)), ORIGIN)
    allow = [
        {"type": "public-key", "id": websafe_decode(c["id"])}
        for c in begun["publicKey"]["allowCredentials"]
    ]
    answer = ctap.get_assertion(RP_ID, client_data.hash, allow)
    credential_id = answer.credential["id"]
    return finish_sign_in(
        web,
        begun["ceremonyId"],
        {
            "id": websafe_encode(credential_id),
            "rawId": websafe_encode(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(bytes(client_data)),
                "authenticatorData": websafe_encode(bytes(answer.auth_data)),
                "signature": websafe_encode(answer.signature),
                "userHandle": None,
            },
        },
    )


def signed_out_after_registering(web: ConsoleUser, key: EmulatedKey) -> str:
    web.sign_in()
    serial = register(web, key)
    web.post("/console/signout")
    return serial


def test_register_then_sign_in(web: ConsoleUser, trusted_service: Service) -> None:
    key = new_key(41)
    serial = signed_out_after_registering(web, key)
    device = trusted_service.store.device(serial)
    assert device is not None and device.attestation_trusted is True
    mfa = web.sign_in()
    assert 'id="use-key"' in mfa.text
    finished = sign_in_with(web, key)
    assert finished.status_code == 200, finished.text
    page = web.get("/console/credentials")
    assert "signed in without MFA" not in page
    assert "Passkey or security key" in page and "device-bound" in page and serial in page


def test_unregistered_key_refused(web: ConsoleUser) -> None:
    signed_out_after_registering(web, new_key(42))
    begun = begin_sign_in(web)
    options = PublicKeyCredentialRequestOptions.from_dict(begun["publicKey"])
    with pytest.raises(Exception):  # noqa: B017 - the other key holds no allowed credential
        client_for(new_key(43)).get_assertion(options)
    assert "My security credentials" not in web.client.get("/console/credentials").text


def test_assertion_replay_refused(web: ConsoleUser) -> None:
    key = new_key(44)
    signed_out_after_registering(web, key)
    begun = begin_sign_in(web)
    options = PublicKeyCredentialRequestOptions.from_dict(begun["publicKey"])
    credential = dict(client_for(key).get_assertion(options).get_response(0))
    assert finish_sign_in(web, begun["ceremonyId"], credential).status_code == 200
    web.post("/console/signout")
    web.sign_in()
    again = finish_sign_in(web, begun["ceremonyId"], credential)
    assert again.status_code == 400
    assert "no such ceremony" in again.json()["error"]


def test_counter_rollback_fault_refused(web: ConsoleUser, tmp_path: Path) -> None:
    state = tmp_path / "key-state.json"
    healthy = new_key(45, state)
    serial = signed_out_after_registering(web, healthy)
    assert sign_in_with(web, healthy).status_code == 200
    web.post("/console/signout")
    faulted = EmulatedKey.create(state_path=state, faults="counter-rollback", seed=45)
    answers = []
    for _ in range(3):
        response = sign_in_with(web, faulted)
        answers.append((response.status_code, response.json().get("error")))
        if response.status_code != 200:
            break
        web.post("/console/signout")
    assert answers[-1] == (403, CLONED), answers
    # the credential is suspended: even the healthy key is refused now
    web.client.cookies.clear()
    refused = sign_in_with(web, healthy)
    assert (refused.status_code, refused.json()["error"]) == (403, SUSPENDED)
    assert serial


def test_clone_fault_refused(web: ConsoleUser, tmp_path: Path, trusted_service: Service) -> None:
    state = tmp_path / "key-state.json"
    healthy = new_key(46, state)
    serial = signed_out_after_registering(web, healthy)
    assert raw_sign_in(web, Ctap2(healthy.hid_device())).status_code == 200
    web.post("/console/signout")
    clone = Ctap2(EmulatedKey.create(state_path=state, faults="clone", seed=46).hid_device())
    answers = []
    for _ in range(3):
        response = raw_sign_in(web, clone)
        answers.append((response.status_code, response.json().get("error")))
        if response.status_code != 200:
            break
        web.post("/console/signout")
    assert answers[-1] == (403, CLONED), answers
    device = trusted_service.store.device(serial)
    assert device is not None and device.possibly_cloned


def test_post_quantum_credential_registers_and_signs_in(
    web: ConsoleUser, trusted_service: Service
) -> None:
    """An ML-DSA-65 credential (the `all-algorithms` key, asked for -49 only, as an RP that
    wants post-quantum credentials would ask) registers and signs in through the console's
    endpoints; python-fido2's client checks the assertion's shape on the way."""
    key = EmulatedKey.create(profile="all-algorithms", seed=49)
    ClientPin(Ctap2(key.hid_device())).set_pin(PIN)
    web.sign_in()
    begun = post_json(web, "/console/credentials/key/begin", {"name": "pq-key"})
    assert begun.status_code == 200, begun.text
    public_key = dict(begun.json()["publicKey"])
    offered = [p["alg"] for p in public_key["pubKeyCredParams"]]
    assert MLDSA65.ALGORITHM in offered  # the console offers it: the choice is the RP's
    public_key["pubKeyCredParams"] = [{"type": "public-key", "alg": MLDSA65.ALGORITHM}]
    options = PublicKeyCredentialCreationOptions.from_dict(public_key)
    response = client_for(key).make_credential(options)
    made = response.response.attestation_object.auth_data.credential_data
    assert made is not None and made.public_key[3] == MLDSA65.ALGORITHM
    finished = post_json(
        web,
        "/console/credentials/key/finish",
        {"ceremonyId": begun.json()["ceremonyId"], "credential": dict(response)},
    )
    assert finished.status_code == 200, finished.text
    serial = finished.json()["serialNumber"]
    web.post("/console/signout")
    answer = sign_in_with(web, key)
    assert answer.status_code == 200, answer.text
    device = trusted_service.store.device(serial)
    assert device is not None and device.sign_count > 0
