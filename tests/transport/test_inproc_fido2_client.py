"""python-fido2's own HID client drives the real emulated key through the in-process connection.

Everything below `fido2.hid.CtapHidDevice` is ours (connection, CTAPHID endpoint, core); the
client side is python-fido2 unchanged, exactly as it talks to a USB key.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.hid import CAPABILITY, STATUS, ConnectionFailure, CtapHidDevice
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)

from tokenbench.emulators.key import EmulatedKey, parse_emu_uri
from tokenbench.emulators.transport.inproc import DeviceDisconnected

ORIGIN = "https://example.com"
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")
USER = PublicKeyCredentialUserEntity(id=b"user-1", name="alice", display_name="Alice")
ES256 = {"type": "public-key", "alg": -7}


@pytest.fixture
def key() -> Iterator[EmulatedKey]:
    k = EmulatedKey.create(seed=3)
    yield k
    k.close()


def client_for(device: CtapHidDevice, pin: str | None = None) -> Fido2Client:
    class Pin(UserInteraction):
        def request_pin(self, permissions, rp_id):  # type: ignore[no-untyped-def]
            return pin

    return Fido2Client(device, DefaultClientDataCollector(ORIGIN), user_interaction=Pin())


def creation_options(
    challenge: bytes = b"c" * 32, uv: str = "discouraged"
) -> PublicKeyCredentialCreationOptions:
    return PublicKeyCredentialCreationOptions(
        rp=RP,
        user=USER,
        challenge=challenge,
        pub_key_cred_params=[ES256],
        authenticator_selection={"userVerification": uv},
    )


def cdh(label: bytes) -> bytes:
    return hashlib.sha256(label).digest()


def register(ctap: Ctap2, label: bytes = b"reg", **kwargs):  # type: ignore[no-untyped-def]
    return ctap.make_credential(
        cdh(label),
        {"id": RP.id, "name": RP.name},
        {"id": b"u1", "name": "alice"},
        [ES256],
        **kwargs,
    )


def test_hid_device_init_reports_ctap2_capabilities(key: EmulatedKey) -> None:
    device = key.hid_device()
    assert device.version == 2
    assert CAPABILITY.CBOR.supported(device.capabilities)
    assert CAPABILITY.WINK.supported(device.capabilities)
    assert not CAPABILITY.NMSG.supported(device.capabilities)
    assert device.ping(b"p" * 5000) == b"p" * 5000
    device.wink()
    assert key.authenticator.winks == 1


def test_get_info_over_hid(key: EmulatedKey) -> None:
    info = Ctap2(key.hid_device()).get_info()
    assert info.versions == list(key.profile.versions)
    assert bytes(info.aaguid) == key.profile.aaguid


@pytest.mark.parametrize("pin", [None, "135790"])
def test_fido2_client_registers_and_authenticates(key: EmulatedKey, pin: str | None) -> None:
    device = key.hid_device()
    uv = "discouraged"
    if pin is not None:
        ClientPin(Ctap2(device)).set_pin(pin)
        uv = "required"
    client = client_for(device, pin)
    registration = client.make_credential(creation_options(uv=uv))
    credential = registration.response.attestation_object.auth_data.credential_data
    assert credential is not None
    assert registration.response.attestation_object.auth_data.is_user_verified() == bool(pin)
    request = PublicKeyCredentialRequestOptions(
        challenge=b"a" * 32,
        rp_id=RP.id,
        allow_credentials=[{"type": "public-key", "id": credential.credential_id}],
        user_verification=uv,
    )
    selection = client.get_assertion(request)
    response = selection.get_response(0)
    auth_data = response.response.authenticator_data
    credential.public_key.verify(
        bytes(auth_data) + response.response.client_data.hash, response.response.signature
    )
    assert auth_data.is_user_present()


def u2f_register_and_authenticate(device: CtapHidDevice) -> int:
    ctap1 = Ctap1(device)
    assert ctap1.get_version() == "U2F_V2"
    app, challenge = cdh(b"https://example.com"), cdh(b"u2f challenge")
    registration = ctap1.register(challenge, app)
    registration.verify(app, challenge)
    signature = ctap1.authenticate(challenge, app, registration.key_handle)
    signature.verify(app, challenge, registration.public_key)
    return signature.counter


def test_ctap1_over_hid(key: EmulatedKey) -> None:
    assert u2f_register_and_authenticate(key.hid_device()) >= 1


def test_u2f_only_profile_falls_back_to_ctap1_capabilities() -> None:
    with EmulatedKey.create(profile="u2f-only", seed=4) as key:
        device = key.hid_device()
        assert not CAPABILITY.CBOR.supported(device.capabilities)
        assert not CAPABILITY.NMSG.supported(device.capabilities)
        with pytest.raises(CtapError) as err:
            device.call(0x10, b"\x04")
        assert err.value.code == CtapError.ERR.INVALID_COMMAND
        assert u2f_register_and_authenticate(device) >= 1
        # python-fido2's WebAuthn client notices there is no CTAP2 and speaks U2F instead
        client = client_for(key.hid_device())
        registration = client.make_credential(creation_options())
        assert registration.response.attestation_object.fmt == "fido-u2f"


def test_client_pin_over_hid(key: EmulatedKey) -> None:
    ctap = Ctap2(key.hid_device())
    client_pin = ClientPin(ctap)
    client_pin.set_pin("123456")
    assert client_pin.get_pin_retries()[0] == 8
    token = client_pin.get_pin_token("123456", ClientPin.PERMISSION.MAKE_CREDENTIAL, RP.id)
    assert token
    with pytest.raises(CtapError) as err:
        client_pin.get_pin_token("000000")
    assert err.value.code == CtapError.ERR.PIN_INVALID


def test_touch_policy_waits_for_the_control_interface() -> None:
    with EmulatedKey.create(seed=5, presence="touch") as key:
        ctap = Ctap2(key.hid_device())
        statuses: list[int] = []
        touched = threading.Event()

        def on_keepalive(status: int) -> None:
            statuses.append(status)
            if status == STATUS.UPNEEDED and not touched.is_set():
                touched.set()
                key.touch()

        response = register(ctap, on_keepalive=on_keepalive)
        assert STATUS.UPNEEDED in statuses
        assert response.auth_data.is_user_present()


def test_touch_on_a_key_that_does_not_wait_for_touches_does_nothing(key: EmulatedKey) -> None:
    assert key.touch() is False and key.decline() is False
    assert register(Ctap2(key.hid_device())).auth_data.is_user_present()


def test_decline_answers_operation_denied() -> None:
    with EmulatedKey.create(seed=12, presence="touch") as key:
        assert key.decline() is True  # the next presence request is refused
        with pytest.raises(CtapError) as err:
            register(Ctap2(key.hid_device()))
        assert err.value.code == CtapError.ERR.OPERATION_DENIED


def test_cancel_during_presence_wait() -> None:
    with EmulatedKey.create(seed=6, presence="touch") as key:
        ctap = Ctap2(key.hid_device())
        cancel = threading.Event()

        def on_keepalive(status: int) -> None:
            if status == STATUS.UPNEEDED:
                cancel.set()  # python-fido2 now sends CTAPHID_CANCEL

        with pytest.raises(CtapError) as err:
            register(ctap, event=cancel, on_keepalive=on_keepalive)
        assert err.value.code == CtapError.ERR.KEEPALIVE_CANCEL
        # the channel is usable again right after the cancel
        assert Ctap2(key.hid_device()).get_info().versions


def test_power_cycle_drops_handles_and_keeps_credentials(key: EmulatedKey) -> None:
    device = key.hid_device()
    ctap = Ctap2(device)
    credential = register(ctap).auth_data.credential_data
    key.power_cycle()
    with pytest.raises(DeviceDisconnected):
        ctap.get_info()
    ctap = Ctap2(key.hid_device())  # re-open as after a real re-plug
    allow = [{"type": "public-key", "id": credential.credential_id}]
    assertion = ctap.get_assertion(RP.id, cdh(b"after replug"), allow)
    assertion.verify(cdh(b"after replug"), credential.public_key)


def test_state_file_survives_a_new_emulator(tmp_path) -> None:
    state = tmp_path / "key.json"
    with EmulatedKey.create(state_path=state) as key:
        credential = register(Ctap2(key.hid_device())).auth_data.credential_data
    assert state.exists()
    with EmulatedKey.create(state_path=state) as key:
        allow = [{"type": "public-key", "id": credential.credential_id}]
        assertion = Ctap2(key.hid_device()).get_assertion(RP.id, cdh(b"x"), allow)
        assertion.verify(cdh(b"x"), credential.public_key)


def test_clone_answers_for_the_same_credential_with_its_own_counter(key: EmulatedKey) -> None:
    credential = register(Ctap2(key.hid_device())).auth_data.credential_data
    allow = [{"type": "public-key", "id": credential.credential_id}]
    original = Ctap2(key.hid_device())
    with key.clone() as twin:
        copy = Ctap2(twin.hid_device())
        counters = []
        for label, ctap in ((b"1", original), (b"2", copy), (b"3", original), (b"4", copy)):
            assertion = ctap.get_assertion(RP.id, cdh(label), allow)
            assertion.verify(cdh(label), credential.public_key)
            counters.append(assertion.auth_data.counter)
        # what a relying party sees from "one" authenticator: counters that do not increase
        assert counters != sorted(set(counters))


def test_drop_packet_fault_makes_the_client_time_out() -> None:
    with EmulatedKey.create(seed=9, faults="drop-packet") as key:
        device = key.hid_device(read_timeout=0.5)
        # the 4th report (inside getInfo's answer) is lost: the client sees a sequence gap
        with pytest.raises(ConnectionFailure, match="sequence"):
            Ctap2(device).get_info()
    with EmulatedKey.create(seed=9, faults="drop-packet") as key:
        device = key.hid_device(read_timeout=0.5)  # report 1: the INIT answer
        assert device.ping(b"2") == b"2" and device.ping(b"3") == b"3"
        with pytest.raises(TimeoutError):  # a one-report answer that is lost: silence
            device.ping(b"4")


def test_duplicate_packet_fault_breaks_the_sequence() -> None:
    with EmulatedKey.create(seed=10, faults="duplicate-packet") as key:
        device = key.hid_device(read_timeout=0.5)
        with pytest.raises(ConnectionFailure, match="sequence"):  # report 3 comes twice
            Ctap2(device).get_info()


def test_slow_fault_is_seen_as_keepalives() -> None:
    with EmulatedKey.create(seed=11, faults="slow", slow_delay=0.3) as key:
        statuses: list[int] = []
        ctap = Ctap2(key.hid_device())
        register(ctap, on_keepalive=statuses.append)
        assert statuses == [STATUS.PROCESSING]  # python-fido2 reports each new status once


def test_fault_free_key_sends_no_keepalive_for_fast_commands(key: EmulatedKey) -> None:
    statuses: list[int] = []
    register(Ctap2(key.hid_device()), on_keepalive=statuses.append)
    assert statuses == []


def test_parse_emu_uri() -> None:
    assert parse_emu_uri("emu:") == {}
    assert parse_emu_uri("emu:profile=ctap20,fault=slow") == {"profile": "ctap20", "faults": "slow"}
    assert parse_emu_uri("emu:fault=slow+drop-packet,state=/tmp/k.json,seed=0x10") == {
        "faults": "slow+drop-packet",
        "state_path": "/tmp/k.json",
        "seed": 16,
    }
    assert parse_emu_uri("emu:fault=slow,fault=clone,presence=touch,slow=0.2") == {
        "faults": "slow+clone",
        "presence": "touch",
        "slow_delay": 0.2,
    }
    for bad in (
        "hid:auto",
        "emu:profile",
        "emu:colour=red",
        "emu:fault=melt",
        "emu:seed=x",
        "emu:profile=nope",
        "emu:presence=maybe",
    ):
        with pytest.raises(ValueError):
            parse_emu_uri(bad)


def test_emu_uri_builds_the_key_it_names() -> None:
    with EmulatedKey.create(**parse_emu_uri("emu:profile=ctap20,fault=slow,seed=1")) as key:
        assert key.profile.name == "ctap20"
        assert "slow" in key.env.faults
        info = Ctap2(key.hid_device()).get_info()
        assert "FIDO_2_1" not in info.versions
