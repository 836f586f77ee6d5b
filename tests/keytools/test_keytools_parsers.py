"""The key tools' parsers on good and malformed input: descriptors, CTAP messages, recordings.

Malformed input must give the protocol's answer or a one-line error, never an exception
escaping into a trace or a listing; hypothesis feeds random bytes to each decoder.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from fido2 import cbor
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.bench.errors import UserError
from tokenbench.bench.keytools import mds
from tokenbench.bench.keytools.ctap_decode import (
    decode_request,
    decode_response,
    decode_u2f_request,
    decode_u2f_response,
)
from tokenbench.bench.keytools.redact import (
    CLIENT_PIN,
    FIELD_NAMES,
    GET_ASSERTION,
    MAKE_CREDENTIAL,
)
from tokenbench.bench.keytools.trace import frame_header
from tokenbench.bench.keytools.usb_replay import Recording, parse_configuration
from tokenbench.bench.keytools.usb_scan import FIDO_USAGE_PAGE, report_usage_page
from tokenbench.bench.report_records import CTAP2_COMMANDS
from tokenbench.emulators.ctap.constants import CtapCommand
from tokenbench.emulators.transport.fido_hid import FIDO_REPORT_DESCRIPTOR

DATA = Path(__file__).parent.parent / "data" / "usb"


def test_usage_page_of_fido_and_keyboard_descriptors() -> None:
    assert report_usage_page(FIDO_REPORT_DESCRIPTOR) == FIDO_USAGE_PAGE
    keyboard = bytes.fromhex(
        json.loads((DATA / "plain-keyboard.json").read_text())["hid_report_descriptors"]["0"]
    )
    assert report_usage_page(keyboard) == 0x01  # Generic Desktop
    assert report_usage_page(bytes.fromhex("05")) is None  # truncated item
    assert report_usage_page(bytes.fromhex("0901 07d0f10000")) == 0xF1D0  # 4-byte item later


@given(st.binary(max_size=80))
def test_usage_page_never_raises(data: bytes) -> None:
    page = report_usage_page(data)
    assert page is None or 0 <= page < 2**32


def test_configuration_bundle_of_the_recording() -> None:
    raw = bytes.fromhex(
        json.loads((DATA / "yubikey5-nfc.json").read_text())["configuration_descriptors"][0]
    )
    config = parse_configuration(raw)
    assert config.fields["wTotalLength"] == len(raw) == 150
    classes = [alts[0].fields["bInterfaceClass"] for alts in config.interfaces]
    assert classes == [0x03, 0x03, 0x0B]
    fido = config.interfaces[1][0]
    assert [e["bEndpointAddress"] for e in fido.endpoints] == [0x02, 0x82]
    assert fido.extra[1] == 0x21  # its HID class descriptor travels as extra bytes
    assert len(config.interfaces[2][0].extra) == 54  # the CCID class descriptor


@given(
    st.lists(
        st.tuples(
            st.integers(0, 12), st.sampled_from([2, 4, 5, 0x21, 0x0B]), st.binary(max_size=10)
        ),
        max_size=8,
    )
)
def test_malformed_configuration_is_a_value_error(items: list[tuple[int, int, bytes]]) -> None:
    """Descriptor chains with wrong lengths and types: parsed or a ValueError, nothing else."""
    body = b"".join(bytes((length, kind)) + rest for length, kind, rest in items)
    data = bytes((9, 2)) + (9 + len(body)).to_bytes(2, "little") + bytes(5) + body
    with contextlib.suppress(ValueError):
        config = parse_configuration(data)
        assert all(alts for alts in config.interfaces)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        '{"device_descriptor": "zz", "configuration_descriptors": []}',
        '{"device_descriptor": "1201", "configuration_descriptors": []}',
    ],
)
def test_bad_recordings_are_one_line_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        Recording.load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("entries", ["[null]", "[1]", '["entry"]'])
def test_mds_json_entries_that_are_not_objects_are_refused_by_name(
    tmp_path: Path, entries: str
) -> None:
    path = tmp_path / "mds.json"
    path.write_text(entries)
    with pytest.raises(UserError, match="an MDS3 entry is not a JSON object"):
        mds.load_models(path)


def test_client_pin_request_fields_are_named_and_secrets_redacted() -> None:
    request = bytes((CLIENT_PIN,)) + cbor.encode(
        {1: 2, 2: 3, 3: {1: 2}, 4: b"A" * 32, 5: b"B" * 64}
    )
    summary = decode_request(request)
    assert summary["command"] == "clientPIN"
    fields = summary["fields"]
    assert fields["subCommand"] == "setPIN"
    assert fields["pinUvAuthParam"] == "<redacted 32 bytes>"
    assert fields["newPinEnc"] == "<redacted 64 bytes>"
    assert "4141" not in json.dumps(summary) and "4242" not in json.dumps(summary)


def test_extension_secrets_are_redacted_but_requests_for_them_are_shown() -> None:
    salt_enc = b"S" * 64
    request = bytes((GET_ASSERTION,)) + cbor.encode(
        {
            1: "rp.example",
            2: b"c" * 32,
            4: {"hmac-secret": {1: {}, 2: salt_enc, 3: b"a" * 32}, "credBlob": True},
        }
    )
    fields = decode_request(request)["fields"]
    assert fields["rpId"] == "rp.example"
    assert fields["extensions"]["hmac-secret"].startswith("<redacted ")
    assert fields["extensions"]["credBlob"] is True
    make = bytes((MAKE_CREDENTIAL,)) + cbor.encode({6: {"credBlob": b"secret-blob"}})
    assert decode_request(make)["fields"]["extensions"]["credBlob"] == "<redacted 11 bytes>"


def test_large_blob_key_in_responses_is_redacted() -> None:
    response = b"\x00" + cbor.encode({1: {"id": b"i", "type": "public-key"}, 7: b"K" * 32})
    fields = decode_response(GET_ASSERTION, response)["fields"]
    assert fields["largeBlobKey"] == "<redacted 32 bytes>"
    assert decode_response(CLIENT_PIN, b"\x31")["status"] == "PIN_INVALID"


def test_vendor_commands_are_redacted_whole() -> None:
    secret = b"vendor-private-key-material"
    body = cbor.encode({1: secret})
    request = decode_request(b"\x51" + body)
    response = decode_response(0x51, b"\x00" + body)
    assert request == {"command": "0x51", "body": f"<redacted {len(body)} bytes>"}
    assert response["body"].startswith("<redacted ") and secret.hex()[:8] not in str(response)


@given(st.binary(max_size=300))
def test_ctap_decoders_never_raise(data: bytes) -> None:
    json.dumps(decode_request(data))
    json.dumps(decode_response(data[0] if data else None, data[1:]))
    json.dumps(decode_u2f_request(data))
    json.dumps(decode_u2f_response(data))
    frame_header(data)


@given(
    st.sampled_from([MAKE_CREDENTIAL, GET_ASSERTION, CLIENT_PIN, 0x0A, 0x0C, 0x0D]),
    st.dictionaries(st.integers(0, 12), st.binary(min_size=20, max_size=40), max_size=12),
)
def test_no_secret_field_content_reaches_a_summary(command: int, body: dict[int, bytes]) -> None:
    """Whatever the map holds, a value under a secret field name never shows up in hex."""
    summary = decode_request(bytes((command,)) + cbor.encode(body))
    fields = summary.get("fields", {})
    for name, value in fields.items():
        if name in ("pinUvAuthParam", "newPinEnc", "pinHashEnc", "set"):
            assert value.startswith("<redacted ")


def test_get_next_assertion_responses_are_named_like_get_assertion_ones() -> None:
    key = bytes(range(32))
    response = b"\x00" + cbor.encode({1: {"id": b"i", "type": "public-key"}, 5: 2, 7: key})
    summary = decode_response(CtapCommand.GET_NEXT_ASSERTION, response)
    assert summary["fields"]["largeBlobKey"] == "<redacted 32 bytes>"
    assert summary["fields"]["numberOfCredentials"] == 2
    assert key[:2].hex() not in json.dumps(summary)


def test_get_info_fields_are_named() -> None:
    response = b"\x00" + cbor.encode({1: ["FIDO_2_1"], 3: b"\x11" * 16, 14: 7})
    fields = decode_response(CtapCommand.GET_INFO, response)["fields"]
    assert fields == {"versions": ["FIDO_2_1"], "aaguid": "11" * 16, "firmwareVersion": 7}


UNNAMED_VALUES = st.binary(min_size=8, max_size=40).filter(lambda b: len(set(b)) > 4)


@given(
    st.sampled_from(sorted(CTAP2_COMMANDS)),
    st.sampled_from(["request", "response"]),
    st.dictionaries(st.integers(-30, 300) | st.text(max_size=6), UNNAMED_VALUES, max_size=8),
)
def test_fields_without_a_name_show_only_their_size(
    command: int, direction: str, body: dict[int | str, bytes]
) -> None:
    """Whatever a key or client sends under a key the spec does not name stays hidden."""
    names = FIELD_NAMES.get((command, direction), {})
    message = bytes((command if direction == "request" else 0,)) + cbor.encode(body)
    if direction == "request":
        summary = decode_request(message)
    else:
        summary = decode_response(command, message)
    shown = json.dumps(summary)
    named = [v.hex() for k, v in body.items() if isinstance(k, int) and k in names]
    for key, value in body.items():
        window = value[:4].hex()
        if not (isinstance(key, int) and key in names) and not any(window in v for v in named):
            assert window not in shown


CBOR_VALUES = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-5, 25) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


@given(
    st.sampled_from(sorted(CTAP2_COMMANDS)),
    st.dictionaries(st.integers(0, 25), CBOR_VALUES, max_size=10),
)
def test_any_cbor_under_any_field_gives_a_printable_summary(
    command: int, body: dict[int, object]
) -> None:
    """Wrong types under named fields (a map for a subCommand, bytes for options...) are shown
    or redacted, never raised into the transport thread."""
    encoded = cbor.encode(body)
    json.dumps(decode_request(bytes((command,)) + encoded))
    json.dumps(decode_response(command, b"\x00" + encoded))
