"""CreateRole, GetRole, ListRoles, DeleteRole: the roles AssumeRole hands out, with IAM's shapes.

A role here has a trust policy and nothing else: no permission policies are modelled, and a
role session acts as the account administrator (see `principals.py`). The trust policy is kept
as the JSON text it was created with and returned URL-encoded, as IAM does; it must have the
shape `policy_documents.parse_trust_policy` accepts. Description is validated but not kept
(schema version 4 has no column for it), so GetRole never returns one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import (
    ENTITY_ALREADY_EXISTS,
    NO_SUCH_ENTITY,
    VALIDATION_ERROR,
    IamError,
)
from tokenbench.verifier.iam import IamService
from tokenbench.verifier.iam_pagination import paginate
from tokenbench.verifier.migrations import roles, sts_sessions
from tokenbench.verifier.policy_documents import parse_trust_policy, url_encoded

ROLE_ID_PREFIX = "AROA"
DEFAULT_MAX_SESSION = 3600
MAX_MAX_SESSION = 43_200
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class Role:
    """One stored role."""

    id: int
    account_id: str
    role_name: str
    role_id: str
    path: str
    trust_policy: str
    max_session_duration: int
    created_at: float

    @property
    def arn(self) -> str:
        return names.role_arn(self.account_id, self.path, self.role_name)


def role_from_row(row: Any) -> Role:
    data = row._mapping
    return Role(
        id=data["id"],
        account_id=data["account_id"],
        role_name=data["role_name"],
        role_id=data["role_id"],
        path=data["path"],
        trust_policy=data["trust_policy"],
        max_session_duration=data["max_session_duration"],
        created_at=data["created_at"],
    )


def role_name(value: object) -> str:
    return names.user_name(value, "RoleName")


class Roles:
    """One account's roles, over the `IamService`'s store and clock."""

    def __init__(self, iam: IamService) -> None:
        self.iam = iam

    def create_role(
        self,
        *,
        RoleName: str,
        AssumeRolePolicyDocument: str,
        Path: str = "/",
        Description: str | None = None,
        MaxSessionDuration: int = DEFAULT_MAX_SESSION,
    ) -> dict[str, Any]:
        role_name(RoleName)
        names.path(Path)
        if Description is not None and (
            not isinstance(Description, str) or len(Description) > MAX_DESCRIPTION
        ):
            raise IamError(
                VALIDATION_ERROR,
                "1 validation error detected: Value at 'description' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_DESCRIPTION}",
            )
        duration = names.integer(
            MaxSessionDuration, "MaxSessionDuration", DEFAULT_MAX_SESSION, MAX_MAX_SESSION
        )
        parse_trust_policy(AssumeRolePolicyDocument)
        values = dict(
            account_id=self.iam.account_id,
            role_name=RoleName,
            name_key=RoleName.lower(),
            role_id=names.unique_id(ROLE_ID_PREFIX, self.iam.rng),
            path=Path,
            trust_policy=AssumeRolePolicyDocument,
            max_session_duration=duration,
            created_at=self.iam.clock.now(),
        )
        try:
            with self.iam.store.transaction() as conn:
                conn.execute(insert(roles).values(**values))
        except IntegrityError:
            raise IamError(
                ENTITY_ALREADY_EXISTS, f"Role with name {RoleName} already exists."
            ) from None
        return {"Role": _shape(self.role(RoleName))}

    def get_role(self, *, RoleName: str) -> dict[str, Any]:
        return {"Role": _shape(self.role(RoleName))}

    def list_roles(
        self,
        *,
        PathPrefix: str = "/",
        Marker: str | None = None,
        MaxItems: int | None = None,
    ) -> dict[str, Any]:
        query = (
            select(roles)
            .where(roles.c.account_id == self.iam.account_id)
            .order_by(roles.c.name_key)
        )
        with self.iam.store.read_only() as conn:
            found = [role_from_row(r) for r in conn.execute(query)]
        found = [r for r in found if r.path.startswith(PathPrefix)]
        page, more = paginate(found, Marker, MaxItems)
        return {"Roles": [_shape(r) for r in page], **more}

    def delete_role(self, *, RoleName: str) -> dict[str, Any]:
        """Also ends the role's sessions: their rows reference the role."""
        role = self.role(RoleName)
        with self.iam.store.transaction() as conn:
            conn.execute(delete(sts_sessions).where(sts_sessions.c.role_id == role.id))
            removed = conn.execute(delete(roles).where(roles.c.id == role.id))
        if removed.rowcount != 1:
            raise _no_role(RoleName)
        return {}

    def role(self, name: str) -> Role:
        role_name(name)
        query = select(roles).where(
            roles.c.account_id == self.iam.account_id, roles.c.name_key == name.lower()
        )
        with self.iam.store.read_only() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise _no_role(name)
        return role_from_row(row)

    def role_by_arn(self, arn: str) -> Role | None:
        """The role an ARN names in this account (path and name must match), or None."""
        prefix = f"arn:aws:iam::{self.iam.account_id}:role/"
        if not arn.startswith(prefix):
            return None
        name = arn.rsplit("/", 1)[-1]
        try:
            role = self.role(name)
        except IamError:
            return None
        return role if role.arn == arn else None


def _shape(role: Role) -> dict[str, Any]:
    return {
        "Path": role.path,
        "RoleName": role.role_name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": names.iso_date(role.created_at),
        "AssumeRolePolicyDocument": url_encoded(role.trust_policy),
        "MaxSessionDuration": role.max_session_duration,
    }


def _no_role(name: str) -> IamError:
    return IamError(NO_SUCH_ENTITY, f"The role with name {name} cannot be found.")
