"""The console in a real browser: headless Chromium driven over the DevTools protocol
(`cdp.py`), the console served by uvicorn on 127.0.0.1 and opened as http://localhost:PORT
(a secure context, so WebAuthn runs). Security keys and passkeys are Chromium's virtual
authenticators (`WebAuthn.addVirtualAuthenticator`): a USB key without resident keys, a
platform authenticator with user verification, and one whose credentials are backup eligible
and backed up (a synced passkey), which the page must show as "synced passkey".

Chromium is a test dependency (`make test` installs it); without it these tests fail.
"""

from __future__ import annotations

import base64
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cdp import Browser, Page
from console_helpers import PASSWORD, add_user, make_service, mounted, totp_at
from PIL import Image

from tokenbench.verifier.seeds import ImportedSeed
from tokenbench.verifier.service import MovableClock, Service
from tokenbench.verifier.totp import TotpParams

USB_KEY = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": False,
    "hasUserVerification": False,
    "automaticPresenceSimulation": True,
}
PLATFORM_PASSKEY = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
SYNCED_PASSKEY = {
    **PLATFORM_PASSKEY,
    "defaultBackupEligibility": True,
    "defaultBackupState": True,
}


class Served:
    """The console on a free loopback port, served by uvicorn in a thread."""

    def __init__(self, tmp: Path) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.origin = f"http://localhost:{self.port}"
        self.service: Service = make_service(
            tmp, rp_id="localhost", origins=frozenset({self.origin}), lockout=False
        )
        config = uvicorn.Config(mounted(self.service), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.02)

    def url(self, path: str = "/console/") -> str:
        return self.origin + path

    def now(self) -> float:
        return self.service.clock.now()

    def advance(self, seconds: float) -> None:
        clock = self.service.clock
        assert isinstance(clock, MovableClock)
        clock.advance(seconds)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        self.service.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = Served(tmp_path_factory.mktemp("served"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    opened = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield opened
    opened.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page()
    yield opened
    browser.close_page(opened)


def heading(page: Page) -> str:
    return page.text("h1")


def sign_in(page: Page, served: Served, user: str) -> None:
    page.navigate(served.url())
    assert heading(page) == "Sign in as IAM user"
    page.submit("sign-in-form", {"user-name": user, "password": PASSWORD})


def sign_out(page: Page) -> None:
    page.loads_after("document.getElementById('sign-out').click()")
    assert heading(page) == "Sign in as IAM user"


def device_kinds(page: Page) -> list[str]:
    value = page.evaluate(
        "Array.from(document.querySelectorAll('tr.device .kind')).map(e => e.textContent)"
    )
    return [str(v) for v in value]


def remove_only_device(page: Page) -> None:
    page.loads_after("document.querySelector('form.remove').requestSubmit()")
    assert page.text(".notice") == "MFA device removed."
    assert page.evaluate("!!document.getElementById('no-devices')")


def enter_totp(page: Page, served: Served, seed: str, serial: str) -> None:
    assert heading(page) == "Multi-factor authentication"
    served.advance(30)  # a new step: the enrolment's last code cannot be replayed
    code = totp_at(seed, served.now())
    page.submit("totp-form", {"serial-number": serial, "code": code})
    assert heading(page) == "My security credentials", page.text("#error")


def add_authenticator(page: Page, options: dict[str, Any]) -> str:
    page.cdp.send("WebAuthn.enable", {"enableUI": False})
    answer = page.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return str(answer["authenticatorId"])


def test_password_and_totp_sign_in_with_virtual_device(page: Page, served: Served) -> None:
    add_user(served.service, "vera")
    sign_in(page, served, "vera")
    assert heading(page) == "My security credentials"
    page.submit("virtual-form", {"virtual-name": "vera-phone"})
    assert heading(page) == "Set up virtual MFA device"
    assert page.evaluate("document.getElementById('qr').naturalWidth > 0")
    seed = page.text("#secret")
    serial = str(page.evaluate("document.getElementById('serial-number').value"))
    now = served.now()
    page.submit("enable-form", {"code1": totp_at(seed, now - 30), "code2": totp_at(seed, now)})
    assert page.text(".notice") == "MFA device assigned."
    assert device_kinds(page) == ["Virtual MFA device"]
    sign_out(page)
    sign_in(page, served, "vera")
    enter_totp(page, served, seed, serial)
    remove_only_device(page)


def test_hardware_token_by_serial(page: Page, served: Served) -> None:
    secret = bytes(range(100, 120))
    serial = "GAKT000099"
    served.service.iam.import_seeds([ImportedSeed(serial, secret, TotpParams())])
    seed = base64.b32encode(secret).decode()
    add_user(served.service, "hank")
    sign_in(page, served, "hank")
    now = served.now()
    page.submit(
        "hardware-form",
        {
            "hardware-serial": serial,
            "hardware-code1": totp_at(seed, now - 30),
            "hardware-code2": totp_at(seed, now),
        },
    )
    assert device_kinds(page) == ["Hardware TOTP token"], page.text("#error")
    sign_out(page)
    sign_in(page, served, "hank")
    enter_totp(page, served, seed, serial)
    remove_only_device(page)


@pytest.mark.parametrize(
    ("options", "label"),
    [
        (USB_KEY, "device-bound"),
        (PLATFORM_PASSKEY, "device-bound"),
        (SYNCED_PASSKEY, "synced passkey"),
    ],
    ids=["usb-security-key", "platform-passkey", "synced-passkey"],
)
def test_security_key_register_sign_in_remove(
    page: Page, served: Served, options: dict[str, Any], label: str
) -> None:
    user = "kim-" + label.replace(" ", "-") + "-" + str(options["transport"])
    add_user(served.service, user)
    add_authenticator(page, options)
    sign_in(page, served, user)
    page.evaluate("document.getElementById('key-name').value = 'my-key'")
    outcome = page.loads_after("tbConsole.register()", await_promise=True)
    assert outcome == "ok", outcome
    assert page.text(".notice") == "Security key or passkey registered."
    assert device_kinds(page) == [f"Passkey or security key {label}"]
    sign_out(page)
    sign_in(page, served, user)
    assert heading(page) == "Multi-factor authentication"
    outcome = page.loads_after("tbConsole.signIn()", await_promise=True)
    assert outcome == "ok", outcome
    assert heading(page) == "My security credentials"
    assert "signed in without MFA" not in page.text("main")
    remove_only_device(page)


def test_security_key_sign_in_refused_without_the_key(browser: Browser, served: Served) -> None:
    """Registered with one virtual key, then asked for from a browser without it: the page
    shows the failure on one line and stays on the MFA page."""
    add_user(served.service, "nokey")
    first = browser.new_page()
    try:
        add_authenticator(first, USB_KEY)
        sign_in(first, served, "nokey")
        assert first.loads_after("tbConsole.register()", await_promise=True) == "ok"
    finally:
        browser.close_page(first)
    second = browser.new_page()
    try:
        add_authenticator(second, USB_KEY)  # another key: holds no allowed credential
        sign_in(second, served, "nokey")
        outcome = second.evaluate(
            "Promise.race([tbConsole.signIn(),"
            " new Promise(r => setTimeout(() => r('timeout'), 8000))])",
            await_promise=True,
        )
        assert str(outcome).startswith("error: "), outcome
        assert second.evaluate("!document.getElementById('script-error').hidden")
        assert heading(second) == "Multi-factor authentication"
    finally:
        browser.close_page(second)


def _rendered(png: bytes) -> None:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.width > 100 and image.height > 100
    colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 1, "the page rendered as one flat colour"


def test_screenshot_of_each_page(page: Page, served: Served, tmp_path: Path) -> None:
    add_user(served.service, "shots")
    shots: dict[str, str] = {}

    def shoot(name: str, expected: str) -> None:
        assert heading(page) == expected
        png = page.screenshot()
        (tmp_path / f"{name}.png").write_bytes(png)
        _rendered(png)
        shots[name] = expected

    page.navigate(served.url())
    shoot("sign-in", "Sign in as IAM user")
    page.submit("sign-in-form", {"user-name": "shots", "password": PASSWORD})
    shoot("credentials-empty", "My security credentials")
    page.submit("virtual-form", {"virtual-name": "shots-phone"})
    shoot("assign-virtual", "Set up virtual MFA device")
    seed = page.text("#secret")
    serial = str(page.evaluate("document.getElementById('serial-number').value"))
    now = served.now()
    page.submit("enable-form", {"code1": totp_at(seed, now - 30), "code2": totp_at(seed, now)})
    shoot("credentials-one-device", "My security credentials")
    sign_out(page)
    page.submit("sign-in-form", {"user-name": "shots", "password": PASSWORD})
    shoot("mfa", "Multi-factor authentication")
    page.submit("totp-form", {"serial-number": serial, "code": "000000"})
    shoot("mfa-error", "Multi-factor authentication")
    assert "invalid MFA one time pass code" in page.text("#error")
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{n}.png" for n in shots)
