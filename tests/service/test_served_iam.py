"""IAM operations beyond the MFA scenarios through `tokenbench serve`: pagination, console
passwords, account summary, tags, GetMFADevice — each answer or error as boto3 sees AWS's."""

from __future__ import annotations

import aws_scenarios as sc
import pytest
from botocore.exceptions import ClientError
from served import Served, ServedTarget, error_code


def test_list_users_pages_with_marker(target: ServedTarget) -> None:
    names = {sc.unique("paged") for _ in range(5)}
    for name in names:
        target.admin_iam.create_user(UserName=name)
    seen: list[str] = []
    page = target.admin_iam.list_users(MaxItems=2)
    pages = 1
    while True:
        assert len(page["Users"]) <= 2
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        page = target.admin_iam.list_users(MaxItems=2, Marker=page["Marker"])
        pages += 1
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 3
    paginated = target.admin_iam.get_paginator("list_users").paginate(
        PaginationConfig={"PageSize": 2}
    )
    assert [u["UserName"] for p in paginated for u in p["Users"]] == seen


def test_bad_marker_is_refused(target: ServedTarget) -> None:
    with pytest.raises(ClientError) as refused:
        target.admin_iam.list_users(Marker="not-a-marker")
    assert error_code(refused) == "ValidationError"


def test_login_profile_and_delete_conflict(target: ServedTarget) -> None:
    name = sc.unique("console")
    target.admin_iam.create_user(UserName=name)
    with pytest.raises(ClientError) as weak:
        target.admin_iam.create_login_profile(UserName=name, Password="short")
    assert error_code(weak) == "PasswordPolicyViolation"
    profile = target.admin_iam.create_login_profile(
        UserName=name, Password="Correct-Horse-9-Battery", PasswordResetRequired=True
    )["LoginProfile"]
    assert profile["UserName"] == name and profile["PasswordResetRequired"] is True
    with pytest.raises(ClientError) as conflict:
        target.admin_iam.delete_user(UserName=name)
    assert error_code(conflict) == "DeleteConflict"
    assert "login profile" in conflict.value.response["Error"]["Message"]
    target.admin_iam.delete_login_profile(UserName=name)
    target.admin_iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as gone:
        target.admin_iam.get_user(UserName=name)
    assert error_code(gone) == "NoSuchEntity"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_account_summary_counts_mfa(target: ServedTarget) -> None:
    before = target.admin_iam.get_account_summary()["SummaryMap"]
    sc.enrolled_user(target, "summary")
    after = target.admin_iam.get_account_summary()["SummaryMap"]
    assert after["MFADevicesInUse"] == before["MFADevicesInUse"] + 1
    assert after["MFADevices"] == before["MFADevices"] + 1
    assert after["Users"] == before["Users"] + 1


def test_virtual_devices_filter_and_tags(server: Served, target: ServedTarget) -> None:
    _, device = sc.enrolled_user(target, "tagged")
    spare = target.admin_iam.create_virtual_mfa_device(
        VirtualMFADeviceName=sc.unique("spare"), Tags=[{"Key": "team", "Value": "red"}]
    )["VirtualMFADevice"]
    assigned = target.admin_iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")
    unassigned = target.admin_iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")
    assert device.serial in {d["SerialNumber"] for d in assigned["VirtualMFADevices"]}
    assert spare["SerialNumber"] in {d["SerialNumber"] for d in unassigned["VirtualMFADevices"]}
    tags = target.admin_iam.list_mfa_device_tags(SerialNumber=spare["SerialNumber"])["Tags"]
    assert tags == [{"Key": "team", "Value": "red"}]
    unvalidated = server.client("iam", validate=False)
    with pytest.raises(ClientError) as too_many:
        unvalidated.untag_mfa_device(
            SerialNumber=spare["SerialNumber"], TagKeys=[f"k{i}" for i in range(51)]
        )
    assert error_code(too_many) == "ValidationError"


def test_get_mfa_device_is_for_fido_only(target: ServedTarget) -> None:
    user, device = sc.enrolled_user(target, "getter")
    with pytest.raises(ClientError) as refused:
        target.admin_iam.get_mfa_device(UserName=user.name, SerialNumber=device.serial)
    assert error_code(refused) == "NoSuchEntity"


def test_user_name_defaults_to_the_caller(target: ServedTarget) -> None:
    user = sc.create_user(target, "self")
    assert user.iam.get_user()["User"]["UserName"] == user.name
    keys = user.iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [user.access_key_id]
    with pytest.raises(ClientError) as other:
        user.iam.list_access_keys(UserName="somebody-else")
    assert error_code(other) == "AccessDenied"  # authorization comes before the lookup, as in AWS
