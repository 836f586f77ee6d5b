"""verifier suite: the device against the verifier core, end to end, on a SQLite store.

A security key registers and signs in through python-fido2's `Fido2Client` and the verifier's
console ceremonies; a hardware TOTP token's seeds are imported from its PSKC file, the token is
enabled with two consecutive codes, signs in, is refused on replay, resyncs after months of
drift, and the IAM rules hold. The verifier comes from the bench (the `relying_party`
fixture), so this suite imports neither the verifier nor the emulators.
"""

from __future__ import annotations

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions

DRIFT_SPAN_SECONDS = 400 * 86400.0  # emulated tokens: long enough to leave the sign-in window


def _refused(code: str, relying_party, call, **parameters) -> None:
    answer = relying_party.refusal(call, **parameters)
    assert answer == code, f"expected {code}, got {answer or 'success'}"


# ------------------------------------------------------------------ security keys


def _fido_sign_in(console, client, user):
    ceremony, options = console.begin_fido_sign_in(UserName=user)
    response = client.get_assertion(PublicKeyCredentialRequestOptions.from_dict(options))
    answer = response.get_response(0)
    return console.finish_fido_sign_in(
        CeremonyId=ceremony,
        CredentialId=answer.raw_id,
        ClientDataJSON=bytes(answer.response.client_data),
        AuthenticatorData=bytes(answer.response.authenticator_data),
        Signature=answer.response.signature,
        UserHandle=answer.response.user_handle,
    )


def _register_key(console, client, user):
    ceremony, options = console.begin_fido_registration(UserName=user)
    response = client.make_credential(PublicKeyCredentialCreationOptions.from_dict(options))
    return console.finish_fido_registration(
        CeremonyId=ceremony,
        ClientDataJSON=bytes(response.response.client_data),
        AttestationObject=bytes(response.response.attestation_object),
    )


@pytest.mark.target_kind("key")
@pytest.mark.needs_presence
def test_security_key_registers_and_signs_in(ctap_device, relying_party):
    service, console = relying_party.service, relying_party.console
    service.create_user(UserName="keyuser")
    client = Fido2Client(ctap_device, DefaultClientDataCollector(relying_party.origin))
    registered = _register_key(console, client, "keyuser")
    serial = registered["SerialNumber"]
    listed = service.list_mfa_devices(UserName="keyuser")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    for _ in range(3):  # every sign-in must verify, with a counter that moves forward
        session = _fido_sign_in(console, client, "keyuser")
        assert session.serial_number == serial
    _refused(
        "InvalidInput",
        relying_party,
        service.enable_mfa_device,
        UserName="keyuser",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )


# ------------------------------------------------------------------ TOTP tokens


def _two_codes(token):
    first = token.read_code()
    period = 30
    token.wait(period)
    return first, token.read_code()


def _with_two_codes(operation, user, token):
    """An IAM call that takes two consecutive codes (EnableMFADevice, ResyncMFADevice)."""
    code1, code2 = _two_codes(token)
    return operation(
        UserName=user,
        SerialNumber=token.serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )


def _import(service, totp_target):
    access = totp_target.pskc()
    return service.import_seed_file(access.path, password=access.password, psk=access.psk)


@pytest.mark.target_kind("totp")
def test_token_enables_signs_in_and_refuses_replay(totp_target, relying_party):
    service = relying_party.service
    imported = _import(service, totp_target)["SerialNumbers"]
    token = totp_target.tokens()[0]
    assert token.serial in imported, "the token's serial is not in its PSKC file"
    service.create_user(UserName="tokenuser")
    _with_two_codes(service.enable_mfa_device, "tokenuser", token)
    token.wait(30)
    code = token.read_code()
    session = service.sign_in(UserName="tokenuser", SerialNumber=token.serial, TokenCode=code)
    assert session.serial_number == token.serial
    _refused(
        "AccessDenied",
        relying_party,
        service.sign_in,
        UserName="tokenuser",
        SerialNumber=token.serial,
        TokenCode=code,
    )


@pytest.mark.target_kind("totp")
def test_token_resyncs_after_drift(totp_target, relying_party):
    service = relying_party.service
    _import(service, totp_target)
    token = totp_target.tokens()[0]
    service.create_user(UserName="drifter")
    _with_two_codes(service.enable_mfa_device, "drifter", token)
    if not token.manual:
        token.wait(DRIFT_SPAN_SECONDS)
    _with_two_codes(service.resync_mfa_device, "drifter", token)
    token.wait(30)
    code = token.read_code()
    service.sign_in(UserName="drifter", SerialNumber=token.serial, TokenCode=code)


@pytest.mark.target_kind("totp")
def test_iam_rules_for_a_token(totp_target, relying_party):
    service = relying_party.service
    _import(service, totp_target)
    token = totp_target.tokens()[0]
    for user in ("owner", "other"):
        service.create_user(UserName=user)
    _with_two_codes(service.enable_mfa_device, "owner", token)
    code1, code2 = _two_codes(token)
    _refused(
        "EntityAlreadyExists",
        relying_party,
        service.enable_mfa_device,
        UserName="other",
        SerialNumber=token.serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )
    _refused(
        "NoSuchEntity",
        relying_party,
        service.enable_mfa_device,
        UserName="other",
        SerialNumber="NOTIMPORTED1",
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )
    wrong = f"{(int(code1) + 1) % 10 ** len(code1):0{len(code1)}d}"
    _refused(
        "AccessDenied",
        relying_party,
        service.sign_in,
        UserName="owner",
        SerialNumber=token.serial,
        TokenCode=wrong,
    )
    service.deactivate_mfa_device(UserName="owner", SerialNumber=token.serial)
    assert service.list_mfa_devices(UserName="owner")["MFADevices"] == []
