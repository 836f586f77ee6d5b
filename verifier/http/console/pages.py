"""The console's HTML pages and forms: sign-in, a required new password, MFA, "My security
credentials", sign-out.

Every form POST checks the session stage first, then its CSRF token, then calls the library;
an `IamError` comes back as its one-line message on the same page. Success redirects (303) to a
GET page, so a reload never repeats a POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from tokenbench.verifier.errors import IamError
from tokenbench.verifier.http.console import views
from tokenbench.verifier.http.console.context import ConsoleContext, Refused
from tokenbench.verifier.http.console.sessions import (
    STAGE_ANONYMOUS,
    STAGE_MFA,
    STAGE_RESET,
    ConsoleSession,
)
from tokenbench.verifier.iam import SESSION_SECONDS, Caller
from tokenbench.verifier.iam_names import KIND_FIDO, KIND_VIRTUAL, TOTP_KINDS

Handler = Callable[["Pages", Request], Awaitable[Response]]


def _refusals_as_pages(handler: Handler) -> Handler:
    """A refused request shows a one-line page (with a fresh anonymous session when the old
    one is gone), never a stack trace."""

    @wraps(handler)
    async def wrapped(self: Pages, request: Request) -> Response:
        try:
            return await handler(self, request)
        except Refused as refused:
            session = self.ctx.session(request) or self.ctx.sessions.anonymous()
            return self.ctx.page(
                request, "refused.html", session, refused.status, error=refused.message
            )

    return wrapped


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class Pages:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx

    # --- where to go ---------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self.ctx.session(request)
        if session is not None and session.signed_in:
            return self.ctx.redirect(request, "credentials", session)
        if session is not None and session.stage == STAGE_MFA:
            return self.ctx.redirect(request, "mfa", session)
        if session is not None and session.stage == STAGE_RESET:
            return self.ctx.redirect(request, "password", session)
        return self.ctx.redirect(request, "sign_in", session)

    # --- password ------------------------------------------------------------------------------

    async def sign_in_form(self, request: Request) -> Response:
        session = self.ctx.session(request)
        if session is not None and session.signed_in:
            return self.ctx.redirect(request, "credentials", session)
        if session is None or session.stage != STAGE_ANONYMOUS:
            session = self.ctx.sessions.anonymous()
        notice = views.NOTICES.get(request.query_params.get("notice", ""))
        return self._sign_in_page(request, session, notice=notice)

    def _sign_in_page(
        self,
        request: Request,
        session: ConsoleSession,
        status: int = 200,
        *,
        error: str | None = None,
        notice: str | None = None,
        user_name: str = "",
    ) -> Response:
        return self.ctx.page(
            request,
            "sign_in.html",
            session,
            status,
            error=error,
            notice=notice,
            user_name=user_name,
        )

    @_refusals_as_pages
    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        session = self.ctx.session(request)
        if session is None or session.stage != STAGE_ANONYMOUS:
            raise Refused(403, "Your sign-in form expired; please try again.")
        self.ctx.check_form_csrf(session, form)
        user_name = _field(form, "user_name")
        password = form.get("password")
        try:
            identity = await self.ctx.call(
                self.ctx.profiles.check_password,
                user_name=user_name,
                password=password if isinstance(password, str) else "",
            )
        except IamError as error:
            return self._sign_in_page(
                request, session, 401, error=error.message, user_name=user_name
            )
        reset = await self.ctx.call(self.ctx.profiles.password_reset_required, identity=identity)
        if reset:
            pending = self.ctx.sessions.reset_pending(identity.user_name)
            return self.ctx.redirect(request, "password", pending)
        return await self._after_password(request, session, identity.user_name)

    async def _after_password(
        self, request: Request, session: ConsoleSession, user_name: str
    ) -> Response:
        """MFA next, or signed in at once when the user has no device (as AWS does)."""
        identity = await self.ctx.call(self.ctx.service.iam.identity, user_name=user_name)
        devices = await self.ctx.call(
            self.ctx.service.store.count_assigned, identity_id=identity.id
        )
        if devices == 0:
            expires = self.ctx.service.clock.now() + SESSION_SECONDS
            signed = self.ctx.sessions.signed_in(session, identity.user_name, expires, None)
            return self.ctx.redirect(request, "credentials", signed)
        pending = self.ctx.sessions.mfa_pending(identity.user_name)
        return self.ctx.redirect(request, "mfa", pending)

    # --- a required new password ----------------------------------------------------------------

    def _reset_pending(self, request: Request) -> ConsoleSession:
        session = self.ctx.session(request)
        if session is None or session.stage != STAGE_RESET or session.user is None:
            raise Refused(401, "Sign in with your password first.")
        return session

    async def password_form(self, request: Request) -> Response:
        try:
            session = self._reset_pending(request)
        except Refused:
            return await self.home(request)
        return self.ctx.page(request, "password.html", session, user_name=session.user)

    @_refusals_as_pages
    async def change_password(self, request: Request) -> Response:
        """AWS's forced reset page: the old password again, the new one twice."""
        form = await request.form()
        session = self._reset_pending(request)
        self.ctx.check_form_csrf(session, form)
        assert session.user is not None
        new, again = form.get("new_password"), form.get("new_password_again")
        error = None
        if not isinstance(new, str) or new != again:
            error = "The new passwords do not match."
        else:
            old = form.get("old_password")
            try:
                await self.ctx.call(
                    self.ctx.profiles.change_password,
                    caller=Caller(session.user),
                    OldPassword=old if isinstance(old, str) else "",
                    NewPassword=new,
                )
            except IamError as failure:
                error = failure.message
        if error is not None:
            return self.ctx.page(
                request, "password.html", session, 400, error=error, user_name=session.user
            )
        return await self._after_password(request, session, session.user)

    # --- MFA -----------------------------------------------------------------------------------

    async def mfa_form(self, request: Request) -> Response:
        try:
            session = self.ctx.mfa_pending(request)
        except Refused:
            return await self.home(request)
        return await self._mfa_page(request, session)

    async def _mfa_page(
        self, request: Request, session: ConsoleSession, status: int = 200, error: str | None = None
    ) -> Response:
        assert session.user is not None
        devices = await self._devices(session.user)
        return self.ctx.page(
            request,
            "mfa.html",
            session,
            status,
            error=error,
            user_name=session.user,
            totp_devices=[d for d in devices if d.kind in TOTP_KINDS],
            has_key=any(d.kind == KIND_FIDO for d in devices),
        )

    @_refusals_as_pages
    async def mfa_totp(self, request: Request) -> Response:
        form = await request.form()
        session = self.ctx.mfa_pending(request)
        self.ctx.check_form_csrf(session, form)
        assert session.user is not None
        try:
            signed = await self.ctx.call(
                self.ctx.service.iam.sign_in,
                UserName=session.user,
                SerialNumber=_field(form, "serial_number"),
                TokenCode=_field(form, "code"),
            )
        except IamError as error:
            return await self._mfa_page(request, session, 401, error.message)
        new = self.ctx.sessions.signed_in(
            session, signed.user_name, signed.expiration, signed.serial_number
        )
        return self.ctx.redirect(request, "credentials", new)

    # --- My security credentials ---------------------------------------------------------------

    async def credentials(self, request: Request) -> Response:
        try:
            session = self.ctx.signed_in(request)
        except Refused:
            return await self.home(request)
        notice = views.NOTICES.get(request.query_params.get("notice", ""))
        return await self._credentials_page(request, session, notice=notice)

    async def _credentials_page(
        self,
        request: Request,
        session: ConsoleSession,
        status: int = 200,
        *,
        error: str | None = None,
        notice: str | None = None,
    ) -> Response:
        assert session.user is not None
        return self.ctx.page(
            request,
            "credentials.html",
            session,
            status,
            error=error,
            notice=notice,
            user_name=session.user,
            mfa=session.mfa,
            devices=await self._devices(session.user),
        )

    async def _devices(self, user_name: str) -> list[views.DeviceRow]:
        def rows() -> list[views.DeviceRow]:
            identity = self.ctx.service.iam.identity(user_name)
            devices = self.ctx.service.store.devices(identity_id=identity.id)
            return [views.device_row(d) for d in devices]

        return await self.ctx.call(rows)

    async def _signed_in_form(self, request: Request) -> tuple[ConsoleSession, FormData]:
        form = await request.form()
        session = self.ctx.signed_in(request)
        self.ctx.check_form_csrf(session, form)
        return session, form

    @_refusals_as_pages
    async def assign_virtual(self, request: Request) -> Response:
        session, form = await self._signed_in_form(request)
        try:
            created = await self.ctx.call(
                self.ctx.service.console.add_virtual_device,
                UserName=None,
                VirtualMFADeviceName=_field(form, "device_name"),
                caller=session.caller,
            )
        except IamError as error:
            return await self._credentials_page(request, session, 400, error=error.message)
        device = created["VirtualMFADevice"]
        return self.ctx.page(
            request,
            "assign_virtual.html",
            session,
            user_name=session.user,
            serial_number=device["SerialNumber"],
            qr_data_url=views.qr_data_url(device["QRCodePNG"]),
            secret=device["Base32StringSeed"],
        )

    @_refusals_as_pages
    async def enable_device(self, request: Request) -> Response:
        """Both the virtual device's second step and the hardware token's form: two
        consecutive codes for a serial (IAM's EnableMFADevice)."""
        session, form = await self._signed_in_form(request)
        try:
            await self.ctx.call(
                self.ctx.service.iam.enable_mfa_device,
                UserName=None,
                SerialNumber=_field(form, "serial_number"),
                AuthenticationCode1=_field(form, "code1"),
                AuthenticationCode2=_field(form, "code2"),
                caller=session.caller,
            )
        except IamError as error:
            return await self._credentials_page(request, session, 400, error=error.message)
        return self.ctx.redirect(request, "credentials", session, notice="assigned")

    @_refusals_as_pages
    async def remove_device(self, request: Request) -> Response:
        """Deactivate; a virtual device is deleted too, as the console's Remove does."""
        session, form = await self._signed_in_form(request)
        serial = _field(form, "serial_number")

        def remove() -> None:
            device = self.ctx.service.store.device(serial)
            iam = self.ctx.service.iam
            iam.deactivate_mfa_device(UserName=None, SerialNumber=serial, caller=session.caller)
            if device is not None and device.kind == KIND_VIRTUAL:
                iam.delete_virtual_mfa_device(SerialNumber=serial)

        try:
            await self.ctx.call(remove)
        except IamError as error:
            return await self._credentials_page(request, session, 400, error=error.message)
        return self.ctx.redirect(request, "credentials", session, notice="removed")

    @_refusals_as_pages
    async def sign_out(self, request: Request) -> Response:
        form = await request.form()
        session = self.ctx.session(request)
        if session is None:
            raise Refused(401, "You are not signed in.")
        self.ctx.check_form_csrf(session, form)
        return self.ctx.redirect(request, "sign_in", None, notice="signed-out")
