"""Enrolment by QR code: segno draws the PNG, the app reads it back through zxing-cpp."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.errors import OtpauthError, QrCodeError
from tokenbench.emulators.totp.qr import decode_qr_png
from tokenbench.emulators.totp.uri import parse_otpauth

URI = (
    "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
    "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60"
)


def qr_png(text: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", **{"scale": 4, **options})
    return buffer.getvalue()


def picture(mode: str = "L", size: tuple[int, int] = (200, 200), kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=255 if mode == "L" else (255, 255, 255)).save(buffer, kind)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "options", [{}, {"scale": 1}, {"scale": 10, "border": 8}, {"dark": "navy"}]
)
def test_a_scanned_qr_code_gives_the_same_account(tmp_path: Path, options: dict) -> None:
    path = tmp_path / "enrol.png"
    path.write_bytes(qr_png(URI, **options))
    app = VirtualTotpApp(FakeClock(1_700_000_000))
    from_file = app.add_qr_png(path)
    assert from_file == parse_otpauth(URI)
    assert app.add_qr_png(path.read_bytes()) == from_file
    assert app.code(from_file) == parse_otpauth(URI).code_at(1_700_000_000)


def test_decode_returns_the_text() -> None:
    assert decode_qr_png(qr_png(URI)) == URI


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", "not a PNG"),
        (picture(kind="JPEG"), "not a PNG"),
        (picture(kind="GIF"), "not a PNG"),
        (b"", "not a PNG"),
        (picture(), "no QR code"),
        (picture("RGB", (40, 30)), "no QR code"),
        (picture()[:60], "not a readable PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable PNG"),
    ],
)
def test_images_without_a_readable_qr_code(data: bytes, complaint: str) -> None:
    with pytest.raises(QrCodeError, match=complaint):
        decode_qr_png(data)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(QrCodeError, match="no such file"):
        decode_qr_png(tmp_path / "absent.png")
    with pytest.raises(QrCodeError, match="cannot read"):
        decode_qr_png(tmp_path)  # a directory


def test_two_different_codes_in_one_picture_are_refused() -> None:
    left = Image.open(io.BytesIO(qr_png(URI)))
    right = Image.open(io.BytesIO(qr_png("otpauth://totp/other?secret=JBSWY3DPEHPK3PXP")))
    both = Image.new("L", (left.width + right.width, max(left.height, right.height)), 255)
    both.paste(left.convert("L"), (0, 0))
    both.paste(right.convert("L"), (left.width, 0))
    buffer = io.BytesIO()
    both.save(buffer, "PNG")
    with pytest.raises(QrCodeError, match="2 different QR codes"):
        decode_qr_png(buffer.getvalue())


def test_a_qr_code_that_is_not_an_otpauth_uri() -> None:
    app = VirtualTotpApp(FakeClock(0))
    with pytest.raises(OtpauthError, match="not an otpauth"):
        app.add_qr_png(qr_png("https://example.com/"))
    assert app.accounts == ()


@given(st.binary(max_size=400))
def test_random_bytes_are_refused_with_the_clear_error(data: bytes) -> None:
    with pytest.raises(QrCodeError):
        decode_qr_png(data)


@given(st.lists(st.integers(min_value=0), min_size=1, max_size=6), st.binary(min_size=1))
def test_damaged_qr_pngs_decode_or_give_the_clear_error(positions: list[int], junk: bytes) -> None:
    damaged = bytearray(qr_png(URI))
    for position in positions:
        damaged[position % len(damaged)] = junk[position % len(junk)]
    try:
        text = decode_qr_png(bytes(damaged))
    except QrCodeError as exc:
        assert "\n" not in str(exc)
    else:
        assert text == URI  # QR error correction may still recover the same text
