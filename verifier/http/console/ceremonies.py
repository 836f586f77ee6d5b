"""The WebAuthn JSON endpoints the page's script calls: begin/finish registration of a security
key or passkey (signed in), and begin/finish sign-in with one (password done, MFA pending).

Each takes the session's CSRF token in a header; answers are JSON, errors `{"error", "code"}`
with the library's one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tokenbench.verifier.errors import ACCESS_DENIED, IamError
from tokenbench.verifier.http.console import views
from tokenbench.verifier.http.console.context import ConsoleContext, Refused
from tokenbench.verifier.http.console.webauthn_json import (
    WebAuthnJsonError,
    ceremony_payload,
    parse_assertion,
    parse_registration,
)

MAX_BODY_BYTES = 256 * 1024
Handler = Callable[["Ceremonies", Request], Awaitable[Response]]


def _json_errors(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapped(self: Ceremonies, request: Request) -> Response:
        try:
            return await handler(self, request)
        except Refused as refused:
            return views.json_error(refused.message, refused.status)
        except WebAuthnJsonError as error:
            return views.json_error(str(error), 400)
        except IamError as error:
            status = 403 if error.code == ACCESS_DENIED else 400
            return views.json_error(error.message, status, error.code)

    return wrapped


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise WebAuthnJsonError("the request body is too large")
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise WebAuthnJsonError("the request body is not JSON") from None


class Ceremonies:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx

    @_json_errors
    async def register_begin(self, request: Request) -> Response:
        session = self.ctx.signed_in(request)
        self.ctx.check_header_csrf(session, request)
        body = await _body(request)
        name = body.get("name") if isinstance(body, dict) else None
        ceremony_id, options = await self.ctx.call(
            self.ctx.service.console.begin_fido_registration,
            UserName=None,
            DeviceName=name.strip() if isinstance(name, str) and name.strip() else None,
            caller=session.caller,
        )
        return views.json_answer(ceremony_payload(ceremony_id, options))

    @_json_errors
    async def register_finish(self, request: Request) -> Response:
        session = self.ctx.signed_in(request)
        self.ctx.check_header_csrf(session, request)
        answer = parse_registration(await _body(request))
        result = await self.ctx.call(
            self.ctx.service.console.finish_fido_registration,
            CeremonyId=answer.ceremony_id,
            ClientDataJSON=answer.client_data_json,
            AttestationObject=answer.attestation_object,
        )
        target = views.url_path(request, "credentials") + "?notice=key-added"
        return views.json_answer({"serialNumber": result["SerialNumber"], "redirect": target})

    @_json_errors
    async def sign_in_begin(self, request: Request) -> Response:
        session = self.ctx.mfa_pending(request)
        self.ctx.check_header_csrf(session, request)
        assert session.user is not None
        ceremony_id, options = await self.ctx.call(
            self.ctx.service.console.begin_fido_sign_in, UserName=session.user
        )
        return views.json_answer(ceremony_payload(ceremony_id, options))

    @_json_errors
    async def sign_in_finish(self, request: Request) -> Response:
        session = self.ctx.mfa_pending(request)
        self.ctx.check_header_csrf(session, request)
        answer = parse_assertion(await _body(request))
        signed = await self.ctx.call(
            self.ctx.service.console.finish_fido_sign_in,
            CeremonyId=answer.ceremony_id,
            CredentialId=answer.credential_id,
            ClientDataJSON=answer.client_data_json,
            AuthenticatorData=answer.authenticator_data,
            Signature=answer.signature,
            UserHandle=answer.user_handle,
        )
        assert session.user is not None
        if signed.user_name.lower() != session.user.lower():
            raise IamError(ACCESS_DENIED, "this security key is not registered for this user")
        new = self.ctx.sessions.signed_in(
            session, signed.user_name, signed.expiration, signed.serial_number
        )
        response = views.json_answer({"redirect": views.url_path(request, "credentials")})
        self.ctx.sessions.save(response, new)
        return response
