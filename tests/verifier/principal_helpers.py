"""Helpers for the principal/STS/role/policy tests: a whole `Service` over the test store."""

from __future__ import annotations

import json

import pytest
from verifier_helpers import ACCOUNT, Authenticator, enable, new_virtual

from tokenbench.emulators.clock import FakeClock
from tokenbench.verifier.errors import IamError
from tokenbench.verifier.principals import Principal
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import Service, VerifierOptions, build_service
from tokenbench.verifier.store import Store

ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


def make_full_service(store: Store, cipher: SeedCipher, clock: FakeClock) -> Service:
    return build_service(store, cipher, clock, VerifierOptions(account_id=ACCOUNT))


def refused(call, code: str) -> str:
    """Run `call`, expect IamError `code`, return its message."""
    with pytest.raises(IamError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value.message


def user_with_key(service: Service, name: str = "alice") -> Principal:
    service.iam.create_user(UserName=name)
    key = service.access_keys.create_access_key(UserName=name)["AccessKey"]
    principal = service.principals.resolve(key["AccessKeyId"], service.clock.now())
    assert principal is not None
    return principal


def root_principal(service: Service) -> Principal:
    created = service.access_keys.ensure_admin_key()
    assert created is not None
    principal = service.principals.resolve(created[0], service.clock.now())
    assert principal is not None
    return principal


def with_device(service: Service, user: str) -> tuple[str, Authenticator]:
    """An enabled virtual device for `user`, the clock moved past the enabling codes."""
    serial, app = new_virtual(service.iam, f"{user}-phone")
    enable(service.iam, user, serial, app)
    service.clock.advance(60)
    return serial, app


def resolve(service: Service, credentials: dict) -> Principal:
    principal = service.principals.resolve(credentials["AccessKeyId"], service.clock.now())
    assert principal is not None
    assert principal.check_session_token(credentials["SessionToken"])
    return principal


def trust_policy(principal: object, condition: dict | None = None) -> str:
    statement: dict = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
