"""ctap2 suite: built-in user verification with a fingerprint sensor (CTAP 2.1 §6.5.5.7.3,
§6.5.5.8, §6.7): authenticatorBioEnrollment under the `be` permission, the live `uv` and
`bioEnroll` options, tokens from built-in UV, the "uv" option, uvRetries and reset.

Every test skips as `unclaimed` on a key whose getInfo lists no `bioEnroll`. On a real key a
person enrolls and presents fingers: those tests are marked `needs_presence`, like the touch
tests (an emulated key's sensor matches its first enrolled finger unless told otherwise); the
wrong-finger test asks the person (target.present_finger) and skips on an unattended rig.
"""

from __future__ import annotations

from typing import Any

import pytest
from fido2.ctap2 import Ctap2
from fido2.ctap2.bio import BioEnrollment, CaptureError, FPBioEnrollment
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import (
    ERR,
    FLAG_UP,
    FLAG_UV,
    client_data_hash,
    ctap2_of,
    expect_ctap_error,
    key_params,
    pin_token,
    rp,
    skip_unclaimed,
    user,
)

PERM = ClientPin.PERMISSION
MODALITY_FINGERPRINT = 1
FINGERPRINT_KINDS = (1, 2)  # touch, swipe
MAX_CAPTURES = 20
"""Samples a person may need (bad ones included) before a suite gives up on an enrollment."""
WRONG_FINGER = (
    "Present a finger that is NOT enrolled on the sensor when the key asks next "
    "(a wrong finger). Ready?"
)


def _require_sensor(ctap2: Ctap2) -> None:
    if "bioEnroll" not in ctap2.get_info().options:
        skip_unclaimed("getInfo option 'bioEnroll' (a fingerprint sensor)")


def _bio(ctap2: Ctap2, pin: str, permissions: PERM = PERM.BIO_ENROLL) -> FPBioEnrollment:
    protocol, token = pin_token(ctap2, pin, permissions)
    return FPBioEnrollment(ctap2, protocol, token)


def _enroll(ctap2: Ctap2, pin: str) -> bytes:
    """One finger enrolled (bad samples are retried); its template ID."""
    context = _bio(ctap2, pin).enroll()
    for _ in range(MAX_CAPTURES):
        try:
            template_id = context.capture()
        except CaptureError:
            continue
        if template_id is not None:
            return template_id
    raise AssertionError(f"enrollment did not finish in {MAX_CAPTURES} samples")


def _uv_retries(ctap2: Ctap2) -> int:
    return int(ClientPin(ctap2).get_uv_retries())


def _uv_token(ctap2: Ctap2) -> bytes:
    return bytes(ClientPin(ctap2).get_uv_token(PERM.MAKE_CREDENTIAL, "bench.tokenbench.example"))


def test_sensor_info_describes_a_fingerprint_sensor(ctap_device):
    """getModality and getFingerprintSensorInfo need no token (§6.7.2, §6.7.3)."""
    ctap2 = ctap2_of(ctap_device)
    _require_sensor(ctap2)
    bio = BioEnrollment(ctap2, BioEnrollment.MODALITY.FINGERPRINT)
    assert bio.get_modality() == MODALITY_FINGERPRINT
    info: dict[int, Any] = dict(FPBioEnrollment(ctap2, None, None).get_fingerprint_sensor_info())  # type: ignore[arg-type]
    assert info.get(1) == MODALITY_FINGERPRINT, f"modality {info.get(1)}"
    assert info.get(2) in FINGERPRINT_KINDS, f"fingerprintKind {info.get(2)}"
    assert info.get(3, 0) > 0, "maxCaptureSamplesRequiredForEnroll missing or 0"
    assert info.get(8, 1) > 0, "maxTemplateFriendlyName is 0"


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.power_cycle
def test_bio_enrollment_needs_the_be_permission(fresh_ctap2, bench_pin):
    """A token without `be` is refused (§6.7: PIN_AUTH_INVALID), a token with it is not."""
    _require_sensor(fresh_ctap2)
    with expect_ctap_error(ERR.PIN_AUTH_INVALID, what="enumerateEnrollments with mc|ga"):
        _bio(
            fresh_ctap2, bench_pin, PERM.MAKE_CREDENTIAL | PERM.GET_ASSERTION
        ).enumerate_enrollments()
    assert _bio(fresh_ctap2, bench_pin).enumerate_enrollments() == {}


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.needs_presence
@pytest.mark.power_cycle
def test_enroll_name_and_remove_a_finger(fresh_ctap2, bench_pin):
    """uv and bioEnroll turn true with the first finger and false with the last (§6.4)."""
    _require_sensor(fresh_ctap2)
    options = fresh_ctap2.get_info().options
    assert options.get("uv") is False and options.get("bioEnroll") is False, (
        f"a reset key claims uv={options.get('uv')}, bioEnroll={options.get('bioEnroll')}"
    )
    template_id = _enroll(fresh_ctap2, bench_pin)
    options = fresh_ctap2.get_info().options
    assert options.get("uv") is True and options.get("bioEnroll") is True
    bio = _bio(fresh_ctap2, bench_pin)
    bio.set_name(template_id, "bench finger")
    assert bio.enumerate_enrollments() == {template_id: "bench finger"}
    bio.remove_enrollment(template_id)
    assert bio.enumerate_enrollments() == {}
    assert fresh_ctap2.get_info().options.get("uv") is False


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.needs_presence
@pytest.mark.power_cycle
def test_the_finger_verifies_the_user(fresh_ctap2, bench_pin):
    """The "uv" option (§6.1.2) and getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3)."""
    _require_sensor(fresh_ctap2)
    _enroll(fresh_ctap2, bench_pin)
    response = fresh_ctap2.make_credential(
        client_data_hash("bio-mc"), rp(), user(), key_params(-7), options={"uv": True}
    )
    flags = response.auth_data.flags
    assert flags & FLAG_UV and flags & FLAG_UP, f"makeCredential with uv: flags {flags:#04x}"
    if fresh_ctap2.get_info().options.get("uvToken"):
        assert _uv_token(fresh_ctap2), "empty token from built-in UV"


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.needs_presence
@pytest.mark.power_cycle
def test_a_wrong_finger_costs_uv_retries(fresh_ctap2, bench_pin, key_target):
    """Each failed match lowers uvRetries (§6.5.5.8); a match brings them back."""
    _require_sensor(fresh_ctap2)
    if not fresh_ctap2.get_info().options.get("uvToken"):
        skip_unclaimed("getInfo option 'uvToken'")
    _enroll(fresh_ctap2, bench_pin)
    before = _uv_retries(fresh_ctap2)
    if not key_target.present_finger("nomatch", WRONG_FINGER):
        pytest.skip("needs a person: an unattended key cannot present a wrong finger")
    with expect_ctap_error(ERR.UV_INVALID, ERR.UV_BLOCKED, what="a wrong finger"):
        _uv_token(fresh_ctap2)
    after = _uv_retries(fresh_ctap2)
    assert after < before, f"uvRetries {before} before a wrong finger, {after} after"
    _uv_token(fresh_ctap2)
    assert _uv_retries(fresh_ctap2) == before, "a match did not restore uvRetries"


@pytest.mark.destructive
@pytest.mark.needs_pin
@pytest.mark.needs_presence
@pytest.mark.power_cycle
def test_reset_removes_enrolled_fingers(fresh_ctap2, bench_pin, power_cycle):
    """authenticatorReset forgets the fingers: built-in UV is off afterwards (§6.6)."""
    _require_sensor(fresh_ctap2)
    _enroll(fresh_ctap2, bench_pin)
    device = power_cycle()
    ctap2 = Ctap2(device)
    ctap2.reset()
    options = Ctap2(device).get_info().options
    assert options.get("uv") is False and options.get("bioEnroll") is False, (
        f"after reset uv={options.get('uv')}, bioEnroll={options.get('bioEnroll')}"
    )
