"""Inline user policies (PutUserPolicy and friends) and the one policy the service enforces:
"force MFA".

A force-MFA policy is a Deny statement with a NotAction list and the condition
`"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}` — AWS's documented example "IAM:
Allows IAM users to self-manage an MFA device" is the model. A user holding one is denied every
action outside the NotAction list (IAM's `*` and `?` wildcards, case-insensitive) until it calls
with MFA-authenticated credentials (a GetSessionToken session made with a code).

Every other document is stored and returned as given but changes nothing: there is no policy
engine here, and the Allow statements of the same documents are not read either (what a user
may do at all is `tokenbench.verifier.http.operations`'s fixed self-service list). The root
identity and role sessions are never restricted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import ACCESS_DENIED, LIMIT_EXCEEDED, NO_SUCH_ENTITY, IamError
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.iam_pagination import paginate
from tokenbench.verifier.migrations import user_policies
from tokenbench.verifier.policy_documents import (
    action_matches,
    force_mfa_exemptions,
    load,
    statements,
    url_encoded,
)
from tokenbench.verifier.principals import Principal
from tokenbench.verifier.store import Identity

USER_POLICY_SIZE_QUOTA = 2048  # all of a user's inline policies, whitespace not counted


def explicit_deny(principal: Principal, action: str, resource_arn: str) -> IamError:
    """AWS's explicit-deny refusal, word for word."""
    return IamError(
        ACCESS_DENIED,
        f"User: {principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource_arn} with an explicit deny in an identity-based policy",
    )


class UserPolicies:
    """One account's inline user policies, over the `IamService`'s store."""

    def __init__(self, iam: IamService) -> None:
        self.iam = iam

    def put_user_policy(
        self, *, UserName: str, PolicyName: str, PolicyDocument: str
    ) -> dict[str, Any]:
        """Create or replace; MalformedPolicyDocument for what is not a JSON policy, and
        LimitExceeded past the user's 2,048-character quota (IAM's UserPolicySizeQuota)."""
        identity = self._user(UserName)
        names.policy_name(PolicyName)
        statements(load(PolicyDocument))
        with self.iam.store.transaction() as conn:
            others = conn.execute(
                select(user_policies.c.document).where(
                    user_policies.c.identity_id == identity.id,
                    user_policies.c.name_key != PolicyName.lower(),
                )
            ).scalars()
            if sum(map(_size, others)) + _size(PolicyDocument) > USER_POLICY_SIZE_QUOTA:
                raise IamError(
                    LIMIT_EXCEEDED,
                    f"Maximum policy size of {USER_POLICY_SIZE_QUOTA} bytes exceeded for user "
                    f"{identity.user_name}",
                )
            conn.execute(delete(user_policies).where(_named(identity.id, PolicyName)))
            conn.execute(
                insert(user_policies).values(
                    identity_id=identity.id,
                    name_key=PolicyName.lower(),
                    policy_name=PolicyName,
                    document=PolicyDocument,
                )
            )
        return {}

    def get_user_policy(self, *, UserName: str, PolicyName: str) -> dict[str, Any]:
        identity = self._user(UserName)
        names.policy_name(PolicyName)
        query = select(user_policies).where(_named(identity.id, PolicyName))
        with self.iam.store.read_only() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise _no_policy(PolicyName)
        return {
            "UserName": identity.user_name,
            "PolicyName": row.policy_name,
            "PolicyDocument": url_encoded(row.document),
        }

    def list_user_policies(
        self, *, UserName: str, Marker: str | None = None, MaxItems: int | None = None
    ) -> dict[str, Any]:
        identity = self._user(UserName)
        query = (
            select(user_policies.c.policy_name)
            .where(user_policies.c.identity_id == identity.id)
            .order_by(user_policies.c.name_key)
        )
        with self.iam.store.read_only() as conn:
            found = list(conn.execute(query).scalars())
        page, more = paginate(found, Marker, MaxItems)
        return {"PolicyNames": page, **more}

    def delete_user_policy(self, *, UserName: str, PolicyName: str) -> dict[str, Any]:
        identity = self._user(UserName)
        names.policy_name(PolicyName)
        with self.iam.store.transaction() as conn:
            removed = conn.execute(delete(user_policies).where(_named(identity.id, PolicyName)))
        if removed.rowcount != 1:
            raise _no_policy(PolicyName)
        return {}

    def _user(self, user_name: str) -> Identity:
        """An IAM user (the root identity takes no inline policies: NoSuchEntity, as IAM)."""
        identity = self.iam.identity(user_name)
        if identity.is_root:
            raise IamError(NO_SUCH_ENTITY, f"The user with name {user_name} cannot be found.")
        return identity

    def authorize(self, principal: Principal, action: str, resource_arn: str) -> None:
        """Raise AWS's explicit deny when a force-MFA policy of the principal's user applies:
        no MFA in these credentials, and `action` (e.g. "iam:CreateAccessKey") outside its
        NotAction list."""
        if principal.caller.is_admin or principal.mfa_present:
            return
        query = select(user_policies.c.document).where(
            user_policies.c.identity_id == principal.identity.id
        )
        with self.iam.store.read_only() as conn:
            documents = list(conn.execute(query).scalars())
        for document in documents:
            for exempt in force_mfa_exemptions(document):
                if not any(action_matches(pattern, action) for pattern in exempt):
                    raise explicit_deny(principal, action, resource_arn)


def _named(identity_id: int, policy_name: str) -> Any:
    return (user_policies.c.identity_id == identity_id) & (
        user_policies.c.name_key == policy_name.lower()
    )


def _size(document: str) -> int:
    return sum(1 for ch in document if not ch.isspace())


def _no_policy(name: str) -> IamError:
    return IamError(NO_SUCH_ENTITY, f"The user policy with name {name} cannot be found.")
