"""DeleteUser and GetAccountSummary: the operations that look across a user's (or the account's)
devices, keys, passwords and policies at once.

DeleteUser refuses while anything still hangs off the user, one blocker at a time and in the
order IAM reports them (login profile, access keys, MFA device, inline policies: the order seen
in AWS's answers quoted in hashicorp/terraform#8621), each with IAM's own sentence. The checks
and the delete run in one transaction holding the identity row, so a key created concurrently
either blocks the delete or fails on the missing user. The user's temporary (STS) credentials
and pending FIDO ceremonies go with it: nothing may outlive the identity it speaks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select

from tokenbench.verifier.errors import ACCESS_DENIED, DELETE_CONFLICT, NO_SUCH_ENTITY, IamError
from tokenbench.verifier.iam_names import KIND_VIRTUAL
from tokenbench.verifier.migrations import (
    access_keys,
    ceremonies,
    identities,
    login_profiles,
    mfa_devices,
    roles,
    sts_sessions,
    user_policies,
)
from tokenbench.verifier.store import Identity, Store

if TYPE_CHECKING:
    from tokenbench.verifier.iam import Caller

ACCESS_KEYS_PER_USER = 2
_CONFLICT = "Cannot delete entity, must delete {} first."
# (table, its identity column, what IAM says must go first), in IAM's order
_BLOCKERS = (
    (login_profiles, login_profiles.c.identity_id, "login profile"),
    (access_keys, access_keys.c.identity_id, "access keys"),
    (mfa_devices, mfa_devices.c.identity_id, "MFA device"),
    (user_policies, user_policies.c.identity_id, "policies"),
)
# GetAccountSummary's quotas: AWS's default values for a new account (IAM quotas page)
QUOTAS = {
    "UsersQuota": 5000,
    "GroupsQuota": 300,
    "RolesQuota": 1000,
    "PoliciesQuota": 1500,
    "ServerCertificatesQuota": 20,
    "InstanceProfilesQuota": 1000,
    "AccessKeysPerUserQuota": ACCESS_KEYS_PER_USER,
    "SigningCertificatesPerUserQuota": 2,
    "GroupsPerUserQuota": 10,
    "UserPolicySizeQuota": 2048,
    "GroupPolicySizeQuota": 5120,
    "RolePolicySizeQuota": 10240,
    "AssumeRolePolicySizeQuota": 2048,
    "PolicySizeQuota": 6144,
    "PolicyVersionsInUseQuota": 10000,
    "VersionsPerPolicyQuota": 5,
    "AttachedPoliciesPerUserQuota": 10,
    "AttachedPoliciesPerGroupQuota": 10,
    "AttachedPoliciesPerRoleQuota": 10,
    "GlobalEndpointTokenVersion": 1,
}
NOT_MODELLED = (
    "Groups",
    "Policies",
    "PolicyVersionsInUse",
    "ServerCertificates",
    "InstanceProfiles",
    "Providers",
    "AccountSigningCertificatesPresent",
)


class UserOperations:
    """Mixed into `IamService`, which provides `store`, `account_id` and `identity()`."""

    store: Store
    account_id: str

    def identity(self, user_name: str) -> Identity:  # provided by IamService
        raise NotImplementedError

    def delete_user(self, *, UserName: str, caller: Caller | None = None) -> dict[str, Any]:
        """Refused (DeleteConflict) while the user has a login profile, access keys, an MFA
        device or inline policies; only the account administrator may delete users."""
        if caller is not None and not caller.is_admin:
            raise IamError(ACCESS_DENIED, f"User {caller.user_name} may not delete users")
        identity = self.identity(UserName)
        if identity.is_root:
            raise IamError(NO_SUCH_ENTITY, f"The user with name {UserName} cannot be found.")
        with self.store.transaction() as conn:
            conn.execute(
                select(identities.c.id).where(identities.c.id == identity.id).with_for_update()
            )
            for table, column, what in _BLOCKERS:
                if _count(conn, table, column == identity.id):
                    raise IamError(DELETE_CONFLICT, _CONFLICT.format(what))
            conn.execute(delete(sts_sessions).where(sts_sessions.c.identity_id == identity.id))
            conn.execute(delete(ceremonies).where(ceremonies.c.identity_id == identity.id))
            removed = conn.execute(delete(identities).where(identities.c.id == identity.id))
        if removed.rowcount != 1:
            raise IamError(NO_SUCH_ENTITY, f"The user with name {UserName} cannot be found.")
        return {}

    def get_account_summary(self, *, caller: Caller | None = None) -> dict[str, Any]:
        """IAM's SummaryMap: live counts for what this service models, AWS's default quotas,
        and 0 for entity kinds it does not model (groups, managed policies, certificates)."""
        if caller is not None and not caller.is_admin:
            raise IamError(ACCESS_DENIED, f"User {caller.user_name} may not read the summary")
        account = self.account_id
        mine = select(identities.c.id).where(identities.c.account_id == account)
        root = mine.where(identities.c.is_root.is_(True))
        with self.store.read_only() as conn:
            counts = {
                "Users": _count(
                    conn,
                    identities,
                    (identities.c.account_id == account) & identities.c.is_root.is_(False),
                ),
                "Roles": _count(conn, roles, roles.c.account_id == account),
                "MFADevices": _count(
                    conn,
                    mfa_devices,
                    (mfa_devices.c.identity_id.in_(mine))
                    | (
                        (mfa_devices.c.account_id == account) & (mfa_devices.c.kind == KIND_VIRTUAL)
                    ),
                ),
                "MFADevicesInUse": _count(conn, mfa_devices, mfa_devices.c.identity_id.in_(mine)),
                "AccountMFAEnabled": _present(
                    conn, mfa_devices, mfa_devices.c.identity_id.in_(root)
                ),
                "AccountAccessKeysPresent": _present(
                    conn, access_keys, access_keys.c.identity_id.in_(root)
                ),
                "AccountPasswordPresent": _present(
                    conn, login_profiles, login_profiles.c.identity_id.in_(root)
                ),
            }
        summary = {**QUOTAS, **dict.fromkeys(NOT_MODELLED, 0), **counts}
        return {"SummaryMap": summary}


def _count(conn: Connection, table: Any, condition: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one())


def _present(conn: Connection, table: Any, condition: Any) -> int:
    return 1 if _count(conn, table, condition) else 0
