"""Which library call answers each IAM and STS action, and who may make it.

The wire layer (`query_wire`) has already checked every parameter against botocore's model, so
a handler only routes: it picks the caller (`Principal.caller`) and calls the library with the
model's member names. Authorization is the smallest model that behaves like a fresh AWS account:

- the account root (the `--admin-credentials` key) may do everything, as root does;
- an IAM user may act on itself only, through the actions of AWS's documented "self-manage
  credentials and MFA" policy (`SELF_SERVICE`); every other action is an implicit deny with
  AWS's message;
- a user with the force-MFA policy (`tokenbench.verifier.mfa_policy`) is further denied
  everything but its NotAction list until it signs in with MFA.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import ACCESS_DENIED, VALIDATION_ERROR, IamError
from tokenbench.verifier.principals import Principal
from tokenbench.verifier.service import Service

NON_USER_CREDENTIALS = "Must specify userName when calling with non-User credentials"

Handler = Callable[[Service, Principal, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    """One action: its handler, and whether an IAM user may call it on itself."""

    handler: Handler
    self_service: bool = False
    needs_no_permission: bool = False  # AWS: no policy can deny it


def _admin_only(method_name: str) -> Operation:
    def handler(service: Service, _principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        return dict(getattr(service.iam, method_name)(**params))

    return Operation(handler)


def _with_caller(method_name: str, owner: str = "iam") -> Operation:
    """A self-service action: the library checks that the caller acts on itself."""

    def handler(service: Service, principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        if principal.kind == "assumed-role" and "UserName" not in params:
            # A role session is no user: AWS will not default UserName to it.
            raise IamError(VALIDATION_ERROR, NON_USER_CREDENTIALS)
        target = getattr(service, owner)
        return dict(getattr(target, method_name)(caller=principal.caller, **params))

    return Operation(handler, self_service=True)


def _get_user(service: Service, principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
    user_name = params.get("UserName") or principal.identity.user_name
    if not principal.caller.is_admin and user_name.lower() != principal.identity.user_name.lower():
        raise not_authorized(principal, "iam:GetUser", _user_arn(service, user_name))
    return dict(service.iam.get_user(UserName=user_name))


def _create_virtual_mfa_device(
    service: Service, principal: Principal, params: dict[str, Any]
) -> dict[str, Any]:
    owner = None if principal.caller.is_admin else principal.identity.user_name
    result = dict(service.iam.create_virtual_mfa_device(label_owner=owner, **params))
    device = dict(result["VirtualMFADevice"])
    device["Base32StringSeed"] = device["Base32StringSeed"].encode("ascii")  # a blob on the wire
    result["VirtualMFADevice"] = device
    return result


def _sts(method_name: str, *, needs_no_permission: bool = False) -> Operation:
    def handler(service: Service, principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        return dict(getattr(service.sts, method_name)(principal, **params))

    return Operation(handler, self_service=True, needs_no_permission=needs_no_permission)


IAM_OPERATIONS: Mapping[str, Operation] = {
    "CreateUser": _admin_only("create_user"),
    "GetUser": Operation(_get_user, self_service=True),
    "ListUsers": _admin_only("list_users"),
    "DeleteUser": _admin_only("delete_user"),
    "GetAccountSummary": _admin_only("get_account_summary"),
    "CreateLoginProfile": _with_caller("create_login_profile", owner="login_profiles"),
    "GetLoginProfile": _with_caller("get_login_profile", owner="login_profiles"),
    "UpdateLoginProfile": _with_caller("update_login_profile", owner="login_profiles"),
    "DeleteLoginProfile": _with_caller("delete_login_profile", owner="login_profiles"),
    "CreateAccessKey": _with_caller("create_access_key", owner="access_keys"),
    "ListAccessKeys": _with_caller("list_access_keys", owner="access_keys"),
    "UpdateAccessKey": _with_caller("update_access_key", owner="access_keys"),
    "DeleteAccessKey": _with_caller("delete_access_key", owner="access_keys"),
    "CreateVirtualMFADevice": Operation(_create_virtual_mfa_device, self_service=True),
    "EnableMFADevice": _with_caller("enable_mfa_device"),
    "ResyncMFADevice": _with_caller("resync_mfa_device"),
    "DeactivateMFADevice": _with_caller("deactivate_mfa_device"),
    "DeleteVirtualMFADevice": Operation(
        lambda service, _p, params: dict(service.iam.delete_virtual_mfa_device(**params)),
        self_service=True,
    ),
    "ListMFADevices": _with_caller("list_mfa_devices"),
    "GetMFADevice": _with_caller("get_mfa_device"),
    "ListVirtualMFADevices": _admin_only("list_virtual_mfa_devices"),
    "TagMFADevice": _admin_only("tag_mfa_device"),
    "UntagMFADevice": _admin_only("untag_mfa_device"),
    "ListMFADeviceTags": _admin_only("list_mfa_device_tags"),
    "CreateRole": Operation(lambda s, _p, params: dict(s.roles.create_role(**params))),
    "GetRole": Operation(lambda s, _p, params: dict(s.roles.get_role(**params))),
    "ListRoles": Operation(lambda s, _p, params: dict(s.roles.list_roles(**params))),
    "DeleteRole": Operation(lambda s, _p, params: dict(s.roles.delete_role(**params))),
    "PutUserPolicy": Operation(lambda s, _p, params: dict(s.policies.put_user_policy(**params))),
    "GetUserPolicy": Operation(lambda s, _p, params: dict(s.policies.get_user_policy(**params))),
    "ListUserPolicies": Operation(
        lambda s, _p, params: dict(s.policies.list_user_policies(**params))
    ),
    "DeleteUserPolicy": Operation(
        lambda s, _p, params: dict(s.policies.delete_user_policy(**params))
    ),
}

# STS's API reference: "No permissions are required to perform this operation" for
# GetCallerIdentity, and none for GetSessionToken either (it is how a user gets MFA at all).
STS_OPERATIONS: Mapping[str, Operation] = {
    "GetSessionToken": _sts("get_session_token", needs_no_permission=True),
    "AssumeRole": _sts("assume_role"),
    "GetCallerIdentity": _sts("get_caller_identity", needs_no_permission=True),
}


def _user_arn(service: Service, user_name: str) -> str:
    return names.user_arn(service.account_id, "/", user_name, False)


def not_authorized(principal: Principal, action: str, resource: str) -> IamError:
    """AWS's implicit deny, word for word."""
    return IamError(
        ACCESS_DENIED,
        f"User: {principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action",
    )


def resource_of(service: Service, principal: Principal, params: Mapping[str, Any]) -> str:
    """The resource an action names, for AccessDenied messages (users, MFA devices, the rest)."""
    if "UserName" in params:
        return _user_arn(service, str(params["UserName"]))
    serial = params.get("SerialNumber")
    if isinstance(serial, str) and serial.startswith("arn:"):
        return serial
    if principal.caller.is_admin:
        return f"arn:aws:iam::{service.account_id}:root"
    return principal.arn


def authorize(
    service: Service,
    principal: Principal,
    prefix: str,
    action: str,
    operation: Operation,
    params: Mapping[str, Any],
) -> None:
    """Refuse what the caller may not do, before the library sees the call."""
    if principal.caller.is_admin or operation.needs_no_permission:
        return
    qualified = f"{prefix}:{action}"
    resource = resource_of(service, principal, params)
    if not operation.self_service:
        raise not_authorized(principal, qualified, resource)
    named = params.get("UserName")
    if isinstance(named, str) and named.lower() != principal.identity.user_name.lower():
        raise not_authorized(principal, qualified, resource)  # before any lookup, as AWS
    service.policies.authorize(principal, qualified, resource)
