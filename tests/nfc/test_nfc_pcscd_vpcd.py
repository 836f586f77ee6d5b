"""The emulated card through a real PC/SC stack: private pcscd + vpcd driver + pyscard + fido2.

See tests/nfc/conftest.py for how pcscd runs in its own namespaces.
"""

from __future__ import annotations

from fido2.pcsc import CtapPcscDevice
from smartcard.System import readers

from emulators.transport.nfc import NfcCard


def test_pyscard_lists_vpcd_readers(private_pcscd) -> None:
    names = [r.name for r in readers()]
    assert names == ["Virtual PCD 00 00", "Virtual PCD 00 01"]


def test_ctap_pcsc_device_get_info_through_double(plug, fake_core) -> None:
    with plug(NfcCard(fake_core)):
        devices = list(CtapPcscDevice.list_devices("Virtual PCD 00 00"))
        assert len(devices) == 1
        device = devices[0]
        assert device.version == 2
        print(device.get_atr().hex())
