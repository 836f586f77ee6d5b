"""The IAM MFA rules with their error codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import urllib.parse

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from verifier_helpers import (
    ACCOUNT,
    START,
    Authenticator,
    b32,
    enable,
    enabled_virtual,
    lock_out,
    new_virtual,
)

from tokenbench.emulators.clock import DriftingClock
from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.iam import Caller, IamService
from tokenbench.verifier.seeds import ImportedSeed
from tokenbench.verifier.totp import TotpParams

TWO_YEARS = 2 * 365.25 * 86400
HW_SECRET = bytes(range(1, 21))


def code_of(call) -> str:
    with pytest.raises(IamError) as info:
        call()
    assert "\n" not in info.value.message
    return info.value.code


def import_hardware(service: IamService, serial: str = "GAHT00000001", digits: int = 6) -> None:
    service.import_seeds([ImportedSeed(serial, HW_SECRET, TotpParams(digits=digits))])


def hardware_app(service: IamService, drift_ppm: float, digits: int = 6) -> Authenticator:
    """A token whose crystal has run `drift_ppm` fast since it left the factory two years ago."""
    token_clock = DriftingClock(service.clock, ppm=drift_ppm, epoch=START - TWO_YEARS)
    return Authenticator(b32(HW_SECRET), token_clock, digits=digits)


# --- virtual devices --------------------------------------------------------------------------


def test_create_virtual_device_serial_seed_and_qr(service: IamService) -> None:
    created = service.create_virtual_mfa_device(VirtualMFADeviceName="phone", Path="/eng/")
    device = created["VirtualMFADevice"]
    assert device["SerialNumber"] == f"arn:aws:iam::{ACCOUNT}:mfa/eng/phone"
    assert len(device["Base32StringSeed"]) == 64
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(device["QRCodePNG"])))
    uri = urllib.parse.urlsplit(barcode.text)
    assert (uri.scheme, uri.netloc, urllib.parse.unquote(uri.path)) == (
        "otpauth",
        "totp",
        f"/phone@{ACCOUNT}",
    )
    assert urllib.parse.parse_qs(uri.query)["secret"] == [device["Base32StringSeed"]]


@pytest.mark.parametrize("name", ["", "a b", "x" * 227, "ph/one", "tab\t"])
def test_bad_device_names(service: IamService, name: str) -> None:
    assert code_of(lambda: service.create_virtual_mfa_device(VirtualMFADeviceName=name)) == (
        "ValidationError"
    )


@pytest.mark.parametrize("path", ["", "eng/", "/eng", "/a b/", "/" + "a" * 511 + "/"])
def test_bad_paths(service: IamService, path: str) -> None:
    call = lambda: service.create_virtual_mfa_device(VirtualMFADeviceName="ok", Path=path)  # noqa: E731
    assert code_of(call) == "ValidationError"


def test_unassigned_name_blocks_until_deleted(service: IamService) -> None:
    serial, app = new_virtual(service, "phone")
    assert code_of(lambda: new_virtual(service, "PHONE")) == "EntityAlreadyExists"
    service.create_user(UserName="alice")
    enable(service, "alice", serial, app)
    service.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    listed = service.list_virtual_mfa_devices(AssignmentStatus="Unassigned")
    assert [d["SerialNumber"] for d in listed["VirtualMFADevices"]] == [serial]
    assert code_of(lambda: new_virtual(service, "phone")) == "EntityAlreadyExists"
    service.delete_virtual_mfa_device(SerialNumber=serial)
    new_virtual(service, "phone")


def test_delete_assigned_is_delete_conflict(service: IamService) -> None:
    service.create_user(UserName="alice")
    serial, app = new_virtual(service, "phone")
    enable(service, "alice", serial, app)
    assert code_of(lambda: service.delete_virtual_mfa_device(SerialNumber=serial)) == (
        "DeleteConflict"
    )
    missing = f"arn:aws:iam::{ACCOUNT}:mfa/nothing"
    assert code_of(lambda: service.delete_virtual_mfa_device(SerialNumber=missing)) == (
        "NoSuchEntity"
    )


def test_list_virtual_by_assignment(service: IamService) -> None:
    service.create_user(UserName="alice")
    used, app = new_virtual(service, "used")
    spare, _ = new_virtual(service, "spare")
    enable(service, "alice", used, app)

    def serials(status: str) -> list[str]:
        devices = service.list_virtual_mfa_devices(AssignmentStatus=status)["VirtualMFADevices"]
        return sorted(d["SerialNumber"] for d in devices)

    assert serials("Assigned") == [used] and serials("Unassigned") == [spare]
    assert serials("Any") == sorted([used, spare])
    assigned = service.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned[0]["User"]["UserName"] == "alice" and "EnableDate" in assigned[0]
    assert code_of(lambda: service.list_virtual_mfa_devices(AssignmentStatus="Some")) == (
        "ValidationError"
    )


# --- enabling ---------------------------------------------------------------------------------


def test_enable_and_list(service: IamService) -> None:
    service.create_user(UserName="alice")
    serial, app = new_virtual(service, "phone")
    assert enable(service, "alice", serial, app) == {}
    (entry,) = service.list_mfa_devices(UserName="alice")["MFADevices"]
    assert entry == {
        "UserName": "alice",
        "SerialNumber": serial,
        "EnableDate": "2027-01-15T08:00:00+00:00",
    }


def test_enable_needs_two_consecutive_valid_codes(service: IamService) -> None:
    service.create_user(UserName="alice")
    serial, app = new_virtual(service, "phone")
    for code1, code2 in [
        (app.code(0), app.code(2)),
        (app.code(1), app.code(0)),
        (app.code(0), app.code(0)),
        ("000000", "000000"),
    ]:
        call = lambda c1=code1, c2=code2: service.enable_mfa_device(  # noqa: E731
            UserName="alice", SerialNumber=serial, AuthenticationCode1=c1, AuthenticationCode2=c2
        )
        assert code_of(call) == "InvalidAuthenticationCode"
    for bad in ("12345", "abcdef", "1234567"):
        call = lambda b=bad: service.enable_mfa_device(  # noqa: E731
            UserName="alice", SerialNumber=serial, AuthenticationCode1=b, AuthenticationCode2=b
        )
        assert code_of(call) == "ValidationError"
    assert service.list_mfa_devices(UserName="alice")["MFADevices"] == []


def test_enable_unknown_user_or_device(service: IamService) -> None:
    serial, app = new_virtual(service, "phone")
    assert code_of(lambda: enable(service, "nobody", serial, app)) == "NoSuchEntity"
    service.create_user(UserName="alice")
    missing = f"arn:aws:iam::{ACCOUNT}:mfa/missing"
    assert code_of(lambda: enable(service, "alice", missing, app)) == "NoSuchEntity"


def test_device_of_another_identity(service: IamService) -> None:
    service.create_user(UserName="alice")
    service.create_user(UserName="bob")
    serial, app = new_virtual(service, "phone")
    enable(service, "alice", serial, app)
    service.clock.advance(90)
    assert code_of(lambda: enable(service, "bob", serial, app)) == "EntityAlreadyExists"
    assert code_of(lambda: enable(service, "alice", serial, app)) == "EntityAlreadyExists"


def test_ninth_device_of_mixed_kinds_is_limit_exceeded(service: IamService) -> None:
    service.create_user(UserName="alice")
    service.add_legacy_sms_device(UserName="alice")
    for n in range(4):
        serial, app = new_virtual(service, f"phone{n}")
        enable(service, "alice", serial, app)
    for n in range(3):
        import_hardware(service, f"GAHT0000000{n}")
        enable(service, "alice", f"GAHT0000000{n}", hardware_app(service, 0))
    assert len(service.list_mfa_devices(UserName="alice")["MFADevices"]) == 8
    serial, app = new_virtual(service, "ninth")
    assert code_of(lambda: enable(service, "alice", serial, app)) == "LimitExceeded"
    import_hardware(service, "GAHT00000009")
    ninth_token = hardware_app(service, 0)
    assert code_of(lambda: enable(service, "alice", "GAHT00000009", ninth_token)) == (
        "LimitExceeded"
    )


def test_sms_devices_listed_never_enabled(service: IamService) -> None:
    service.create_user(UserName="alice")
    serial = service.add_legacy_sms_device(UserName="alice")["SerialNumber"]
    listed = service.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    service.create_user(UserName="bob")
    call = lambda: service.enable_mfa_device(  # noqa: E731
        UserName="bob",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="234567",
    )
    assert code_of(call) == "InvalidInput"
    call = lambda: service.sign_in(UserName="alice", SerialNumber=serial, TokenCode="123456")  # noqa: E731
    assert code_of(call) == "ValidationError"
    service.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert service.list_mfa_devices(UserName="alice")["MFADevices"] == []


# --- hardware tokens ----------------------------------------------------------------------------


def test_hardware_serial_never_imported_is_no_such_entity(service: IamService) -> None:
    service.create_user(UserName="alice")
    app = hardware_app(service, 0)
    assert code_of(lambda: enable(service, "alice", "GAHT99999999", app)) == "NoSuchEntity"


def test_drifting_token_enables_and_resyncs(service: IamService) -> None:
    service.create_user(UserName="alice")
    import_hardware(service)
    token = hardware_app(service, 50)  # +50 ppm for two years: ~3,156 s, ~105 steps ahead
    ahead = token.clock.now() - service.clock.now()
    assert 3100 < ahead < 3200
    enable(service, "alice", "GAHT00000001", token)
    service.clock.advance(60)
    session = service.sign_in(UserName="alice", SerialNumber="GAHT00000001", TokenCode=token.code())
    assert session.serial_number == "GAHT00000001"
    # A year later the token is ~26 more steps ahead: outside ±1 around the learned drift...
    service.clock.advance(365.25 * 86400)
    stale = token.code()
    call = lambda: service.sign_in(UserName="alice", SerialNumber="GAHT00000001", TokenCode=stale)  # noqa: E731
    assert code_of(call) == "AccessDenied"
    # ...until a resync learns the new drift.
    code1, code2 = token.pair()
    service.resync_mfa_device(
        UserName="alice",
        SerialNumber="GAHT00000001",
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )
    service.clock.advance(60)
    service.sign_in(UserName="alice", SerialNumber="GAHT00000001", TokenCode=token.code())
    # the resync codes cannot be replayed
    call = lambda: service.resync_mfa_device(  # noqa: E731
        UserName="alice",
        SerialNumber="GAHT00000001",
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )
    assert code_of(call) == "InvalidAuthenticationCode"


def test_eight_digit_codes_are_refused_as_iam_does(service: IamService) -> None:
    """IAM's model: AuthenticationCode1/2 and TokenCode are exactly 6 digits."""
    service.create_user(UserName="alice")
    import_hardware(service, digits=8)
    token = hardware_app(service, 0, digits=8)
    with pytest.raises(IamError) as info:
        enable(service, "alice", "GAHT00000001", token)
    assert info.value.code == "ValidationError"
    assert "authenticationCode1" in info.value.message
    assert service.list_mfa_devices(UserName="alice")["MFADevices"] == []


def test_deactivated_hardware_token_can_move(service: IamService) -> None:
    service.create_user(UserName="alice")
    service.create_user(UserName="bob")
    import_hardware(service)
    token = hardware_app(service, 0)
    enable(service, "alice", "GAHT00000001", token)
    service.deactivate_mfa_device(UserName="alice", SerialNumber="GAHT00000001")
    service.clock.advance(90)
    enable(service, "bob", "GAHT00000001", token)
    assert service.list_mfa_devices(UserName="bob")["MFADevices"][0]["UserName"] == "bob"


# --- sign-in, lockout -------------------------------------------------------------------------


def test_sign_in_needs_a_device_of_this_identity(service: IamService) -> None:
    service.create_user(UserName="alice")
    service.create_user(UserName="bob")
    alice_serial, alice_app = new_virtual(service, "alice-phone")
    bob_serial, bob_app = new_virtual(service, "bob-phone")
    enable(service, "alice", alice_serial, alice_app)
    enable(service, "bob", bob_serial, bob_app)
    service.clock.advance(60)
    for serial, app in ((bob_serial, bob_app), (alice_serial, bob_app)):
        call = lambda s=serial, a=app: service.sign_in(  # noqa: E731
            UserName="alice", SerialNumber=s, TokenCode=a.code()
        )
        assert code_of(call) == "AccessDenied"
    service.sign_in(UserName="alice", SerialNumber=alice_serial, TokenCode=alice_app.code())
    session = service.sign_in(UserName="bob", SerialNumber=bob_serial, TokenCode=bob_app.code())
    assert session.session_token and session.user_name == "bob"


def test_lockout_and_cooldown(service: IamService) -> None:
    serial, app = enabled_virtual(service)
    lock_out(service, "alice", serial, app)
    call = lambda: service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=app.code())  # noqa: E731
    with pytest.raises(IamError, match="locked"):
        call()
    service.clock.advance(service.policy.lockout_cooldown + 1)
    service.sign_in(UserName="alice", SerialNumber=serial, TokenCode=app.code())


# --- who may call -----------------------------------------------------------------------------


def test_self_service_needs_mfa_once_a_device_exists(service: IamService) -> None:
    service.create_user(UserName="alice")
    alice = Caller("alice")
    first, first_app = new_virtual(service, "first")
    enable(service, None, first, first_app, caller=alice)  # no device yet: allowed
    second, second_app = new_virtual(service, "second")
    assert code_of(lambda: enable(service, None, second, second_app, caller=alice)) == (
        "AccessDenied"
    )
    service.clock.advance(60)
    session = service.sign_in(UserName="alice", SerialNumber=first, TokenCode=first_app.code())
    enable(service, None, second, second_app, caller=session.caller)
    call = lambda: service.deactivate_mfa_device(SerialNumber=second, caller=alice)  # noqa: E731
    assert code_of(call) == "AccessDenied"
    service.deactivate_mfa_device(SerialNumber=second, caller=session.caller)


def test_identity_cannot_act_on_another(service: IamService) -> None:
    service.create_user(UserName="alice")
    service.create_user(UserName="bob")
    serial, app = new_virtual(service, "phone")
    assert code_of(lambda: enable(service, "bob", serial, app, caller=Caller("alice"))) == (
        "AccessDenied"
    )


def test_root_manages_its_own_mfa(service: IamService) -> None:
    serial, app = new_virtual(service, "root-phone")
    assert code_of(lambda: enable(service, "root", serial, app)) == "AccessDenied"
    enable(service, None, serial, app, caller=Caller("root"))
    assert service.list_mfa_devices(caller=Caller("root"))["MFADevices"][0]["UserName"] == "root"


def test_user_names(service: IamService) -> None:
    service.create_user(UserName="alice")
    assert code_of(lambda: service.create_user(UserName="ALICE")) == "EntityAlreadyExists"
    assert code_of(lambda: service.create_user(UserName="root")) == "EntityAlreadyExists"
    assert code_of(lambda: service.create_user(UserName="a b")) == "ValidationError"
    assert code_of(lambda: service.get_user(UserName="zed")) == "NoSuchEntity"


# --- tags, GetMFADevice -----------------------------------------------------------------------


def test_tags(service: IamService) -> None:
    serial, _ = new_virtual(service, "phone")
    service.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "team", "Value": "blue"}])
    service.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "Team", "Value": "red"}])
    assert service.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [
        {"Key": "Team", "Value": "red"}
    ]
    many = [{"Key": f"k{n}", "Value": ""} for n in range(49)]
    service.tag_mfa_device(SerialNumber=serial, Tags=many)
    extra = [{"Key": "one-too-many", "Value": "x"}]
    assert code_of(lambda: service.tag_mfa_device(SerialNumber=serial, Tags=extra)) == (
        "LimitExceeded"
    )
    reserved = [{"Key": "aws:x", "Value": "x"}]
    assert code_of(lambda: service.tag_mfa_device(SerialNumber=serial, Tags=reserved)) == (
        "InvalidInput"
    )
    too_long = [{"Key": "k" * 129, "Value": "x"}]
    assert code_of(lambda: service.tag_mfa_device(SerialNumber=serial, Tags=too_long)) == (
        "ValidationError"
    )
    service.untag_mfa_device(SerialNumber=serial, TagKeys=["team"])
    assert len(service.list_mfa_device_tags(SerialNumber=serial)["Tags"]) == 49
    import_hardware(service)
    call = lambda: service.list_mfa_device_tags(SerialNumber="GAHT00000001")  # noqa: E731
    assert code_of(call) == "NoSuchEntity"


def test_get_mfa_device_is_for_fido_only(service: IamService) -> None:
    service.create_user(UserName="alice")
    serial, app = new_virtual(service, "phone")
    enable(service, "alice", serial, app)
    call = lambda: service.get_mfa_device(UserName="alice", SerialNumber=serial)  # noqa: E731
    assert code_of(call) == "NoSuchEntity"


# --- parameter shapes (hypothesis) ------------------------------------------------------------

NAME_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@given(st.text(NAME_CHARS, max_size=240))
def test_device_name_rule(name: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-")
    ok = 1 <= len(name) <= 226 and set(name) <= allowed
    try:
        names.device_name(name)
    except IamError as exc:
        assert not ok and exc.code == "ValidationError"
    else:
        assert ok


@given(st.text(max_size=10))
def test_authentication_code_rule(code: str) -> None:
    ok = len(code) == 6 and all(c in "0123456789" for c in code)
    try:
        names.authentication_code(code, "AuthenticationCode1")
    except IamError:
        assert not ok
    else:
        assert ok


@given(st.text(max_size=300))
def test_serial_rule(serial: str) -> None:
    try:
        names.serial_number(serial)
    except IamError as exc:
        assert exc.code == "ValidationError"
    else:
        assert 9 <= len(serial) <= 256 and serial.isascii() and " " not in serial


@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40))
def test_virtual_serial_round_trip(name: str) -> None:
    try:
        names.device_name(name)
    except IamError:
        return
    serial = names.virtual_serial(ACCOUNT, "/", name)
    assert serial.endswith(":mfa/" + name) and names.serial_number(serial) == serial


def test_resync_refused_while_locked(service: IamService) -> None:
    serial, app = enabled_virtual(service)
    lock_out(service, "alice", serial, app)
    code1, code2 = app.pair()
    call = lambda: service.resync_mfa_device(  # noqa: E731
        UserName="alice", SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2
    )
    with pytest.raises(IamError, match="locked") as info:
        call()
    assert info.value.code == "AccessDenied"
    service.clock.advance(service.policy.lockout_cooldown)
    code1, code2 = app.pair()
    service.resync_mfa_device(
        UserName="alice", SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2
    )
