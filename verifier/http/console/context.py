"""What every console handler needs: the service, the password store, the session codec, the
templates, and the checks every request goes through (session stage, CSRF)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokenbench.verifier.http.console import csrf, views
from tokenbench.verifier.http.console.sessions import (
    STAGE_MFA,
    ConsoleSession,
    SessionCodec,
)
from tokenbench.verifier.login_profiles import LoginProfiles
from tokenbench.verifier.service import Service

T = TypeVar("T")
CSRF_REFUSED = "The form has expired or did not come from this console; please try again."


class Refused(Exception):
    """A request the console turns away before any library call (status + one line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ConsoleContext:
    service: Service
    profiles: LoginProfiles
    sessions: SessionCodec
    templates: jinja2.Environment

    async def call(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """Library calls block (store, argon2): run them off the event loop."""
        return await run_in_threadpool(function, **kwargs)

    def session(self, request: Request) -> ConsoleSession | None:
        return self.sessions.load(request)

    def page(
        self,
        request: Request,
        template: str,
        session: ConsoleSession,
        status: int = 200,
        **values: Any,
    ) -> Response:
        """Render a page and (re)send its session cookie, so the page's CSRF token and the
        cookie's always belong together."""
        response = views.html(
            self.templates,
            request,
            template,
            status,
            csrf_token=session.csrf,
            signed_in_as=session.user if session.signed_in else None,
            **values,
        )
        self.sessions.save(response, session)
        return response

    def redirect(
        self, request: Request, name: str, session: ConsoleSession | None = None, **query: str
    ) -> Response:
        target = views.url_path(request, name)
        if query:
            target += "?" + urllib.parse.urlencode(query)
        response = RedirectResponse(target, status_code=303)
        if session is None:
            self.sessions.clear(response)
        else:
            self.sessions.save(response, session)
        return response

    def signed_in(self, request: Request) -> ConsoleSession:
        """The signed-in session; a pending-MFA or anonymous one is refused."""
        session = self.session(request)
        if session is None or not session.signed_in:
            raise Refused(401, "Sign in first.")
        return session

    def mfa_pending(self, request: Request) -> ConsoleSession:
        session = self.session(request)
        if session is None or session.stage != STAGE_MFA or session.user is None:
            raise Refused(401, "Sign in with your password first.")
        return session

    @staticmethod
    def check_form_csrf(session: ConsoleSession, form: Any) -> None:
        if not csrf.token_matches(session, form.get(csrf.FORM_FIELD)):
            raise Refused(403, CSRF_REFUSED)

    @staticmethod
    def check_header_csrf(session: ConsoleSession, request: Request) -> None:
        if not csrf.token_matches(session, request.headers.get(csrf.HEADER)):
            raise Refused(403, CSRF_REFUSED)
