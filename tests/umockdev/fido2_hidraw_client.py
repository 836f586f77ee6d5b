"""An unmodified python-fido2 client, run under libumockdev-preload by the tests.

It only knows what any program on a Linux desktop knows: /dev/hidraw* (python-fido2's own Linux
backend enumerates and opens it). It prints one JSON object for the test to judge. Not a test
module itself (no test_ prefix); the tests run it as a child process.

Usage: fido2_hidraw_client.py list | info | ceremony ORIGIN
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import Ctap2
from fido2.hid import CtapHidDevice
from fido2.webauthn import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)


def first_device() -> CtapHidDevice:
    devices = list(CtapHidDevice.list_devices())
    if not devices:
        raise SystemExit("no FIDO HID device found")
    return devices[0]


def list_devices() -> Any:
    return [
        {
            "path": d.descriptor.path,
            "vid": d.descriptor.vid,
            "pid": d.descriptor.pid,
            "product_name": d.descriptor.product_name,
            "serial": d.descriptor.serial_number,
            "report_size_in": d.descriptor.report_size_in,
            "report_size_out": d.descriptor.report_size_out,
        }
        for d in CtapHidDevice.list_devices()
    ]


def info() -> Any:
    device = first_device()
    got = Ctap2(device).get_info()
    return {
        "versions": list(got.versions),
        "aaguid": bytes(got.aaguid).hex(),
        "capabilities": int(device.capabilities),
        "device_version": list(device.device_version),
    }


def ceremony(origin: str) -> Any:
    """Register, then sign in twice, with user verification discouraged."""
    rp_id = origin.split("://", 1)[1]
    client = Fido2Client(first_device(), client_data_collector=DefaultClientDataCollector(origin))
    created = client.make_credential(
        PublicKeyCredentialCreationOptions(
            rp=PublicKeyCredentialRpEntity(id=rp_id, name="umockdev RP"),
            user=PublicKeyCredentialUserEntity(id=b"user-umockdev", name="carol"),
            challenge=b"\x07" * 32,
            pub_key_cred_params=[PublicKeyCredentialParameters(type="public-key", alg=-7)],
            authenticator_selection=AuthenticatorSelectionCriteria(user_verification="discouraged"),
        )
    )
    attested = created.response.attestation_object.auth_data.credential_data
    assert attested is not None
    signatures = []
    for challenge in (b"\x08" * 32, b"\x09" * 32):
        selection = client.get_assertion(
            PublicKeyCredentialRequestOptions(
                challenge=challenge,
                rp_id=rp_id,
                allow_credentials=[
                    PublicKeyCredentialDescriptor(type="public-key", id=attested.credential_id)
                ],
                user_verification="discouraged",
            )
        )
        response = selection.get_response(0).response
        signatures.append(
            {
                "authenticator_data": bytes(response.authenticator_data).hex(),
                "client_data": bytes(response.client_data).hex(),
                "signature": bytes(response.signature).hex(),
            }
        )
    return {
        "credential_id": bytes(attested.credential_id).hex(),
        "public_key": dict(attested.public_key),
        "attestation_format": created.response.attestation_object.fmt,
        "assertions": signatures,
    }


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "list":
        result = list_devices()
    elif command == "info":
        result = info()
    elif command == "ceremony" and len(argv) == 3:
        result = ceremony(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result, default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
