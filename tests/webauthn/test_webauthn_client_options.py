"""The options parser of the software authenticator: servers' JSON parses, anything else is
one `OptionsError` line, never another exception (hypothesis over JSON values and text)."""

from __future__ import annotations

import json

import pytest
from fido2.webauthn import UserVerificationRequirement
from hypothesis import given, settings
from hypothesis import strategies as st
from webauthn_client_servers import SERVERS

from tokenbench.bench.webauthn.options import OptionsError, creation_options, request_options

# python-fido2 runs the options' timeout on a timer thread: a crash there is a traceback too
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

PARSERS = [creation_options, request_options]
B64 = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=8)
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | B64 | st.text()
KEYS = st.sampled_from(
    [
        "rp",
        "user",
        "id",
        "name",
        "displayName",
        "challenge",
        "pubKeyCredParams",
        "type",
        "alg",
        "timeout",
        "excludeCredentials",
        "allowCredentials",
        "authenticatorSelection",
        "userVerification",
        "residentKey",
        "attestation",
        "extensions",
        "rpId",
        "publicKey",
        "transports",
        "hints",
    ]
) | st.text(max_size=6)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=25,
)


def one_line_or_parsed(parse, data) -> None:
    try:
        parse(data)
    except OptionsError as exc:
        assert "\n" not in str(exc) and str(exc)


@settings(max_examples=300, deadline=None)
@given(data=JSON)
def test_any_json_value_parses_or_is_one_line(data) -> None:
    for parse in PARSERS:
        one_line_or_parsed(parse, data)
        one_line_or_parsed(parse, json.dumps(data))
        one_line_or_parsed(parse, {"publicKey": data})


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_parses_or_is_one_line(text) -> None:
    for parse in PARSERS:
        one_line_or_parsed(parse, text)


@pytest.mark.parametrize("server", list(SERVERS))
def test_each_servers_own_options_parse(server: str) -> None:
    """Bare (py_webauthn, ours) and `{"publicKey": ...}` (python-fido2) alike."""
    rp = SERVERS[server](uv_required=True)
    created = creation_options(rp.registration_options())
    assert created.rp.id == "shop.example" and len(created.challenge) >= 16
    selection = created.authenticator_selection
    assert selection is not None
    assert selection.user_verification == UserVerificationRequirement.REQUIRED


def test_lenient_base64_is_refused() -> None:
    """python-fido2 alone would read "!!!" as an empty challenge and 5 as five zero bytes."""
    for challenge in ("!!!", 5, "", None):
        with pytest.raises(OptionsError, match="challenge"):
            request_options({"challenge": challenge})
    with pytest.raises(OptionsError, match=r"allowCredentials\[1\]\.id"):
        request_options(
            {"challenge": "AAAA", "allowCredentials": [{"type": "public-key", "id": "AA"}, {}]}
        )


VALID = {
    "rp": {"id": "shop.example", "name": "Shop"},
    "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
    "challenge": "Y2hhbGxlbmdlLWNoYWxsZW5nZQ",
    "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
}
MEMBERS = st.sampled_from(
    [
        "rp",
        "user",
        "pubKeyCredParams",
        "timeout",
        "excludeCredentials",
        "extensions",
        "authenticatorSelection",
        "attestation",
        "hints",
    ]
)


@pytest.fixture(scope="module")
def software_key():
    from tokenbench.bench.webauthn import SoftwareAuthenticator

    with SoftwareAuthenticator("https://shop.example") as key:
        yield key


@settings(max_examples=60, deadline=None)
@given(member=MEMBERS, value=JSON)
def test_odd_members_end_in_a_response_or_one_line(software_key, member, value) -> None:
    """Past the parser, a ceremony with odd members answers or refuses in one line."""
    from tokenbench.bench.errors import UserError

    try:
        software_key.create({**VALID, member: value})
    except UserError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(
    ("sent", "used"),
    [(1e308, 600_000), (-5, 10_000), (0, 10_000), ("70000", 70_000), (float("nan"), 600_000)],
)
def test_timeouts_are_clamped_as_browsers_do(sent, used) -> None:
    assert request_options({"challenge": "AAAA", "timeout": sent}).timeout == used


@pytest.mark.parametrize("sent", [True, "soon", [60_000]])
def test_a_timeout_that_is_no_number_is_refused(sent) -> None:
    with pytest.raises(OptionsError, match="timeout must be a number"):
        request_options({"challenge": "AAAA", "timeout": sent})
