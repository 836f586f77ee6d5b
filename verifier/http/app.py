"""The IAM/STS endpoint: `POST /` in AWS's Query protocol, SigV4-signed, answered in AWS's XML.

One request runs: read the body (capped), check the signature against the store's access keys,
tell IAM from STS by the signature's credential scope, parse and validate the parameters
against botocore's model, authorize, call the library, render the result or the error. Every
failure on the way is an AWS-shaped error document; an unexpected exception is logged with the
request ID and answered as `InternalFailure`, never with a traceback.

Starlette, because the service needs routing, a request object and an ASGI app for uvicorn's
workers and nothing more: its whole dependency is anyio. FastAPI would add pydantic models that
botocore's service model already provides.
"""

from __future__ import annotations

import logging
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from tokenbench.verifier.errors import IamError
from tokenbench.verifier.http import clock_control
from tokenbench.verifier.http.authentication import AuthenticationError, authenticate
from tokenbench.verifier.http.aws_model import ServiceModel
from tokenbench.verifier.http.operations import IAM_OPERATIONS, STS_OPERATIONS, authorize
from tokenbench.verifier.http.query_wire import (
    QueryError,
    parse_form_body,
    parse_query,
    render_error,
    render_result,
)
from tokenbench.verifier.service import Service

MAX_BODY_BYTES = 256 * 1024  # IAM's largest parameter (a policy document) is 131,072 characters
XML = "text/xml"
_log = logging.getLogger("tokenbench.verifier.http")

OPERATIONS = {"iam": IAM_OPERATIONS, "sts": STS_OPERATIONS}


class QueryEndpoint:
    """The `POST /` handler over one service; the models are loaded once per process."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.models = {name: ServiceModel.load(name) for name in OPERATIONS}

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        model = self.models["iam"]  # errors before the scope is known read as IAM's
        try:
            body = await _read_body(request)
            principal, scope_service = authenticate(self.service, request, body)
            model = self.models[scope_service]
            form = parse_form_body(body if request.method == "POST" else request.url.query.encode())
            action, params = parse_query(model, form)
            operation = OPERATIONS[scope_service].get(action)
            if operation is None:
                raise QueryError(
                    "InvalidAction",
                    f"Could not find operation {action} for version {model.api_version}",
                    400,
                )
            authorize(self.service, principal, scope_service, action, operation, params)
            result = operation.handler(self.service, principal, params)
            return Response(render_result(model, action, result, request_id), media_type=XML)
        except (QueryError, AuthenticationError) as exc:
            return _error(model, exc.code, exc.message, request_id, exc.status)
        except IamError as exc:
            return _error(model, exc.code, exc.message, request_id)
        except Exception:  # a bug: log it with the request ID, answer as AWS does
            _log.exception("request %s failed", request_id)
            return _error(
                model, "InternalFailure", "The request processing has failed.", request_id, 500
            )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise QueryError("RequestEntityTooLarge", "The request body is too large.", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise QueryError("RequestEntityTooLarge", "The request body is too large.", 413)
    return body


def _error(
    model: ServiceModel, code: str, message: str, request_id: str, status: int | None = None
) -> Response:
    status_code, body = render_error(model, code, message, request_id, status=status)
    return Response(body, status_code=status_code, media_type=XML)


def build_app(service: Service, *, console_key: bytes | None = None) -> Starlette:
    """The ASGI app: the Query endpoint at `/`, the clock control (a movable clock only), and
    the console at `/console` when `console_key` (its cookie-signing key) is given."""
    endpoint = QueryEndpoint(service)
    routes: list[BaseRoute] = [Route("/", endpoint.handle, methods=["POST", "GET"])]
    routes += clock_control.routes(service)
    if console_key is not None:
        from tokenbench.verifier.http.console.app import build_console

        routes.append(Mount("/console", app=build_console(service, session_key=console_key)))
    return Starlette(routes=routes)
