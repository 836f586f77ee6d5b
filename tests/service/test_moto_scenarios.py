"""What moto does with each MFA scenario (measured with moto 5.2.5).

Moto models IAM's entities, not its MFA rules: it stores the two codes EnableMFADevice sends
and never looks at them, and its GetSessionToken ignores SerialNumber and TokenCode. These
tests pin down exactly what it lets through, so that a moto upgrade that changes any of it
fails here and docs/verifier-vs-moto.md gets updated with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aws_scenarios as sc
import pyotp
import pytest
from moto_target import MotoTarget

# scenario -> (accepted, error code, facts that must hold)
MOTO_5_2_5: dict[
    Callable[[sc.AwsTarget], sc.Outcome], tuple[bool, str | None, Mapping[str, object]]
] = {
    sc.user_with_access_key: (True, None, {"caller_is_user": True}),
    # The "QRCodePNG" is 64 random bytes: no PNG, nothing to scan.
    sc.enable_virtual_device: (
        True,
        None,
        {"qr_is_png": False, "qr_decoded": False, "listed": True},
    ),
    # The session is always moto's fixed identity, not the user who asked.
    sc.session_token_with_mfa: (True, None, {"session_arn_is_user": False}),
    sc.replayed_code: (True, None, {"first_accepted": True}),
    sc.wrong_code: (True, None, {}),
    sc.wrong_serial: (True, None, {}),
    sc.ninth_device: (True, None, {"enabled_before": 8}),
    sc.duplicate_device_name: (False, "EntityAlreadyExists", {}),
    sc.non_consecutive_codes: (True, None, {}),
    sc.eight_digit_code: (True, None, {"digits": 8}),
    sc.delete_user_with_device: (True, None, {"user_still_listed": False}),
    sc.unknown_hardware_serial: (True, None, {}),
}


def test_every_scenario_has_an_expectation() -> None:
    assert set(MOTO_5_2_5) == set(sc.SCENARIOS)


@pytest.mark.parametrize("scenario", sc.SCENARIOS, ids=lambda s: s.__name__)
def test_what_moto_does(
    moto_target: MotoTarget, scenario: Callable[[sc.AwsTarget], sc.Outcome]
) -> None:
    accepted, code, facts = MOTO_5_2_5[scenario]
    outcome = scenario(moto_target)
    assert outcome.scenario == scenario.__name__
    assert (outcome.accepted, outcome.code) == (accepted, code), outcome
    for name, value in facts.items():
        assert outcome.facts[name] == value, (name, outcome)


def test_duplicate_name_message(moto_target: MotoTarget) -> None:
    outcome = sc.duplicate_device_name(moto_target)
    assert outcome.message == "MFADevice entity at the same path and name already exists."


# -- the scenarios' own arithmetic, checked against pyotp directly --------------------------------


def test_consecutive_codes_are_the_next_two_steps(moto_target: MotoTarget) -> None:
    user = sc.create_user(moto_target)
    device = sc.create_virtual_device(user)
    start = moto_target.clock.now()
    first, second = sc.consecutive_codes(moto_target.clock, user.app, device)
    totp = pyotp.TOTP(device.account.secret_base32)
    assert (first, second) == (totp.at(start), totp.at(start + sc.STEP))
    assert moto_target.clock.now() == start + sc.STEP


def test_wrong_code_is_outside_the_window(moto_target: MotoTarget) -> None:
    user = sc.create_user(moto_target)
    device = sc.create_virtual_device(user)
    code = sc.code_outside_window(moto_target.clock, device)
    totp = pyotp.TOTP(device.account.secret_base32)
    now = moto_target.clock.now()
    assert len(code) == 6
    assert all(totp.at(now + sc.STEP * k) != code for k in range(-3, 4))


def test_eight_digit_codes_come_from_the_seed(moto_target: MotoTarget) -> None:
    user = sc.create_user(moto_target)
    device = sc.create_virtual_device(user, digits=8)
    totp = pyotp.TOTP(device.account.secret_base32, digits=8)
    assert user.app.code(device.account) == totp.at(moto_target.clock.now())
