"""otpauth:// URIs: Google's Key Uri Format examples, every kind of malformed URI, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.emulators.totp.errors import OtpauthError
from tokenbench.emulators.totp.otp import OtpAccount, decode_base32
from tokenbench.emulators.totp.uri import build_otpauth, parse_otpauth

HELLO = b"Hello!\xde\xad\xbe\xef"  # JBSWY3DPEHPK3PXP, the Key Uri Format's example secret
GOOD = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"


def test_google_example() -> None:
    account = parse_otpauth(GOOD)
    assert account == OtpAccount(secret=HELLO, issuer="Example", account="alice@google.com")
    assert (account.kind, account.algorithm, account.digits, account.period) == (
        "totp",
        "SHA1",
        6,
        30,
    )


@pytest.mark.parametrize(
    ("label", "issuer_parameter", "issuer", "name"),
    [
        ("ACME%20Co:john.doe@email.com", "&issuer=ACME%20Co", "ACME Co", "john.doe@email.com"),
        ("Big%20Corporation%3A%20alice%40bigco.com", "", "Big Corporation", "alice@bigco.com"),
        ("Provider1:Alice%20Smith", "", "Provider1", "Alice Smith"),
        ("Example: alice", "", "Example", "alice"),
        ("alice@google.com", "&issuer=Example", "Example", "alice@google.com"),
        ("alice", "", "", "alice"),
        ("Old%20Name:alice", "&issuer=New+Name", "New Name", "alice"),  # the parameter wins
        ("", "", "", ""),
    ],
)
def test_labels(label: str, issuer_parameter: str, issuer: str, name: str) -> None:
    account = parse_otpauth(f"otpauth://totp/{label}?secret=JBSWY3DPEHPK3PXP{issuer_parameter}")
    assert (account.issuer, account.account) == (issuer, name)


def test_everything_but_the_secret_has_defaults_and_case_does_not_matter() -> None:
    account = parse_otpauth(
        "OTPAUTH://TOTP/x?SECRET=jbswy3dpehpk3pxp&Algorithm=sha512&DIGITS=8&period=60&image=x"
    )
    assert (account.secret, account.algorithm, account.digits, account.period) == (
        HELLO,
        "SHA512",
        8,
        60,
    )


def test_hotp_keeps_its_counter_and_padding_is_accepted() -> None:
    account = parse_otpauth("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP%3D%3D%3D&counter=42")
    assert (account.kind, account.counter, account.secret) == ("hotp", 42, HELLO)


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("https://example.com/?secret=JBSWY3DPEHPK3PXP", "not an otpauth"),
        ("otpauth:/totp/x?secret=JBSWY3DPEHPK3PXP", "not an otpauth"),
        ("otpauth://motp/x?secret=JBSWY3DPEHPK3PXP", "unknown OTP type"),
        ("otpauth://totp", "no label"),
        ("otpauth://totp/x", "no secret"),
        ("otpauth://totp/x?issuer=Example", "no secret"),
        ("otpauth://totp/x?secret=", "secret is empty"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PX1", "not Base32"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3P", "impossible Base32 length"),
        ("otpauth://totp/x?secret=JBSWY3DP", "too short"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5", "digits"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9", "digits"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=six", "whole number"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0", "period must be positive"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=-30", "whole number"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=1.5", "whole number"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=99999999999", "period"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5", "unsupported algorithm"),
        ("otpauth://totp/x%G1?secret=JBSWY3DPEHPK3PXP", "percent-encoding"),
        ("otpauth://totp/x%?secret=JBSWY3DPEHPK3PXP", "percent-encoding"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&issuer=%E2%28", "UTF-8"),
        ("otpauth://totp/%FF?secret=JBSWY3DPEHPK3PXP", "UTF-8"),
        ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP", "counter"),
        ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=-1", "whole number"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP", "twice"),
        ("otpauth://totp/x?secret", "no value"),
        ("otpauth://totp/A:B:C?secret=JBSWY3DPEHPK3PXP", "must not contain ':'"),
    ],
)
def test_malformed_uris_give_one_clear_error(uri: str, complaint: str) -> None:
    with pytest.raises(OtpauthError, match=complaint):
        parse_otpauth(uri)


def test_secrets_never_show_in_repr() -> None:
    account = parse_otpauth(GOOD)
    assert "JBSWY3DPEHPK3PXP" not in repr(account)
    assert repr(HELLO) not in repr(account)


def test_builder_escapes_what_would_break_the_uri() -> None:
    account = OtpAccount(secret=HELLO, issuer="A&B Co", account="x?y#z/%+ w")
    uri = build_otpauth(account)
    assert "#" not in uri and " " not in uri and uri.count("?") == 1
    assert parse_otpauth(uri) == account


# -- properties ----------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), max_size=24
)


@st.composite
def accounts(draw: st.DrawFn) -> OtpAccount:
    kind = draw(st.sampled_from(["totp", "hotp"]))
    return OtpAccount(
        secret=draw(st.binary(min_size=10, max_size=64)),
        issuer=draw(names),
        account=draw(names),
        kind=kind,
        algorithm=draw(st.sampled_from(["SHA1", "SHA256", "SHA512"])),
        digits=draw(st.integers(6, 8)),
        period=draw(st.integers(1, 2**31 - 1)),
        counter=draw(st.integers(0, 2**63 - 1)),
    )


@given(accounts())
def test_build_then_parse_round_trips(account: OtpAccount) -> None:
    assert parse_otpauth(build_otpauth(account)) == account


@given(st.binary(min_size=10, max_size=64))
def test_base32_secrets_round_trip_in_any_case_with_padding(secret: bytes) -> None:
    import base64

    text = base64.b32encode(secret).decode("ascii")
    assert decode_base32(text) == secret
    assert decode_base32(text.lower().rstrip("=")) == secret


def _parses_or_refuses(uri: str) -> None:
    try:
        account = parse_otpauth(uri)
    except OtpauthError:
        return
    assert isinstance(account, OtpAccount)


@given(st.text())
def test_junk_is_refused_with_the_one_error_type(junk: str) -> None:
    _parses_or_refuses(junk)


@given(st.sampled_from(["otpauth://totp/", "otpauth://hotp/", "otpauth://"]), st.text())
def test_junk_after_the_scheme_is_refused_with_the_one_error_type(prefix: str, junk: str) -> None:
    _parses_or_refuses(prefix + junk)


@given(accounts(), st.data())
def test_damaged_uris_parse_or_give_the_one_error_type(
    account: OtpAccount, data: st.DataObject
) -> None:
    uri = build_otpauth(account)
    position = data.draw(st.integers(0, len(uri)))
    insert = data.draw(st.text(alphabet="%:?&=#/+ 0Zz\x00é", max_size=3))
    cut = data.draw(st.integers(0, 3))
    _parses_or_refuses(uri[:position] + insert + uri[position + cut :])
