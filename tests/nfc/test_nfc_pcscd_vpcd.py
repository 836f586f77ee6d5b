"""The emulated key through a real PC/SC stack: private pcscd + vsmartcard's vpcd driver +
pyscard + python-fido2's `CtapPcscDevice`, exactly as a client talks to an NFC key in a reader.

How pcscd runs in its own namespaces, and how the card and the client reach it, is described in
tests/nfc/conftest.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap1 import APDU, ApduError, Ctap1
from fido2.ctap2 import Ctap2
from fido2.hid import STATUS
from fido2.pcsc import CtapPcscDevice
from fido2.server import Fido2Server
from fido2.utils import sha256
from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity
from smartcard.System import readers

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.presence import AutoApprove, Touch
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.transport.nfc import NfcCard
from tokenbench.emulators.transport.vpcd import FIDO_CARD_ATR

READER = "Virtual PCD 00 00"
ORIGIN = "https://example.com"
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")
USER = PublicKeyCredentialUserEntity(id=b"user-nfc", name="nfc", display_name="NFC user")


def real_card(**env: object) -> NfcCard:
    return NfcCard(Authenticator(Env.for_tests(seed=5, **env), get_profile("default")))


@contextlib.contextmanager
def open_device() -> Iterator[CtapPcscDevice]:
    """The one FIDO card in the reader; its PC/SC handle and context are released after."""
    devices = list(CtapPcscDevice.list_devices(READER))
    try:
        assert len(devices) == 1, "exactly one FIDO card expected in the vpcd reader"
        yield devices[0]
    finally:
        for device in devices:
            device.close(release=True)


def test_pyscard_lists_only_the_private_vpcd_readers(private_pcscd) -> None:
    assert [r.name for r in readers()] == ["Virtual PCD 00 00", "Virtual PCD 00 01"]


def test_get_info_and_atr(plug) -> None:
    with plug(real_card()), open_device() as device:
        assert device.get_atr() == FIDO_CARD_ATR
        assert device.version == 2  # CTAP2 answered the getInfo probe
        info = Ctap2(device).info
        assert "FIDO_2_1" in info.versions and "U2F_V2" in info.versions


def test_fido2_client_registers_and_authenticates(plug) -> None:
    server = Fido2Server(RP)
    with plug(real_card()), open_device() as device:
        client = Fido2Client(device, DefaultClientDataCollector(ORIGIN))
        options, state = server.register_begin(USER, user_verification="discouraged")
        registration = client.make_credential(options.public_key)
        auth_data = server.register_complete(state, registration)
        credential = auth_data.credential_data
        assert credential is not None

        request, state = server.authenticate_begin([credential], user_verification="discouraged")
        assertion = client.get_assertion(request.public_key).get_response(0)
        server.authenticate_complete(state, [credential], assertion)  # raises if invalid


def test_ctap1_register_and_authenticate(plug) -> None:
    with plug(real_card()), open_device() as device:
        ctap1 = Ctap1(device)
        assert ctap1.get_version() == "U2F_V2"
        app_param, client_param = sha256(b"https://example.com"), sha256(b"client data")
        registration = ctap1.register(client_param, app_param)
        registration.verify(app_param, client_param)
        signed = ctap1.authenticate(client_param, app_param, registration.key_handle)
        signed.verify(app_param, client_param, registration.public_key)
        with pytest.raises(ApduError) as err:  # an unknown key handle is refused
            ctap1.authenticate(client_param, app_param, b"\x00" * 64)
        assert err.value.code == APDU.WRONG_DATA


def test_extended_apdus_through_vpcd(plug) -> None:
    with plug(real_card()), open_device() as device:
        device.use_ext_apdu = True
        info = Ctap2(device).get_info()
        assert "FIDO_2_1" in info.versions
        # a request longer than a short APDU carries, within the key's advertised limits:
        # a getAssertion whose allow list matches nothing
        count = min(info.max_creds_in_list or 8, 8)
        size = min(info.max_cred_id_length or 64, 64)
        allow = [{"type": "public-key", "id": bytes([i]) * size} for i in range(count)]
        assert count * size > 255
        with pytest.raises(CtapError) as err:
            Ctap2(device).get_assertion(
                "example.com", sha256(b"x"), allow_list=allow, options={"up": False}
            )
        assert err.value.code == CtapError.ERR.NO_CREDENTIALS


def test_keepalive_reports_up_needed(plug) -> None:
    with plug(real_card(presence=AutoApprove(delay=0.4))), open_device() as device:
        statuses: list[STATUS] = []
        ctap2 = Ctap2(device)
        ctap2.make_credential(
            sha256(b"cd"),
            {"id": "example.com", "name": "Example"},
            {"id": b"u", "name": "u"},
            [{"type": "public-key", "alg": -7}],
            on_keepalive=statuses.append,
        )
        assert STATUS.UPNEEDED in statuses


def test_client_cancel_through_getresponse(plug) -> None:
    with plug(real_card(presence=Touch(timeout=10))), open_device() as device:
        ctap2 = Ctap2(device)
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        with pytest.raises(CtapError) as err:
            ctap2.make_credential(
                sha256(b"cd"),
                {"id": "example.com", "name": "Example"},
                {"id": b"u", "name": "u"},
                [{"type": "public-key", "alg": -7}],
                event=cancel,
            )
        assert err.value.code == CtapError.ERR.KEEPALIVE_CANCEL
