"""Reading the QR code on an enrolment PNG, as a phone camera would (Pillow + zxing-cpp).

Both libraries come with the `qr` extra; without them every call is a `QrCodeError` that says
what to install, so the rest of the TOTP emulator works without them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from tokenbench.emulators.totp.errors import QrCodeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 25_000_000  # a 5000x5000 picture; anything larger is not an enrolment screen


def _read_source(source: bytes | str | os.PathLike[str]) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "the image"
    try:
        return Path(source).read_bytes(), str(source)
    except FileNotFoundError:
        raise QrCodeError(f"no such file: {source}") from None
    except OSError as exc:
        raise QrCodeError(f"cannot read {source}: {exc.strerror or exc}") from None


def decode_qr_png(source: bytes | str | os.PathLike[str]) -> str:
    """The text of the QR code in a PNG (file path or bytes)."""
    data, name = _read_source(source)
    if not data.startswith(PNG_SIGNATURE):
        raise QrCodeError(f"{name} is not a PNG image")
    try:
        import zxingcpp
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise QrCodeError("QR support is not installed (pip install 'tokenbench[qr]')") from None
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            too_large = image.width * image.height > MAX_PIXELS
            grey = None if too_large else image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise QrCodeError(f"{name} is not a readable PNG image") from None
    if grey is None:
        raise QrCodeError(f"{name} is too large to be an enrolment screen")
    found = zxingcpp.read_barcodes(
        grey, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    texts = list(dict.fromkeys(barcode.text for barcode in found if barcode.valid))
    if not texts:
        raise QrCodeError(f"no QR code found in {name}")
    if len(texts) > 1:
        raise QrCodeError(f"{name} holds {len(texts)} different QR codes; expected one")
    return texts[0]
