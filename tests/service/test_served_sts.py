"""STS through `tokenbench serve`, as aws-vault and similar tools use it: GetSessionToken with
MFA, the force-MFA policy, AssumeRole with an MFA condition and an MFA age, session expiry —
with the service's clock moved (`--clock fake`) instead of waiting."""

from __future__ import annotations

import json
from pathlib import Path

import aws_scenarios as sc
import pytest
from botocore.exceptions import ClientError
from served import Served, ServedTarget, error_code

# AWS's "IAM: Allows IAM users to self-manage an MFA device" example (its last statement is the
# force-MFA deny).
DATA = Path(__file__).resolve().parent.parent / "data"
FORCE_MFA = json.loads((DATA / "aws-self-manage-mfa-policy.json").read_text())
MAX_MFA_AGE = 3600


def _session(target: ServedTarget, credentials: dict[str, str], service: str = "iam") -> object:
    return target.client_for(
        service,
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )


def test_force_mfa_policy_denies_until_mfa(target: ServedTarget) -> None:
    user, device = sc.enrolled_user(target, "forced")
    target.admin_iam.put_user_policy(
        UserName=user.name, PolicyName="force-mfa", PolicyDocument=json.dumps(FORCE_MFA)
    )
    with pytest.raises(ClientError) as denied:
        user.iam.create_access_key(UserName=user.name)
    assert error_code(denied) == "AccessDenied"
    message = denied.value.response["Error"]["Message"]
    assert message.startswith(f"User: {user.arn} is not authorized to perform: iam:CreateAccessKey")
    assert "explicit deny" in message
    # Exempted actions and the ones no policy can deny still work without MFA.
    assert user.iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert user.sts.get_caller_identity()["Arn"] == user.arn
    credentials = sc.session_token(user, device, user.app.code(device.account))["Credentials"]
    with_mfa = _session(target, credentials)
    key = with_mfa.create_access_key(UserName=user.name)["AccessKey"]  # type: ignore[attr-defined]
    assert key["UserName"] == user.name


def test_user_cannot_act_on_others_or_admin_actions(target: ServedTarget) -> None:
    user = sc.create_user(target, "plain")
    with pytest.raises(ClientError) as denied:
        user.iam.create_user(UserName="made-by-a-user")
    assert error_code(denied) == "AccessDenied"
    assert "because no identity-based policy allows the iam:CreateUser action" in str(
        denied.value.response["Error"]["Message"]
    )


def test_session_expires_with_the_service_clock(target: ServedTarget) -> None:
    user, device = sc.enrolled_user(target, "expiring")
    credentials = user.sts.get_session_token(
        SerialNumber=device.serial,
        TokenCode=user.app.code(device.account),
        DurationSeconds=900,
    )["Credentials"]
    session = _session(target, credentials, "sts")
    assert session.get_caller_identity()["Arn"] == user.arn  # type: ignore[attr-defined]
    target.clock.advance(901)
    with pytest.raises(ClientError) as expired:
        session.get_caller_identity()  # type: ignore[attr-defined]
    assert error_code(expired) == "ExpiredToken"


def test_duration_outside_sts_bounds_is_a_validation_error(
    server: Served, target: ServedTarget
) -> None:
    user = sc.create_user(target, "duration")
    sts = server.client("sts", (user.access_key_id, user.secret), validate=False)
    with pytest.raises(ClientError) as refused:
        sts.get_session_token(DurationSeconds=899)
    assert error_code(refused) == "ValidationError"
    assert (
        "at 'durationSeconds' failed to satisfy constraint: Member must have value greater"
        in (refused.value.response["Error"]["Message"])
    )


def _mfa_role(target: ServedTarget, user: sc.User) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": user.arn},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    "NumericLessThan": {"aws:MultiFactorAuthAge": str(MAX_MFA_AGE)},
                },
            }
        ],
    }
    role = target.admin_iam.create_role(
        RoleName=sc.unique("admin-role"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    return str(role["Arn"])


def test_assume_role_requires_mfa_and_its_age(target: ServedTarget) -> None:
    user, device = sc.enrolled_user(target, "assumer")
    role_arn = _mfa_role(target, user)
    with pytest.raises(ClientError) as no_mfa:
        user.sts.assume_role(RoleArn=role_arn, RoleSessionName="no-mfa")
    assert error_code(no_mfa) == "AccessDenied"
    assumed = user.sts.assume_role(
        RoleArn=role_arn,
        RoleSessionName="with-mfa",
        SerialNumber=device.serial,
        TokenCode=user.app.code(device.account),
    )
    role_session = _session(target, assumed["Credentials"], "sts")
    arn = role_session.get_caller_identity()["Arn"]  # type: ignore[attr-defined]
    assert arn == assumed["AssumedRoleUser"]["Arn"]
    assert ":assumed-role/" in arn and arn.endswith("/with-mfa")

    # MFA from a session ages with the service's clock: young enough, then too old.
    target.clock.advance(sc.STEP)
    credentials = sc.session_token(user, device, user.app.code(device.account))["Credentials"]
    mfa_session = _session(target, credentials, "sts")
    mfa_session.assume_role(RoleArn=role_arn, RoleSessionName="young")  # type: ignore[attr-defined]
    target.clock.advance(MAX_MFA_AGE + 1)
    with pytest.raises(ClientError) as too_old:
        mfa_session.assume_role(RoleArn=role_arn, RoleSessionName="old")  # type: ignore[attr-defined]
    assert error_code(too_old) == "AccessDenied"


def test_role_session_must_name_the_user(target: ServedTarget) -> None:
    user, device = sc.enrolled_user(target, "roleuser")
    role_arn = _mfa_role(target, user)
    assumed = user.sts.assume_role(
        RoleArn=role_arn,
        RoleSessionName="keys",
        SerialNumber=device.serial,
        TokenCode=user.app.code(device.account),
    )
    with pytest.raises(ClientError) as refused:
        _session(target, assumed["Credentials"]).create_access_key()  # type: ignore[attr-defined]
    assert error_code(refused) == "ValidationError"


def test_clock_endpoint_refuses_non_root_and_backwards(
    server: Served, target: ServedTarget
) -> None:
    user = sc.create_user(target, "clocker")
    now = target.clock.now()
    answer = server.signed("POST", "/_tokenbench/clock", json.dumps({"set": now - 60}).encode())
    assert answer.status_code == 409
    key = (user.access_key_id, user.secret)
    as_user = Served(server.url, key, server.process, server.credentials_file, 0.0)
    assert as_user.signed("POST", "/_tokenbench/clock", b'{"advance": 5}').status_code == 403
    assert target.clock.now() == pytest.approx(now)
