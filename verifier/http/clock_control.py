"""Moving the service's clock (`serve --clock fake`): rehearsals of lockout cool-downs,
session expiry and MFA age run in no wall time.

`GET /_tokenbench/clock` reads the time; `POST` with `{"set": EPOCH}` or `{"advance": SECONDS}`
moves it (forwards only: a clock that goes back would let a code replay). Both need a request
SigV4-signed by the account root's key, like any administrator call; the routes do not exist
when the service runs on the system clock.
"""

from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tokenbench.verifier.http.authentication import AuthenticationError, authenticate
from tokenbench.verifier.service import MovableClock, Service

PATH = "/_tokenbench/clock"
MAX_BODY_BYTES = 1024


def routes(service: Service) -> list[BaseRoute]:
    clock = service.clock
    if not isinstance(clock, MovableClock):
        return []

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _refuse(413, "body too large")
        try:
            principal, _scope = authenticate(service, request, body)
        except AuthenticationError as exc:
            return _refuse(exc.status, f"{exc.code}: {exc.message}")
        if not principal.caller.is_admin:
            return _refuse(403, "only the account root may move the clock")
        if request.method == "POST":
            try:
                order = json.loads(body)
                if not isinstance(order, dict) or len(order) != 1:
                    raise ValueError
                ((verb, value),) = order.items()
                if verb not in ("set", "advance") or not isinstance(value, int | float):
                    raise ValueError
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            except ValueError:
                return _refuse(400, 'send {"set": EPOCH} or {"advance": SECONDS}')
            target = value if verb == "set" else clock.now() + value
            if target < clock.now():
                return _refuse(409, "the clock only moves forwards")
            clock.set(target)
        return JSONResponse({"now": clock.now()})

    return [Route(PATH, endpoint, methods=["GET", "POST"])]


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
