"""ctap2 suite: malformed and unknown members of makeCredential and getAssertion requests.

A member of the wrong CBOR type, at the top of the request or inside an entity, a list or a
descriptor, is refused with a CBOR error; a list entry without a required member is refused
too (CTAP 2.1 §6.1.2 step 3, §6.2.2; the descriptors of WebAuthn §5.8.3). What the key does
not know is ignored, never refused: options ("Treat any option keys that are not understood as
absent", §6.1.2 step 5, §6.2.2 step 4), extensions ("ignoring any that it does not support",
§6.1.2 step 15), request members, and descriptors of a type other than "public-key".
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import pytest

from tokenbench.bench.suites._ctap import (
    CBOR_TYPE_ERRORS,
    ERR,
    FLAG_UP,
    MISSING_MEMBER_ERRORS,
    client_data_hash,
    credential_id,
    ctap2_of,
    descriptor,
    expect_ctap_error,
    key_params,
    make_credential,
    rp,
    user,
)

MAKE_CREDENTIAL = 0x01
GET_ASSERTION = 0x02
UNKNOWN_MEMBER = 0x3F
UNKNOWN_TYPE = "rot13"
SOME_PARAM = b"\x00" * 16
MemberPath = tuple[Any, ...]

MC_WRONG_TYPES: dict[str, dict[MemberPath, Any]] = {
    "rp.id": {(2, "id"): 8},
    "rp.name": {(2, "name"): 8},
    "user.id": {(3, "id"): "alice"},
    "user.name": {(3, "name"): 8},
    "user.displayName": {(3, "displayName"): 8},
    "params-entry": {(4, 0): "public-key"},
    "params.alg": {(4, 0, "alg"): "-7"},
    "params.type": {(4, 0, "type"): b"public-key"},
    "excludeList": {(5,): 8},
    "excludeList-entry": {(5, 0): "1234"},
    "excludeList.id": {(5, 0, "id"): "1234"},
    "excludeList.type": {(5, 0, "type"): b"public-key"},
    "extensions": {(6,): 8},
    "options": {(7,): 8},
    "option-value": {(7,): {"rk": "yes"}},
    "pinUvAuthParam": {(8,): "not bytes", (9,): 1},
    "pinUvAuthProtocol": {(8,): SOME_PARAM, (9,): "1"},
}
MC_MISSING: dict[str, MemberPath] = {
    "params.alg": (4, 0, "alg"),
    "params.type": (4, 0, "type"),
    "excludeList.id": (5, 0, "id"),
    "excludeList.type": (5, 0, "type"),
}
GA_WRONG_TYPES: dict[str, dict[MemberPath, Any]] = {
    "rpId": {(1,): 8},
    "clientDataHash": {(2,): {"type": "wrong"}},
    "allowList": {(3,): {"type": "public-key"}},
    "allowList-entry": {(3, 0): "wrong"},
    "allowList.id": {(3, 0, "id"): 42},
    "allowList.type": {(3, 0, "type"): b"public-key"},
    "extensions": {(4,): 8},
    "options": {(5,): 8},
    "option-value": {(5,): {"up": 1}},
    "pinUvAuthParam": {(6,): "not bytes", (7,): 1},
    "pinUvAuthProtocol": {(6,): SOME_PARAM, (7,): "1"},
}
GA_MISSING: dict[str, MemberPath] = {"allowList.id": (3, 0, "id"), "allowList.type": (3, 0, "type")}


def _changed(request: Mapping[int, Any], changes: Mapping[MemberPath, Any]) -> dict[int, Any]:
    """A deep copy of `request` with the member at each path set (value None: removed)."""
    changed = copy.deepcopy(dict(request))
    for (*parents, last), value in changes.items():
        target: Any = changed
        for step in parents:
            target = target[step]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return changed


def _mc_request() -> dict[int, Any]:
    return {
        1: client_data_hash("params"),
        2: rp(),
        3: user(),
        4: key_params(),
        5: [descriptor(os.urandom(32))],
    }


def _ga_request(ctap2) -> dict[int, Any]:
    """A getAssertion that would succeed: a fresh RP, its one credential in the allowList."""
    rp_id = f"params-{os.urandom(4).hex()}.example"
    response, _ = make_credential(ctap2, rp_id=rp_id)
    return {1: rp_id, 2: client_data_hash("params"), 3: [descriptor(credential_id(response))]}


@pytest.mark.parametrize("changes", MC_WRONG_TYPES.values(), ids=MC_WRONG_TYPES.keys())
def test_make_credential_member_of_wrong_type(ctap_device, changes):
    ctap2 = ctap2_of(ctap_device)
    with expect_ctap_error(*CBOR_TYPE_ERRORS, what=f"makeCredential with {changes}"):
        ctap2.send_cbor(MAKE_CREDENTIAL, _changed(_mc_request(), changes))


@pytest.mark.parametrize("path", MC_MISSING.values(), ids=MC_MISSING.keys())
def test_make_credential_entry_missing_a_member(ctap_device, path):
    ctap2 = ctap2_of(ctap_device)
    with expect_ctap_error(*MISSING_MEMBER_ERRORS, what=f"makeCredential without {path}"):
        ctap2.send_cbor(MAKE_CREDENTIAL, _changed(_mc_request(), {path: None}))


@pytest.mark.parametrize("changes", GA_WRONG_TYPES.values(), ids=GA_WRONG_TYPES.keys())
def test_get_assertion_member_of_wrong_type(ctap_device, changes):
    ctap2 = ctap2_of(ctap_device)
    request = _changed(_ga_request(ctap2), changes)
    with expect_ctap_error(*CBOR_TYPE_ERRORS, what=f"getAssertion with {changes}"):
        ctap2.send_cbor(GET_ASSERTION, request)


@pytest.mark.parametrize("path", GA_MISSING.values(), ids=GA_MISSING.keys())
def test_get_assertion_entry_missing_a_member(ctap_device, path):
    ctap2 = ctap2_of(ctap_device)
    request = _changed(_ga_request(ctap2), {path: None})
    with expect_ctap_error(*MISSING_MEMBER_ERRORS, what=f"getAssertion without {path}"):
        ctap2.send_cbor(GET_ASSERTION, request)


def test_exclude_list_ignores_descriptors_of_other_types(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    first, _ = make_credential(ctap2)
    request = _mc_request()
    request[5] = [{"type": UNKNOWN_TYPE, "id": credential_id(first)}]
    answer = ctap2.send_cbor(MAKE_CREDENTIAL, request)  # must not be CREDENTIAL_EXCLUDED
    assert answer.get(2), "makeCredential answered without authData"


def test_allow_list_ignores_descriptors_of_other_types(ctap_device):
    ctap2 = ctap2_of(ctap_device)
    request = _ga_request(ctap2)
    request[3] = [{"type": UNKNOWN_TYPE, "id": request[3][0]["id"]}]
    with expect_ctap_error(ERR.NO_CREDENTIALS, what=f'a credential listed as "{UNKNOWN_TYPE}"'):
        ctap2.send_cbor(GET_ASSERTION, request)


UNKNOWN_THINGS: dict[str, dict[MemberPath, Any]] = {
    "option": {(7,): {"tokenbench-unknown": True}},
    "extension": {(6,): {"tokenbench-unknown": True}},
    "member": {(UNKNOWN_MEMBER,): "tokenbench"},
}


@pytest.mark.parametrize("changes", UNKNOWN_THINGS.values(), ids=UNKNOWN_THINGS.keys())
def test_make_credential_ignores_unknown(ctap_device, changes):
    ctap2 = ctap2_of(ctap_device)
    answer = ctap2.send_cbor(MAKE_CREDENTIAL, _changed(_mc_request(), changes))
    assert answer.get(2), "makeCredential answered without authData"


GA_UNKNOWN_THINGS: dict[str, dict[MemberPath, Any]] = {
    "option": {(5,): {"tokenbench-unknown": True}},
    "extension": {(4,): {"tokenbench-unknown": True}},
    "member": {(UNKNOWN_MEMBER,): "tokenbench"},
}


@pytest.mark.parametrize("changes", GA_UNKNOWN_THINGS.values(), ids=GA_UNKNOWN_THINGS.keys())
def test_get_assertion_ignores_unknown(ctap_device, changes):
    ctap2 = ctap2_of(ctap_device)
    answer = ctap2.send_cbor(GET_ASSERTION, _changed(_ga_request(ctap2), changes))
    auth_data = answer.get(2)
    assert auth_data and auth_data[32] & FLAG_UP, "getAssertion answer without the UP flag"
