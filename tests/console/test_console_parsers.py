"""The console's parsers of untrusted input: the WebAuthn JSON bodies, base64url, and the
signed session payload. Property tests: any input is parsed or refused with the parser's own
error, never anything else, and encode/decode round-trips."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.verifier.http.console.sessions import STAGE_IN, _parse
from tokenbench.verifier.http.console.webauthn_json import (
    MAX_FIELD_CHARS,
    WebAuthnJsonError,
    b64url_decode,
    b64url_encode,
    parse_assertion,
    parse_registration,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def registration_body(raw_id: bytes, **response: Any) -> dict[str, Any]:
    return {
        "ceremonyId": "c" * 32,
        "credential": {
            "id": b64url_encode(raw_id),
            "rawId": b64url_encode(raw_id),
            "type": "public-key",
            "response": response,
        },
    }


@given(st.binary(max_size=300))
def test_base64url_round_trip(raw: bytes) -> None:
    text = b64url_encode(raw)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text, "x") == raw
    assert b64url_decode(text + "=" * (-len(text) % 4), "x") == raw  # padding tolerated


@given(st.text(max_size=60))
def test_base64url_refuses_with_its_own_error(text: str) -> None:
    try:
        b64url_decode(text, "field")
    except WebAuthnJsonError as error:
        assert "field" in str(error)


@pytest.mark.parametrize(
    "bad", ["a+b/", "abc$", "A", "AAAAA", 17, None, "A" * (MAX_FIELD_CHARS + 4)]
)
def test_base64url_refusals(bad: object) -> None:
    with pytest.raises(WebAuthnJsonError):
        b64url_decode(bad, "field")


@given(JSON)
def test_any_json_is_parsed_or_refused(body: Any) -> None:
    for parse in (parse_registration, parse_assertion):
        with contextlib.suppress(WebAuthnJsonError):
            parse(body)


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=200), st.binary(max_size=200))
def test_registration_parsed(raw_id: bytes, client: bytes, attestation: bytes) -> None:
    body = registration_body(
        raw_id,
        clientDataJSON=b64url_encode(client),
        attestationObject=b64url_encode(attestation),
        transports=["usb"],
    )
    parsed = parse_registration(body)
    assert (parsed.credential_id, parsed.client_data_json, parsed.attestation_object) == (
        raw_id,
        client,
        attestation,
    )


def test_assertion_parsed_with_and_without_user_handle() -> None:
    body = registration_body(
        b"id",
        clientDataJSON=b64url_encode(b"{}"),
        authenticatorData=b64url_encode(b"a" * 37),
        signature=b64url_encode(b"sig"),
        userHandle=None,
    )
    assert parse_assertion(body).user_handle is None
    body["credential"]["response"]["userHandle"] = b64url_encode(b"handle")
    assert parse_assertion(body).user_handle == b"handle"


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b["credential"].update(type="password"),
        lambda b: b["credential"].update(id=b64url_encode(b"other")),
        lambda b: b.update(ceremonyId=""),
        lambda b: b.update(ceremonyId="x" * 65),
        lambda b: b["credential"].update(response=[]),
        lambda b: b["credential"]["response"].pop("clientDataJSON"),
    ],
)
def test_registration_refusals(change: Any) -> None:
    body = registration_body(
        b"id", clientDataJSON=b64url_encode(b"{}"), attestationObject=b64url_encode(b"\xa0")
    )
    change(body)
    with pytest.raises(WebAuthnJsonError):
        parse_registration(body)


@given(JSON)
def test_session_payload_parser_never_raises(payload: Any) -> None:
    _parse(payload)


def test_session_payload_parser_checks_shape() -> None:
    good = {"stage": STAGE_IN, "csrf": "t", "expires": 1.0, "user": "alice", "mfa": True}
    assert _parse(good) is not None
    for key, value in (
        ("stage", "root"),
        ("csrf", ""),
        ("expires", True),
        ("user", None),
        ("mfa", "yes"),
        ("serial", 5),
    ):
        assert _parse({**good, key: value}) is None, key
