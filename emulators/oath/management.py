"""Enough of the YubiKey Management applet for yubikey-manager to recognise the card.

Over PC/SC on a contactless reader, `ykman --reader` (yubikit.support.read_info) first tries the
OTP applet (absent here: 6A82, which yubikit reads as "a YubiKey 5 with OTP off"), then SELECTs
the Management applet (AID A0 00 00 05 27 47 11 17), takes the firmware version from the
SELECT answer (ASCII "5.7.1") and reads the device information with READ CONFIG (00 1D page
00). The answer is one length byte and TLVs (yubikit.management): supported and enabled
capabilities per transport, serial, form factor and version, all taken from the key's profile.

Only the applets this emulator has are claimed: over NFC, FIDO2 (+ U2F when the profile has it)
and OATH; over USB, where the emulated key is a HID FIDO device only, FIDO2/U2F. Writes
(WRITE CONFIG, SET MODE, DEVICE RESET) answer 6D00, as a locked-down key's would.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from tokenbench.emulators.card.apdu import CommandApdu, response
from tokenbench.emulators.ctap.profiles import DeviceProfile

MANAGEMENT_AID = bytes.fromhex("A000000527471117")
INS_READ_CONFIG = 0x1D


class Capability(IntFlag):
    """yubikit.management.CAPABILITY."""

    OTP = 0x01
    U2F = 0x02
    OPENPGP = 0x08
    PIV = 0x10
    OATH = 0x20
    HSMAUTH = 0x100
    FIDO2 = 0x200


class InfoTag(IntEnum):
    """yubikit.management TAG_* of the device information."""

    USB_SUPPORTED = 0x01
    SERIAL = 0x02
    USB_ENABLED = 0x03
    FORM_FACTOR = 0x04
    VERSION = 0x05
    AUTO_EJECT_TIMEOUT = 0x06
    CHALRESP_TIMEOUT = 0x07
    DEVICE_FLAGS = 0x08
    CONFIG_LOCK = 0x0A
    NFC_SUPPORTED = 0x0D
    NFC_ENABLED = 0x0E


SW_OK = 0x9000
SW_INS_NOT_SUPPORTED = 0x6D00
SW_WRONG_P1P2 = 0x6B00
CHALRESP_TIMEOUT = 15  # seconds, the YubiKey default


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag, len(value))) + value


def capabilities(profile: DeviceProfile) -> tuple[Capability, Capability]:
    """(USB, NFC) capabilities of the emulated key."""
    fido = Capability(0)
    if profile.ctap2:
        fido |= Capability.FIDO2
    if profile.u2f:
        fido |= Capability.U2F
    nfc = fido | (Capability.OATH if profile.oath else Capability(0))
    return fido, nfc


def device_info(profile: DeviceProfile) -> bytes:
    """READ CONFIG page 0: length byte + TLVs."""
    usb, nfc = capabilities(profile)
    body = b"".join(
        (
            _tlv(InfoTag.USB_SUPPORTED, int(usb).to_bytes(2, "big")),
            _tlv(InfoTag.SERIAL, profile.serial.to_bytes(4, "big")),
            _tlv(InfoTag.USB_ENABLED, int(usb).to_bytes(2, "big")),
            _tlv(InfoTag.FORM_FACTOR, bytes((profile.form_factor,))),
            _tlv(InfoTag.VERSION, bytes(profile.card_version)),
            _tlv(InfoTag.AUTO_EJECT_TIMEOUT, b"\x00\x00"),
            _tlv(InfoTag.CHALRESP_TIMEOUT, bytes((CHALRESP_TIMEOUT,))),
            _tlv(InfoTag.DEVICE_FLAGS, b"\x00"),
            _tlv(InfoTag.CONFIG_LOCK, b"\x00"),
            _tlv(InfoTag.NFC_SUPPORTED, int(nfc).to_bytes(2, "big")),
            _tlv(InfoTag.NFC_ENABLED, int(nfc).to_bytes(2, "big")),
        )
    )
    return bytes((len(body),)) + body


class ManagementApplet:
    """SELECT answers the version string; READ CONFIG the device information."""

    aid = MANAGEMENT_AID

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile

    def select(self, apdu: CommandApdu) -> bytes:
        version = ".".join(str(part) for part in self.profile.card_version)
        return response(version.encode("ascii"), SW_OK)

    def process(self, apdu: CommandApdu) -> bytes:
        if apdu.ins != INS_READ_CONFIG:
            return response(b"", SW_INS_NOT_SUPPORTED)
        if apdu.p1 != 0 or apdu.p2 != 0:  # one page of information
            return response(b"", SW_WRONG_P1P2)
        return response(device_info(self.profile), SW_OK)

    def deselect(self) -> None:
        pass

    def power_cycle(self) -> None:
        pass
