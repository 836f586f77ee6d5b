"""Rendering: the Jinja2 environment (autoescaped), the headers every page carries, and the
rows of "My security credentials" built from the library's device records."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.iam_names import KIND_FIDO, KIND_HARDWARE, KIND_SMS, KIND_VIRTUAL
from tokenbench.verifier.store import Device
from tokenbench.verifier.webauthn import WebAuthnError, classify

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Scripts only from this origin (console.js), QR images as data: URLs, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages can hold a new device's seed
}

KIND_LABELS = {
    KIND_VIRTUAL: "Virtual MFA device",
    KIND_HARDWARE: "Hardware TOTP token",
    KIND_FIDO: "Passkey or security key",
    KIND_SMS: "SMS text message (legacy)",
}
FIDO_CLASS_LABELS = {"device-bound": "device-bound", "synced": "synced passkey"}

# Outcomes a redirect may announce: fixed texts, never text taken from the request.
NOTICES = {
    "assigned": "MFA device assigned.",
    "removed": "MFA device removed.",
    "key-added": "Security key or passkey registered.",
    "signed-out": "You have signed out.",
}


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def url_path(request: Request, name: str, **params: Any) -> str:
    """A route's path under the console's mount point (no host: never trust the Host header)."""
    return request.url_for(name, **params).path


def html(
    templates: jinja2.Environment, request: Request, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    page = templates.get_template(template).render(
        url=lambda name, **params: url_path(request, name, **params), **values
    )
    return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)


def json_answer(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=SECURITY_HEADERS)


def json_error(message: str, status: int, code: str | None = None) -> Response:
    return json_answer({"error": message.splitlines()[0], "code": code}, status)


@dataclass(frozen=True)
class DeviceRow:
    serial: str
    kind: str
    kind_label: str
    name: str
    enabled: str
    fido_class: str | None
    possibly_cloned: bool


def device_row(device: Device) -> DeviceRow:
    fido_class = None
    if device.kind == KIND_FIDO:
        try:
            kind = classify(bool(device.backup_eligible), bool(device.backup_state))
        except WebAuthnError:
            kind = "device-bound"
        fido_class = FIDO_CLASS_LABELS[kind]
    return DeviceRow(
        serial=device.serial,
        kind=device.kind,
        kind_label=KIND_LABELS.get(device.kind, device.kind),
        name=device.name or device.serial.rsplit("/", 1)[-1],
        enabled=names.iso_date(device.enable_date or device.created_at),
        fido_class=fido_class,
        possibly_cloned=device.possibly_cloned,
    )


def qr_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
