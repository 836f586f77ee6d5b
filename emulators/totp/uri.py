"""`otpauth://` URIs, as Google's Key Uri Format describes them.

    otpauth://TYPE/LABEL?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
    LABEL = [issuer (":" | "%3A") *spaces] accountname

Parsing is strict about what would silently give wrong codes (bad Base32, bad numbers, unknown
algorithms, broken percent-encoding, repeated parameters) and lenient where apps are: the
type, scheme and parameter names are case-insensitive, and unknown parameters (`image`, ...)
are ignored. When both the `issuer` parameter and a label prefix are present, the parameter
wins, as Google Authenticator does. In the query `+` means a space (form encoding); the
builder writes `%20` and `%2B`, so both readings agree on what it writes.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from tokenbench.emulators.totp.errors import OtpauthError
from tokenbench.emulators.totp.otp import (
    DEFAULT_PERIOD,
    HOTP,
    KINDS,
    LABEL_SEPARATOR,
    TOTP,
    OtpAccount,
    decode_base32,
)

SCHEME = "otpauth"
_PREFIX = f"{SCHEME}://"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR = re.compile(r"%3A", re.IGNORECASE)
_DECIMAL = re.compile(r"[0-9]{1,19}")


def percent_decode(text: str, what: str, *, plus_is_space: bool = False) -> str:
    """Strict percent-decoding: a stray `%` or invalid UTF-8 is an `OtpauthError`."""
    if _BAD_ESCAPE.search(text):
        raise OtpauthError(f"bad percent-encoding in {what}")
    if plus_is_space:
        text = text.replace("+", " ")
    try:
        return unquote(text, errors="strict")
    except UnicodeError:
        raise OtpauthError(f"{what} is not valid UTF-8 after percent-decoding") from None


def split_label(label: str, issuer: str | None) -> tuple[str, str]:
    """(issuer, account) from a decoded label `Issuer:account`; `issuer` (the parameter) wins."""
    prefix, separator, rest = label.partition(LABEL_SEPARATOR)
    if not separator:
        return issuer or "", label
    return (prefix if issuer is None else issuer), rest.lstrip(" ")


def _parse_query(query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in query.split("&"):
        if not item:
            continue
        raw_name, equals, raw_value = item.partition("=")
        if not equals:
            raise OtpauthError(f"parameter {raw_name[:40]!r} has no value")
        name = percent_decode(raw_name, "a parameter name", plus_is_space=True).lower()
        value = percent_decode(raw_value, f"parameter {name!r}", plus_is_space=True)
        if name in parameters:
            raise OtpauthError(f"parameter {name!r} is given twice")
        parameters[name] = value
    return parameters


def _number(parameters: dict[str, str], name: str) -> int | None:
    value = parameters.get(name)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value):
        raise OtpauthError(f"{name} must be a whole number, not {value[:40]!r}")
    return int(value)


def parse_otpauth(uri: str) -> OtpAccount:
    """An `otpauth://totp/...` or `otpauth://hotp/...` URI -> the account it provisions."""
    if not isinstance(uri, str):
        raise OtpauthError("an otpauth URI must be text")
    uri = uri.strip()
    if uri[: len(_PREFIX)].lower() != _PREFIX:
        raise OtpauthError("not an otpauth:// URI")
    rest = uri[len(_PREFIX) :].partition("#")[0]
    kind, slash, rest = rest.partition("/")
    kind = kind.lower()
    if kind not in KINDS:
        raise OtpauthError(f"unknown OTP type {kind[:20]!r} (totp or hotp)")
    if not slash:
        raise OtpauthError("otpauth URI has no label")
    raw_label, _, query = rest.partition("?")
    parameters = _parse_query(query)
    if "secret" not in parameters:
        raise OtpauthError("otpauth URI has no secret parameter")
    # A percent-encoded colon separates like a literal one: decode the label in two halves.
    raw_label = _ENCODED_SEPARATOR.sub(LABEL_SEPARATOR, raw_label, count=1)
    head, separator, tail = raw_label.partition(LABEL_SEPARATOR)
    label = percent_decode(head, "the label") + separator + percent_decode(tail, "the label")
    issuer, account = split_label(label, parameters.get("issuer"))
    counter = _number(parameters, "counter")
    if kind == HOTP and counter is None:
        raise OtpauthError("a hotp URI needs a counter parameter")
    period = _number(parameters, "period")
    if period is not None and period <= 0:
        raise OtpauthError(f"period must be positive, not {period}")
    digits = _number(parameters, "digits")
    return OtpAccount(
        secret=decode_base32(parameters["secret"]),
        issuer=issuer,
        account=account,
        kind=kind,
        algorithm=parameters.get("algorithm", "SHA1"),
        digits=6 if digits is None else digits,
        period=DEFAULT_PERIOD if period is None else period,
        counter=counter or 0,
    )


def build_otpauth(account: OtpAccount) -> str:
    """The `otpauth://` URI that `parse_otpauth` turns back into an equal account."""
    label = quote(account.account, safe="@")
    if account.issuer:
        label = f"{quote(account.issuer, safe='@')}{LABEL_SEPARATOR}{label}"
    parameters = [("secret", account.secret_base32)]
    if account.issuer:
        parameters.append(("issuer", account.issuer))
    parameters += [("algorithm", account.algorithm), ("digits", str(account.digits))]
    if account.kind == TOTP or account.period != DEFAULT_PERIOD:
        parameters.append(("period", str(account.period)))
    if account.kind == HOTP:
        parameters.append(("counter", str(account.counter)))
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in parameters)
    return f"{_PREFIX}{account.kind}/{label}?{query}"
