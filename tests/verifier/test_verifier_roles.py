"""CreateRole/GetRole/ListRoles/DeleteRole and the trust-policy shapes they accept."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from principal_helpers import make_full_service, refused, trust_policy

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.policy_documents import parse_trust_policy
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service
from tokenbench.verifier.store import Store

ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def svc(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return make_full_service(store, cipher, clock)


def test_create_get_list_delete(svc: Service) -> None:
    policy = trust_policy(ALICE)
    role = svc.roles.create_role(
        RoleName="Admin", AssumeRolePolicyDocument=policy, Path="/ops/", Description="d"
    )["Role"]
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["Arn"] == "arn:aws:iam::123456789012:role/ops/Admin"
    assert role["Path"] == "/ops/" and role["MaxSessionDuration"] == 3600
    assert role["CreateDate"] == "2027-01-15T08:00:00+00:00"
    assert urllib.parse.unquote(role["AssumeRolePolicyDocument"]) == policy
    assert "{" not in role["AssumeRolePolicyDocument"]  # URL-encoded, as IAM returns it
    assert svc.roles.get_role(RoleName="admin")["Role"] == role  # names ignore case
    call = lambda: svc.roles.create_role(RoleName="ADMIN", AssumeRolePolicyDocument=policy)  # noqa: E731
    assert refused(call, "EntityAlreadyExists") == "Role with name ADMIN already exists."
    assert svc.roles.list_roles()["Roles"] == [role]
    assert svc.roles.list_roles(PathPrefix="/dev/")["Roles"] == []
    svc.roles.delete_role(RoleName="Admin")
    message = refused(lambda: svc.roles.get_role(RoleName="Admin"), "NoSuchEntity")
    assert message == "The role with name Admin cannot be found."
    refused(lambda: svc.roles.delete_role(RoleName="Admin"), "NoSuchEntity")


def test_max_session_duration_bounds(svc: Service) -> None:
    policy = trust_policy(ALICE)
    for bad in (3599, 43_201):
        call = lambda bad=bad: svc.roles.create_role(  # noqa: E731
            RoleName="R", AssumeRolePolicyDocument=policy, MaxSessionDuration=bad
        )
        refused(call, "ValidationError")
    role = svc.roles.create_role(
        RoleName="R", AssumeRolePolicyDocument=policy, MaxSessionDuration=43_200
    )
    assert role["Role"]["MaxSessionDuration"] == 43_200


def test_list_pages(svc: Service) -> None:
    for name in ("c", "a", "b"):
        svc.roles.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(ALICE))
    first = svc.roles.list_roles(MaxItems=2)
    assert [r["RoleName"] for r in first["Roles"]] == ["a", "b"] and first["IsTruncated"]
    rest = svc.roles.list_roles(MaxItems=2, Marker=first["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]] == ["c"] and not rest["IsTruncated"]


def _statement(**changes: object) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}
    statement.update(changes)  # type: ignore[arg-type]
    return json.dumps({"Version": "2012-10-17", "Statement": statement})


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        json.dumps({"Version": "2000-01-01", "Statement": []}),
        json.dumps({"Statement": []}),
        _statement(Effect="Deny"),
        _statement(Action="sts:AssumeRoleWithSAML"),
        _statement(Principal={"Service": "ec2.amazonaws.com"}),
        _statement(Principal={"AWS": "arn:aws:iam::123:user/x"}),
        _statement(Principal="*"),
        _statement(Condition={"StringEquals": {"sts:ExternalId": "x"}}),
        _statement(Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
        _statement(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "soon"}}),
        _statement(Resource="*"),
    ],
)
def test_malformed_trust_policies(svc: Service, document: str) -> None:
    call = lambda: svc.roles.create_role(RoleName="R", AssumeRolePolicyDocument=document)  # noqa: E731
    message = refused(call, "MalformedPolicyDocument")
    assert message and "\n" not in message


def test_accepted_shapes() -> None:
    condition = {
        "Bool": {"aws:MultiFactorAuthPresent": True},
        "NumericLessThan": {"aws:MultiFactorAuthAge": ["3600"]},
    }
    (statement,) = parse_trust_policy(
        trust_policy([ALICE, "123456789012", "arn:aws:iam::123456789012:root"], condition)
    )
    assert statement.mfa_required and statement.max_mfa_age == 3600
    assert statement.names("arn:aws:iam::123456789012:user/bob", "123456789012")
    assert not statement.mfa_ok(None, 0.0)
    assert statement.mfa_ok(100.0, 3699.0) and not statement.mfa_ok(100.0, 3700.0)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.one_of(st.text(max_size=200), JSON_VALUES.map(json.dumps)))
def test_parser_refuses_with_iam_errors_only(document: str) -> None:
    try:
        parse_trust_policy(document)
    except IamError as exc:
        assert exc.code in ("MalformedPolicyDocument", "ValidationError")
