"""The shared PSKC test files (tests/data/pskc, copied from shared/testdata/pskc; see its
README) read with python-pskc as the README says, and refused by `inspect_pskc`."""

from __future__ import annotations

from pathlib import Path

import pskc
import pytest
from pskc.exceptions import DecryptionError

from tokenbench.emulators.totp.errors import PskcError
from tokenbench.emulators.totp.provisioning import inspect_pskc

DATA = Path(__file__).resolve().parent.parent / "data" / "pskc"
RFC = DATA / "rfc6030"
HOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
FIGURE6_KEY = bytes.fromhex("12345678901234567890123456789012")


def test_the_readme_came_along() -> None:
    assert "RFC 6030" in (DATA / "README.md").read_text()


def test_figure2_plain_hotp_key() -> None:
    # The README's row for figure 2 (secret "12345678901234567890", 8 digits) does not match
    # the file, which is RFC 6030's Figure 2 as published: PlainValue MTIzNA== ("1234") and
    # no ResponseFormat. This checks the file; the README copy here carries a note.
    container = pskc.PSKC(str(RFC / "figure2.pskcxml"))
    (key,) = container.keys
    assert key.secret == b"1234"
    assert key.response_length is None
    assert (key.algorithm, key.id, key.issuer) == (HOTP_URN, "12345678", "Issuer-A")
    assert not container.encryption.is_encrypted


def test_figure6_pre_shared_key_with_mac() -> None:
    container = pskc.PSKC(str(RFC / "figure6.pskcxml"))
    assert container.encryption.key_name == "Pre-shared-key"
    assert container.encryption.is_encrypted
    container.encryption.key = FIGURE6_KEY
    assert container.mac.key == bytes.fromhex("1122334455667788990011223344556677889900")
    (key,) = container.keys
    assert key.secret == bytes.fromhex("3132333435363738393031323334353637383930")
    assert (key.algorithm, key.response_length) == (HOTP_URN, 8)
    assert (key.manufacturer, key.id) == ("Manufacturer", "12345678")


def test_figure6_refuses_a_wrong_key() -> None:
    container = pskc.PSKC(str(RFC / "figure6.pskcxml"))
    container.encryption.key = bytes(16)
    with pytest.raises(DecryptionError):
        container.keys[0].secret  # noqa: B018


def test_figure7_pbkdf2_password() -> None:
    container = pskc.PSKC(str(RFC / "figure7.pskcxml"))
    assert container.encryption.key_name == "My Password 1"
    container.encryption.derive_key("qwerty")
    assert container.encryption.key == bytes.fromhex("651e63cd57008476af1ff6422cd02e41")
    (key,) = container.keys
    assert key.secret == b"12345678901234567890"
    assert (key.algorithm, key.response_length) == (HOTP_URN, 8)
    assert key.manufacturer == "TokenVendorAcme"


def test_figure7_refuses_a_wrong_password() -> None:
    container = pskc.PSKC(str(RFC / "figure7.pskcxml"))
    container.encryption.derive_key("QWERTY")
    with pytest.raises(DecryptionError):
        container.keys[0].secret  # noqa: B018


@pytest.mark.parametrize(
    ("figure", "options", "digits", "secret_bytes"),
    [
        ("figure2", {}, None, 4),
        ("figure6", {"psk": FIGURE6_KEY}, 8, 20),
        ("figure7", {"password": "qwerty"}, 8, 20),
    ],
)
def test_inspect_reads_the_rfc_figures(
    figure: str, options: dict, digits: int | None, secret_bytes: int
) -> None:
    (info,) = inspect_pskc(RFC / f"{figure}.pskcxml", **options)
    assert (info.digits, info.secret_bytes) == (digits, secret_bytes)


@pytest.mark.parametrize("path", sorted((DATA / "invalid").glob("*.pskcxml")), ids=lambda p: p.stem)
def test_inspect_refuses_every_invalid_file(path: Path) -> None:
    with pytest.raises(PskcError):
        inspect_pskc(path, psk=FIGURE6_KEY)
