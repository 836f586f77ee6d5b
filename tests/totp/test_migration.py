"""Google Authenticator's otpauth-migration export: a known export, the codec, bad data."""

from __future__ import annotations

import base64
import contextlib
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.emulators.totp.errors import MigrationError, OtpauthError
from tokenbench.emulators.totp.migration import (
    build_migration_uri,
    decode_payload,
    encode_payload,
    parse_migration_uri,
)
from tokenbench.emulators.totp.otp import OtpAccount
from tokenbench.emulators.totp.protobuf import (
    MAX_VARINT,
    ProtobufError,
    encode_field,
    encode_varint,
    iter_fields,
    read_varint,
)

# A one-account export as Google Authenticator writes it. Its payload, by hand:
#   0a 31                       field 1 (otp_parameters), 49 bytes:
#     0a 0a 48656c6c6f21deadbeef  secret "Hello!\xde\xad\xbe\xef" (JBSWY3DPEHPK3PXP)
#     12 18 "Example:alice@google.com"   name
#     1a 07 "Example"                    issuer
#     30 02                              type = TOTP (algorithm and digits unspecified)
GOOGLE_EXPORT = (
    "otpauth-migration://offline?data="
    "CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC"
)
HELLO = b"Hello!\xde\xad\xbe\xef"


def uri_for(payload: bytes) -> str:
    return "otpauth-migration://offline?data=" + quote(base64.b64encode(payload).decode())


def otp_parameters(*fields: bytes) -> bytes:
    return encode_field(1, b"".join(fields))


def test_reads_a_google_authenticator_export() -> None:
    assert parse_migration_uri(GOOGLE_EXPORT) == [
        OtpAccount(secret=HELLO, issuer="Example", account="alice@google.com")
    ]


def test_writes_what_it_reads() -> None:
    accounts = [
        OtpAccount(secret=HELLO, issuer="Example", account="alice@google.com"),
        OtpAccount(secret=bytes(range(32)), account="bob", algorithm="SHA256", digits=8),
        OtpAccount(secret=bytes(range(20)), issuer="Bank", account="c", kind="hotp", counter=7),
    ]
    uri = build_migration_uri(accounts)
    assert uri.startswith("otpauth-migration://offline?data=")
    assert parse_migration_uri(uri) == accounts


def test_written_fields_are_the_documented_ones() -> None:
    account = OtpAccount(secret=HELLO, issuer="Ex", account="a", algorithm="SHA512", digits=8)
    payload = encode_payload([account])
    (number, _, parameters), *header = list(iter_fields(payload))
    assert number == 1
    assert dict((n, v) for n, _, v in header) == {2: 1, 3: 1, 4: 0}  # version, batch size/index
    assert {n: v for n, _, v in iter_fields(parameters)} == {
        1: HELLO,
        2: b"Ex:a",
        3: b"Ex",
        4: 3,  # SHA512
        5: 2,  # eight digits
        6: 2,  # TOTP
    }


def test_unknown_fields_are_skipped() -> None:
    payload = (
        encode_field(99, 5)
        + otp_parameters(
            encode_field(1, HELLO),
            encode_field(2, b"x"),
            encode_field(42, b"future"),
            bytes([0x45]) + b"\x01\x02\x03\x04",  # field 8, fixed32
            bytes([0x49]) + bytes(8),  # field 9, fixed64
        )
        + encode_field(5, 123456)  # batch id
    )
    assert parse_migration_uri(uri_for(payload)) == [OtpAccount(secret=HELLO, account="x")]


def test_tolerates_what_copying_does_to_base64() -> None:
    payload = base64.b64encode(encode_payload([OtpAccount(secret=b"\xfb" * 20, account="a")]))
    damaged = payload.decode().replace("+", " ").rstrip("=")  # '+' read as space, no padding
    assert parse_migration_uri("otpauth-migration://offline?data=" + damaged)[0].account == "a"


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("otpauth://offline?data=CjEK", "not an otpauth-migration"),
        ("otpauth-migration://online?data=CjEK", "not an otpauth-migration"),
        ("otpauth-migration://offline", "no data"),
        ("otpauth-migration://offline?data=", "no data"),
        ("otpauth-migration://offline?data=CjEK&data=CjEK", "twice"),
        ("otpauth-migration://offline?data=%ZZ", "percent-encoding"),
        ("otpauth-migration://offline?data=not*base64", "not Base64"),
        ("otpauth-migration://offline?data=CjEK", "past the end"),
    ],
)
def test_malformed_uris(uri: str, complaint: str) -> None:
    with pytest.raises(MigrationError, match=complaint):
        parse_migration_uri(uri)


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "no accounts"),
        (encode_field(2, 1), "no accounts"),
        (encode_field(1, 5), "wrong wire type"),
        (otp_parameters(encode_field(1, 5)), "wrong wire type"),
        (otp_parameters(encode_field(2, b"x")), "too short"),  # no secret at all
        (otp_parameters(encode_field(1, b"short")), "too short"),
        (otp_parameters(encode_field(1, HELLO), encode_field(4, 4)), "MD5"),
        (otp_parameters(encode_field(1, HELLO), encode_field(4, 9)), "unknown algorithm"),
        (otp_parameters(encode_field(1, HELLO), encode_field(5, 3)), "unknown digits"),
        (otp_parameters(encode_field(1, HELLO), encode_field(6, 3)), "unknown type"),
        (otp_parameters(encode_field(1, HELLO), encode_field(7, 2**64 - 1)), "negative"),
        (otp_parameters(encode_field(1, HELLO), encode_field(2, b"\xff")), "not UTF-8"),
        (otp_parameters(encode_field(1, HELLO), encode_field(2, b"a:b:c")), "':'"),
        (b"\x0a\x05\x0a", "past the end"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than"),
        (b"\x08\xff", "truncated"),
        (b"\x0b", "wire type 3"),
        (b"\x00\x00", "field number 0"),
    ],
)
def test_malformed_payloads(payload: bytes, complaint: str) -> None:
    with pytest.raises(MigrationError, match=complaint):
        decode_payload(payload)
    if payload:
        with pytest.raises(MigrationError, match=complaint):
            parse_migration_uri(uri_for(payload))


@pytest.mark.parametrize(
    ("account", "complaint"),
    [
        (OtpAccount(secret=HELLO, account="a", period=60), "60 s period"),
        (OtpAccount(secret=HELLO, account="a", digits=7), "7 digits"),
    ],
)
def test_what_the_format_cannot_carry_is_refused_on_export(
    account: OtpAccount, complaint: str
) -> None:
    with pytest.raises(MigrationError, match=complaint):
        build_migration_uri([account])


def test_nothing_to_export() -> None:
    with pytest.raises(MigrationError, match="no accounts"):
        build_migration_uri([])


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63, MAX_VARINT])
def test_varints_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert read_varint(encoded + b"rest", 0) == (value, len(encoded))


def test_varint_out_of_range() -> None:
    with pytest.raises(ProtobufError):
        encode_varint(MAX_VARINT + 1)
    with pytest.raises(ProtobufError):
        encode_varint(-1)


# -- properties ----------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), max_size=20
)


@st.composite
def exportable_accounts(draw: st.DrawFn) -> OtpAccount:
    return OtpAccount(
        secret=draw(st.binary(min_size=10, max_size=64)),
        issuer=draw(names),
        account=draw(names),
        kind=draw(st.sampled_from(["totp", "hotp"])),
        algorithm=draw(st.sampled_from(["SHA1", "SHA256", "SHA512"])),
        digits=draw(st.sampled_from([6, 8])),
        counter=draw(st.integers(0, 2**63 - 1)),
    )


@given(st.lists(exportable_accounts(), min_size=1, max_size=5))
def test_export_import_round_trips(accounts: list[OtpAccount]) -> None:
    assert parse_migration_uri(build_migration_uri(accounts)) == accounts


@given(st.binary(max_size=200))
def test_random_payloads_decode_or_give_the_clear_error(payload: bytes) -> None:
    try:
        accounts = decode_payload(payload)
    except MigrationError:
        return
    assert accounts and all(isinstance(a, OtpAccount) for a in accounts)


@given(st.lists(exportable_accounts(), min_size=1, max_size=3), st.data())
def test_damaged_payloads_decode_or_give_the_clear_error(
    accounts: list[OtpAccount], data: st.DataObject
) -> None:
    payload = bytearray(encode_payload(accounts))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(payload) - 1))
        payload[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    with contextlib.suppress(MigrationError):
        parse_migration_uri(uri_for(bytes(payload[:cut])))


@given(st.text())
def test_random_text_is_refused_with_the_clear_error(text: str) -> None:
    for uri in (text, "otpauth-migration://offline?data=" + text):
        with contextlib.suppress(MigrationError):
            parse_migration_uri(uri)


def test_migration_errors_are_otpauth_errors() -> None:
    # One error type covers every URI the app accepts.
    assert issubclass(MigrationError, OtpauthError)
