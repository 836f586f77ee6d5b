"""Inline user policies and the force-MFA rule, with AWS's documented self-manage-MFA policy."""

from __future__ import annotations

import json
import urllib.parse
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from principal_helpers import (
    make_full_service,
    refused,
    resolve,
    root_principal,
    user_with_key,
    with_device,
)

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.policy_documents import action_matches, force_mfa_exemptions
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service
from tokenbench.verifier.store import Store

# "IAM: Allows IAM users to self-manage an MFA device" (AWS IAM User Guide, policy examples)
DATA = Path(__file__).resolve().parent.parent / "data"
AWS_SELF_MANAGE_MFA = json.loads((DATA / "aws-self-manage-mfa-policy.json").read_text())
DOCUMENT = json.dumps(AWS_SELF_MANAGE_MFA, indent=4)
ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def svc(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return make_full_service(store, cipher, clock)


def test_put_get_list_delete(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    put = {"UserName": "alice", "PolicyName": "ForceMFA", "PolicyDocument": DOCUMENT}
    assert svc.policies.put_user_policy(**put) == {}
    svc.policies.put_user_policy(**put)  # replaces
    got = svc.policies.get_user_policy(UserName="alice", PolicyName="forcemfa")
    assert got["UserName"] == "alice" and got["PolicyName"] == "ForceMFA"
    assert urllib.parse.unquote(got["PolicyDocument"]) == DOCUMENT
    listed = svc.policies.list_user_policies(UserName="alice")
    assert listed == {"PolicyNames": ["ForceMFA"], "IsTruncated": False}
    svc.policies.delete_user_policy(UserName="alice", PolicyName="ForceMFA")
    call = lambda: svc.policies.get_user_policy(UserName="alice", PolicyName="ForceMFA")  # noqa: E731
    assert refused(call, "NoSuchEntity") == "The user policy with name ForceMFA cannot be found."
    call = lambda: svc.policies.delete_user_policy(UserName="alice", PolicyName="ForceMFA")  # noqa: E731
    refused(call, "NoSuchEntity")
    call = lambda: svc.policies.list_user_policies(UserName="zed")  # noqa: E731
    refused(call, "NoSuchEntity")
    call = lambda: svc.policies.put_user_policy(  # noqa: E731
        UserName="root", PolicyName="p", PolicyDocument=DOCUMENT
    )
    refused(call, "NoSuchEntity")


def test_malformed_and_oversized_documents(svc: Service) -> None:
    svc.iam.create_user(UserName="alice")
    for bad in ("{", "[1]", json.dumps({"Version": "1999", "Statement": []})):
        call = lambda bad=bad: svc.policies.put_user_policy(  # noqa: E731
            UserName="alice", PolicyName="p", PolicyDocument=bad
        )
        refused(call, "MalformedPolicyDocument")
    big = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "x" * 1500}]}
    )
    svc.policies.put_user_policy(UserName="alice", PolicyName="big", PolicyDocument=big)
    call = lambda: svc.policies.put_user_policy(  # noqa: E731
        UserName="alice", PolicyName="more", PolicyDocument=DOCUMENT
    )
    assert "2048" in refused(call, "LimitExceeded")


def test_force_mfa_denies_until_mfa(svc: Service) -> None:
    alice = user_with_key(svc)
    serial, app = with_device(svc, "alice")
    svc.policies.authorize(alice, "iam:CreateAccessKey", ALICE)  # no policy yet: no deny
    svc.policies.put_user_policy(UserName="alice", PolicyName="ForceMFA", PolicyDocument=DOCUMENT)
    for allowed in ("iam:EnableMFADevice", "iam:listmfadevices", "iam:CreateVirtualMFADevice"):
        svc.policies.authorize(alice, allowed, ALICE)
    for denied in ("iam:CreateAccessKey", "sts:GetSessionToken", "iam:DeactivateMFADevice"):
        message = refused(lambda d=denied: svc.policies.authorize(alice, d, ALICE), "AccessDenied")
        assert message == (
            f"User: {ALICE} is not authorized to perform: {denied} on resource: {ALICE} "
            "with an explicit deny in an identity-based policy"
        )
    plain = resolve(svc, svc.sts.get_session_token(alice)["Credentials"])
    refused(lambda: svc.policies.authorize(plain, "iam:CreateAccessKey", ALICE), "AccessDenied")
    creds = svc.sts.get_session_token(alice, SerialNumber=serial, TokenCode=app.code())
    with_mfa = resolve(svc, creds["Credentials"])
    svc.policies.authorize(with_mfa, "iam:CreateAccessKey", ALICE)


def test_wildcards_and_other_documents(svc: Service) -> None:
    alice = user_with_key(svc)
    wild = {
        "Statement": {
            "Effect": "Deny",
            "NotAction": ["iam:*MFADevice", "sts:Get*"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": False}},
        }
    }
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    svc.policies.put_user_policy(
        UserName="alice", PolicyName="allow", PolicyDocument=json.dumps(allow_all)
    )
    svc.policies.authorize(alice, "iam:DeleteUser", ALICE)  # stored, but changes nothing
    svc.policies.put_user_policy(
        UserName="alice", PolicyName="wild", PolicyDocument=json.dumps(wild)
    )
    svc.policies.authorize(alice, "iam:EnableMFADevice", ALICE)
    svc.policies.authorize(alice, "sts:GetSessionToken", ALICE)
    refused(lambda: svc.policies.authorize(alice, "iam:ListMFADevices", ALICE), "AccessDenied")


def test_root_is_never_restricted(svc: Service) -> None:
    root = root_principal(svc)
    svc.policies.authorize(root, "iam:CreateUser", "arn:aws:iam::123456789012:user/x")


ACTION_TEXT = st.text(st.sampled_from("ab:*?Xy"), max_size=8)


@given(ACTION_TEXT, st.text(st.sampled_from("ab:Xy"), max_size=8))
def test_action_matching_is_case_insensitive_globbing(pattern: str, action: str) -> None:
    assert action_matches(pattern, action) == fnmatchcase(action.lower(), pattern.lower())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["Deny", "false", "*"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["Effect", "NotAction", "Condition", "BoolIfExists", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@given(st.text(max_size=200) | JSON.map(lambda value: json.dumps({"Statement": value})))
def test_force_mfa_detection_never_raises(document: str) -> None:
    for exempt in force_mfa_exemptions(document):
        assert all(isinstance(pattern, str) for pattern in exempt)


def test_force_mfa_detection_reads_the_aws_example() -> None:
    assert force_mfa_exemptions(DOCUMENT) == [
        tuple(AWS_SELF_MANAGE_MFA["Statement"][-1]["NotAction"])  # type: ignore[index]
    ]
    not_forcing = json.loads(DOCUMENT)
    not_forcing["Statement"][-1]["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    assert force_mfa_exemptions(json.dumps(not_forcing)) == []
