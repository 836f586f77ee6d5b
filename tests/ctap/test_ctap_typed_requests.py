"""The typed request parsers: CTAP's error for each kind of bad member, version rules, and no
other exception for any map at all."""

from __future__ import annotations

import pytest
from ctap_testkit import RP_ID, make_key
from fido2 import cbor
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.get_assertion import GetAssertionRequest
from tokenbench.emulators.ctap.make_credential import MakeCredentialRequest
from tokenbench.emulators.ctap.profiles import get_profile

GOOD_MC: dict[int, object] = {
    1: b"\x01" * 32,
    2: {"id": RP_ID, "name": "Example"},
    3: {"id": b"user", "name": "u", "displayName": "U"},
    4: [{"type": "public-key", "alg": -7}],
}


def status_of(command: int, params: dict[int, object], profile: str = "default") -> int:
    return make_key(profile).process(bytes([command]) + cbor.encode(params))[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({1: None}, CtapStatus.MISSING_PARAMETER),
        ({2: {"name": "no id"}}, CtapStatus.MISSING_PARAMETER),
        ({3: {"name": "no id"}}, CtapStatus.MISSING_PARAMETER),
        ({4: None}, CtapStatus.MISSING_PARAMETER),
        ({1: "text"}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({2: [RP_ID]}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({3: {"id": b"u", "displayName": 7}}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({3: {"id": b"u" * 65}}, CtapStatus.INVALID_LENGTH),
        ({4: [{"type": "public-key", "alg": "-7"}]}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({4: [{"type": "public-key", "alg": True}]}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({4: [{"type": "x", "alg": -7}]}, CtapStatus.UNSUPPORTED_ALGORITHM),
        ({5: [{"type": "public-key"}]}, CtapStatus.MISSING_PARAMETER),
        ({7: {"rk": 1}}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({8: "param", 9: 1}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({6: {"credProtect": "high"}}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({6: {"no-such-extension": object.__name__}}, CtapStatus.SUCCESS),
        ({0x30: "a member this key does not know"}, CtapStatus.SUCCESS),
    ],
)
def test_make_credential_members_get_ctaps_errors(change, expected):
    params = {k: v for k, v in {**GOOD_MC, **change}.items() if v is not None}
    assert status_of(0x01, params) == expected


@pytest.mark.parametrize(
    ("profile", "expected"), [("ctap20", CtapStatus.CBOR_UNEXPECTED_TYPE), ("default", 0)]
)
def test_rp_icon_is_type_checked_by_a_ctap20_key_only(profile, expected):
    """CTAP 2.0 defines rp.icon; a 2.0 key checks its type, a 2.1 key ignores the member."""
    params = {**GOOD_MC, 2: {"id": RP_ID, "icon": 42}}
    assert status_of(0x01, params, profile) == expected
    assert status_of(0x01, {**GOOD_MC, 2: {"id": RP_ID, "icon": "https://x"}}, profile) == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({2: b"\x02" * 32}, CtapStatus.MISSING_PARAMETER),
        ({1: RP_ID}, CtapStatus.MISSING_PARAMETER),
        ({1: b"rp", 2: b"\x02" * 32}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: RP_ID, 2: b"\x02" * 32, 3: [b"id"]}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: RP_ID, 2: b"\x02" * 32, 5: {"rk": True}}, CtapStatus.UNSUPPORTED_OPTION),
        ({1: RP_ID, 2: b"\x02" * 32, 4: {"hmac-secret": b"x"}}, CtapStatus.CBOR_UNEXPECTED_TYPE),
        ({1: RP_ID, 2: b"\x02" * 32, 4: {"hmac-secret": {1: {}}}}, CtapStatus.MISSING_PARAMETER),
        ({1: RP_ID, 2: b"\x02" * 32}, CtapStatus.NO_CREDENTIALS),
    ],
)
def test_get_assertion_members_get_ctaps_errors(params, expected):
    assert status_of(0x02, params) == expected


cbor_values = st.recursive(
    st.one_of(
        st.integers(-(2**63), 2**64 - 1),
        st.binary(max_size=40),
        st.text(max_size=12),
        st.booleans(),
        st.sampled_from(["public-key", "id", "alg", "type", "name", "icon", RP_ID]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.integers(0, 12), st.text(max_size=6)), children, max_size=4),
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.integers(0, 12), cbor_values, max_size=8))
def test_the_parsers_answer_any_map_with_a_request_or_a_ctap_error(params):
    for profile in ("default", "ctap20"):
        for parser in (MakeCredentialRequest.parse, GetAssertionRequest.parse):
            try:
                parser(params, get_profile(profile))
            except CtapError as e:
                assert e.status in {
                    CtapStatus.MISSING_PARAMETER,
                    CtapStatus.CBOR_UNEXPECTED_TYPE,
                    CtapStatus.INVALID_LENGTH,
                    CtapStatus.INVALID_OPTION,
                }
