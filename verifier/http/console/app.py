"""The console as one Starlette app, mounted by `tokenbench serve` at /console.

AWS's Management Console is the model: sign in with user name and password, then MFA (a code
from a TOTP device, or a security key / passkey); "My security credentials" lists the user's MFA
devices and assigns (virtual app by QR code and two codes, hardware token by serial and two
codes, security key or passkey by WebAuthn) and removes them.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tokenbench.verifier.http.console import views
from tokenbench.verifier.http.console.ceremonies import Ceremonies
from tokenbench.verifier.http.console.context import ConsoleContext
from tokenbench.verifier.http.console.pages import Pages
from tokenbench.verifier.http.console.sessions import SessionCodec
from tokenbench.verifier.login_profiles import LoginProfiles
from tokenbench.verifier.service import Service


def build_console(
    service: Service,
    *,
    session_key: bytes,
    secure_cookies: bool = False,
    profiles: LoginProfiles | None = None,
) -> Starlette:
    """The console over `service`. `session_key` signs the session cookies (32 bytes or more,
    the same in every worker); `secure_cookies` when it is served over HTTPS. `profiles` lets
    tests pass cheaper password-hash parameters."""
    ctx = ConsoleContext(
        service=service,
        profiles=profiles or service.login_profiles,
        sessions=SessionCodec(session_key, service.clock, secure=secure_cookies),
        templates=views.environment(),
    )
    pages, ceremonies = Pages(ctx), Ceremonies(ctx)
    routes = [
        Route("/", pages.home, name="home"),
        Route("/signin", pages.sign_in_form, name="sign_in"),
        Route("/signin", pages.sign_in, methods=["POST"], name="sign_in_post"),
        Route("/password", pages.password_form, name="password"),
        Route("/password", pages.change_password, methods=["POST"], name="change_password"),
        Route("/mfa", pages.mfa_form, name="mfa"),
        Route("/mfa/totp", pages.mfa_totp, methods=["POST"], name="mfa_totp"),
        Route("/mfa/key/begin", ceremonies.sign_in_begin, methods=["POST"], name="mfa_key_begin"),
        Route(
            "/mfa/key/finish", ceremonies.sign_in_finish, methods=["POST"], name="mfa_key_finish"
        ),
        Route("/credentials", pages.credentials, name="credentials"),
        Route(
            "/credentials/virtual", pages.assign_virtual, methods=["POST"], name="assign_virtual"
        ),
        Route("/credentials/enable", pages.enable_device, methods=["POST"], name="enable_device"),
        Route("/credentials/remove", pages.remove_device, methods=["POST"], name="remove_device"),
        Route(
            "/credentials/key/begin",
            ceremonies.register_begin,
            methods=["POST"],
            name="key_begin",
        ),
        Route(
            "/credentials/key/finish",
            ceremonies.register_finish,
            methods=["POST"],
            name="key_finish",
        ),
        Route("/signout", pages.sign_out, methods=["POST"], name="sign_out"),
        Mount("/static", StaticFiles(directory=views.STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = ctx
    return app
