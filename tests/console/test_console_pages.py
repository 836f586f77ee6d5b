"""Every console page and form through Starlette's TestClient: sign-in, MFA by TOTP, "My
security credentials" (virtual device by QR and two codes, hardware token by serial, remove),
sign-out; CSRF refusals, cookie flags, a tampered cookie, a session stuck before the password
or MFA step, lockouts and the library's errors as one-line messages."""

from __future__ import annotations

import base64
import io
import re

import zxingcpp
from argon2.profiles import CHEAPEST
from console_helpers import (
    PASSWORD,
    SESSION_KEY,
    ConsoleUser,
    csrf_of,
    mounted,
    totp_at,
)
from itsdangerous import URLSafeSerializer
from PIL import Image
from starlette.testclient import TestClient

from tokenbench.verifier.http.console.context import CSRF_REFUSED
from tokenbench.verifier.http.console.sessions import (
    COOKIE_NAME,
    MFA_PENDING_SECONDS,
    SECURE_COOKIE_NAME,
)
from tokenbench.verifier.iam import ADMIN, BAD_CODE
from tokenbench.verifier.login_profiles import LOCKED_MESSAGE, SIGN_IN_FAILED, LoginProfiles
from tokenbench.verifier.seeds import ImportedSeed
from tokenbench.verifier.service import MovableClock, Service
from tokenbench.verifier.totp import TotpParams

HARDWARE_SERIAL = "GAKT000047"
HARDWARE_SECRET = bytes(range(1, 21))
_SECRET = re.compile(r'<code id="secret">([A-Z2-7]+)</code>')
_SERIAL = re.compile(r'name="serial_number" id="serial-number" value="([^"]+)"')
_QR = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def now(service: Service) -> float:
    return service.clock.now()


def assign_virtual(user: ConsoleUser, service: Service, name: str = "phone") -> str:
    """Start the virtual device, read its seed from the page, send two consecutive codes."""
    page = user.post("/console/credentials/virtual", device_name=name)
    assert page.status_code == 200, page.text
    assert "<h1>Set up virtual MFA device</h1>" in page.text
    seed = _SECRET.search(page.text)
    serial = _SERIAL.search(page.text)
    assert seed and serial
    t = now(service)
    done = user.post(
        "/console/credentials/enable",
        serial_number=serial.group(1),
        code1=totp_at(seed.group(1), t - 30),
        code2=totp_at(seed.group(1), t),
    )
    assert done.status_code == 200 and "MFA device assigned." in done.text, done.text
    return seed.group(1)


def advance(service: Service, seconds: float) -> None:
    clock = service.clock
    assert isinstance(clock, MovableClock)
    clock.advance(seconds)


def test_sign_in_page_and_cookie_flags(client: TestClient) -> None:
    response = client.get("/console/")
    assert response.status_code == 200
    assert str(response.url).endswith("/console/signin")
    assert "<h1>Sign in as IAM user</h1>" in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_secure_cookies_use_host_prefix(service: Service) -> None:
    with TestClient(mounted(service, secure=True), base_url="https://testserver") as client:
        cookie = client.get("/console/signin").headers["set-cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE_NAME}=")
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_password_only_sign_in_without_devices(user: ConsoleUser) -> None:
    response = user.sign_in()
    assert response.status_code == 200
    assert str(response.url).endswith("/console/credentials")
    assert "<h1>My security credentials</h1>" in response.text
    assert "signed in without MFA" in response.text
    assert 'id="no-devices"' in response.text


def test_wrong_password_and_unknown_user_same_page(user: ConsoleUser) -> None:
    pages = []
    for name, password in (("alice", "Wrong-Pass-1"), ("mallory", PASSWORD)):
        response = user.sign_in(name, password)
        assert response.status_code == 401
        assert "<h1>Sign in as IAM user</h1>" in response.text
        pages.append(re.sub(r'value="[^"]*"|content="[^"]*"', "", response.text))
    assert SIGN_IN_FAILED in pages[0]
    assert pages[0] == pages[1].replace("mallory", "alice")


def test_password_lockout(user: ConsoleUser, service: Service) -> None:
    for _ in range(service.iam.policy.lockout_limit):
        assert user.sign_in("alice", "Wrong-Pass-1").status_code == 401
    locked = user.sign_in()
    assert locked.status_code == 401 and LOCKED_MESSAGE in locked.text
    advance(service, service.iam.policy.lockout_cooldown + 1)
    assert str(user.sign_in().url).endswith("/console/credentials")


def test_csrf_refusals(user: ConsoleUser, client: TestClient) -> None:
    user.get("/console/signin")
    missing = client.post("/console/signin", data={"user_name": "alice", "password": PASSWORD})
    assert missing.status_code == 403
    assert "<h1>Request refused</h1>" in missing.text
    wrong = client.post(
        "/console/signin",
        data={"user_name": "alice", "password": PASSWORD, "csrf_token": "x" * 43},
    )
    assert wrong.status_code == 403
    user.sign_in()
    stale = user.csrf
    user.csrf = "not-the-token"
    assert user.post("/console/credentials/virtual", device_name="phone").status_code == 403
    user.csrf = stale
    assert user.post("/console/credentials/virtual", device_name="phone").status_code == 200
    json_missing = client.post("/console/credentials/key/begin", json={"name": "k"})
    assert json_missing.status_code == 403
    assert "error" in json_missing.json()


def test_csrf_token_of_the_sign_in_form_dies_with_the_stage(user: ConsoleUser) -> None:
    user.get("/console/signin")
    before = user.csrf
    user.sign_in()
    assert user.csrf != before
    user.csrf = before
    assert user.post("/console/credentials/virtual", device_name="phone").status_code == 403


def test_tampered_cookie_refused(user: ConsoleUser, client: TestClient) -> None:
    user.sign_in()
    value = client.cookies[COOKIE_NAME]
    payload, _, signature = value.rpartition(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(b'"mfa":false', b'"mfa":true ')
        )
        .decode()
        .rstrip("=")
    )
    for bad in (forged_payload + "." + signature, value[:-2] + "AA", "garbage"):
        client.cookies.set(COOKIE_NAME, bad)
        response = client.get("/console/credentials")
        assert str(response.url).endswith("/console/signin")
        assert "My security credentials" not in response.text
    other_key = URLSafeSerializer(b"k" * 32, salt="tokenbench.console.session")
    client.cookies.set(
        COOKIE_NAME,
        other_key.dumps({"stage": "in", "csrf": "x", "expires": 4e9, "user": "alice"}),
    )
    assert str(client.get("/console/credentials").url).endswith("/console/signin")


def test_hand_made_payload_signed_with_the_key_but_malformed(client: TestClient) -> None:
    good_key = URLSafeSerializer(SESSION_KEY, salt="tokenbench.console.session")
    for payload in ([1, 2], {"stage": "in", "csrf": "x", "expires": "soon", "user": "alice"}):
        client.cookies.set(COOKIE_NAME, good_key.dumps(payload))
        assert str(client.get("/console/credentials").url).endswith("/console/signin")


def test_mfa_pending_session_cannot_reach_credentials(
    user: ConsoleUser, client: TestClient, service: Service
) -> None:
    user.sign_in()
    assign_virtual(user, service)
    user.post("/console/signout")
    pending = user.sign_in()
    assert str(pending.url).endswith("/console/mfa")
    assert "<h1>Multi-factor authentication</h1>" in pending.text
    page = client.get("/console/credentials")
    assert str(page.url).endswith("/console/mfa")
    assert "My security credentials" not in page.text
    for path, fields in (
        ("/console/credentials/virtual", {"device_name": "x"}),
        ("/console/credentials/remove", {"serial_number": "x"}),
        ("/console/credentials/enable", {"serial_number": "x", "code1": "1", "code2": "2"}),
    ):
        refused = user.post(path, **fields)
        assert refused.status_code == 401, path
    begin = client.post(
        "/console/credentials/key/begin", json={}, headers={"x-csrf-token": user.csrf}
    )
    assert begin.status_code == 401


def test_virtual_device_qr_sign_in_and_remove(
    user: ConsoleUser, client: TestClient, service: Service
) -> None:
    user.sign_in()
    page = user.post("/console/credentials/virtual", device_name="phone")
    png = base64.b64decode(_QR.search(page.text).group(1))  # type: ignore[union-attr]
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    seed = _SECRET.search(page.text).group(1)  # type: ignore[union-attr]
    assert decoded and f"secret={seed}" in decoded[0].text
    assert decoded[0].text.startswith("otpauth://totp/phone@alice?")
    serial = _SERIAL.search(page.text).group(1)  # type: ignore[union-attr]
    t = now(service)
    user.post(
        "/console/credentials/enable",
        serial_number=serial,
        code1=totp_at(seed, t - 30),
        code2=totp_at(seed, t),
    )
    listed = user.get("/console/credentials")
    assert "Virtual MFA device" in listed and serial in listed
    user.post("/console/signout")
    user.sign_in()
    wrong = user.post("/console/mfa/totp", serial_number=serial, code="000000")
    assert wrong.status_code == 401 and BAD_CODE in wrong.text
    advance(service, 30)
    ok = user.post("/console/mfa/totp", serial_number=serial, code=totp_at(seed, now(service)))
    assert str(ok.url).endswith("/console/credentials")
    assert "signed in without MFA" not in ok.text
    removed = user.post("/console/credentials/remove", serial_number=serial)
    assert "MFA device removed." in removed.text
    assert 'id="no-devices"' in removed.text
    assert service.store.device(serial) is None  # the console deletes a removed virtual device


def test_hardware_token_by_serial(user: ConsoleUser, service: Service) -> None:
    service.iam.import_seeds([ImportedSeed(HARDWARE_SERIAL, HARDWARE_SECRET, TotpParams())])
    seed = base64.b32encode(HARDWARE_SECRET).decode()
    user.sign_in()
    t = now(service)
    bad = user.post(
        "/console/credentials/enable",
        serial_number=HARDWARE_SERIAL,
        code1="123456",
        code2="654321",
    )
    assert bad.status_code == 400
    assert (
        '<p class="error" role="alert" id="error">Authentication code for device is not valid.'
        in (bad.text)
    )
    done = user.post(
        "/console/credentials/enable",
        serial_number=HARDWARE_SERIAL,
        code1=totp_at(seed, t - 30),
        code2=totp_at(seed, t),
    )
    assert "Hardware TOTP token" in done.text and HARDWARE_SERIAL in done.text
    user.post("/console/signout")
    user.sign_in()
    advance(service, 30)
    signed = user.post(
        "/console/mfa/totp", serial_number=HARDWARE_SERIAL, code=totp_at(seed, now(service))
    )
    assert str(signed.url).endswith("/console/credentials")
    removed = user.post("/console/credentials/remove", serial_number=HARDWARE_SERIAL)
    assert "MFA device removed." in removed.text
    assert service.store.device(HARDWARE_SERIAL) is not None  # a token returns to the pool


def test_unknown_hardware_serial_is_one_line_error(user: ConsoleUser) -> None:
    user.sign_in()
    response = user.post(
        "/console/credentials/enable", serial_number="NOSUCH0001", code1="123456", code2="234567"
    )
    assert response.status_code == 400
    errors = re.findall(r'<p class="error" role="alert" id="error">([^<]*)</p>', response.text)
    assert errors == ["MFA Device with serial number NOSUCH0001 not found."]


def test_second_device_needs_an_mfa_session(user: ConsoleUser, service: Service) -> None:
    user.sign_in()
    assign_virtual(user, service)
    refused = user.post("/console/credentials/virtual", device_name="tablet")
    assert refused.status_code == 400
    assert "sign in with it first" in refused.text


def test_mfa_lockout(user: ConsoleUser, service: Service) -> None:
    user.sign_in()
    seed = assign_virtual(user, service)
    serial = f"arn:aws:iam::{service.account_id}:mfa/phone"
    user.post("/console/signout")
    user.sign_in()
    for _ in range(service.iam.policy.lockout_limit):
        assert (
            user.post("/console/mfa/totp", serial_number=serial, code="000000").status_code == 401
        )
    advance(service, 30)
    locked = user.post("/console/mfa/totp", serial_number=serial, code=totp_at(seed, now(service)))
    assert locked.status_code == 401 and "locked after too many failed codes" in locked.text


def test_mfa_stage_expires_by_service_clock(user: ConsoleUser, service: Service) -> None:
    user.sign_in()
    assign_virtual(user, service)
    user.post("/console/signout")
    user.sign_in()
    advance(service, MFA_PENDING_SECONDS + 1)
    page = user.client.get("/console/mfa")
    assert str(page.url).endswith("/console/signin")


def test_sign_out_clears_the_session(user: ConsoleUser, client: TestClient) -> None:
    user.sign_in()
    out = user.post("/console/signout")
    assert str(out.url).endswith("/console/signin?notice=signed-out")
    assert "You have signed out." in out.text
    assert str(client.get("/console/credentials").url).endswith("/console/signin")


def test_page_text_is_escaped(user: ConsoleUser) -> None:
    response = user.sign_in("<script>alert(1)</script>", PASSWORD)
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_static_script_served(client: TestClient) -> None:
    script = client.get("/console/static/console.js")
    assert script.status_code == 200
    assert "navigator.credentials.create" in script.text
    assert "://" not in script.text  # no external scripts or CDNs
    assert csrf_of(client.get("/console/signin").text)


def test_password_reset_required_before_mfa(user: ConsoleUser, service: Service) -> None:
    profiles = LoginProfiles(service.iam, parameters=CHEAPEST)
    profiles.update_login_profile(ADMIN, UserName="alice", PasswordResetRequired=True)
    page = user.sign_in()
    assert str(page.url).endswith("/console/password")
    assert "<h1>Set a new password</h1>" in page.text
    assert str(user.client.get("/console/credentials").url).endswith("/console/password")
    mismatch = user.post(
        "/console/password",
        old_password=PASSWORD,
        new_password="Brand-New-1",
        new_password_again="Brand-New-2",
    )
    assert mismatch.status_code == 400 and "do not match" in mismatch.text
    weak = user.post(
        "/console/password",
        old_password=PASSWORD,
        new_password="weakweak",
        new_password_again="weakweak",
    )
    assert weak.status_code == 400 and "minimum length" not in weak.text
    assert "at least 3 of" in weak.text
    done = user.post(
        "/console/password",
        old_password=PASSWORD,
        new_password="Brand-New-1",
        new_password_again="Brand-New-1",
    )
    assert str(done.url).endswith("/console/credentials")
    user.post("/console/signout")
    assert str(user.sign_in("alice", "Brand-New-1").url).endswith("/console/credentials")


def test_session_from_before_the_password_step_reaches_nothing(
    user: ConsoleUser, client: TestClient
) -> None:
    user.get("/console/signin")  # an anonymous session with a valid CSRF token
    page = client.get("/console/credentials")
    assert str(page.url).endswith("/console/signin")
    assert "My security credentials" not in page.text
    assert str(client.get("/console/mfa").url).endswith("/console/signin")
    refused = user.post("/console/credentials/virtual", device_name="phone")
    assert refused.status_code == 401 and "My security credentials" not in refused.text
    assert user.post("/console/mfa/totp", serial_number="x", code="123456").status_code == 401
    for path in ("/console/credentials/key/begin", "/console/mfa/key/begin"):
        answer = client.post(path, json={}, headers={"x-csrf-token": user.csrf})
        assert answer.status_code == 401, path


def test_webauthn_json_endpoints_check_csrf_header(
    user: ConsoleUser, client: TestClient, service: Service
) -> None:
    user.sign_in()
    assign_virtual(user, service)
    user.post("/console/signout")
    user.sign_in()  # MFA pending; the user has no key, but CSRF is checked first
    for header in ({}, {"x-csrf-token": "forged"}):
        answer = client.post("/console/mfa/key/begin", json={}, headers=header)
        assert (answer.status_code, answer.json()["error"]) == (403, CSRF_REFUSED)
    no_key = client.post("/console/mfa/key/begin", json={}, headers={"x-csrf-token": user.csrf})
    assert no_key.status_code == 403
    assert no_key.json() == {"error": "alice has no FIDO security key", "code": "AccessDenied"}
    garbage = client.post(
        "/console/mfa/key/finish", content=b"{not json", headers={"x-csrf-token": user.csrf}
    )
    assert garbage.status_code == 400 and garbage.json()["error"] == "the request body is not JSON"
