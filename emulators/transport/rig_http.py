"""A test rig's controller over HTTP, served by the emulated key itself.

Hardware test rigs for security keys put each key behind a switchable USB port and a relay on
its touch sensor, and take orders as plain HTTP GETs (python-fido2's device tests drive one
with `--controller URL --pico-port N`). `RigHttpServer` answers the same requests for an
emulated key, so such a suite runs unattended against it:

    GET /<token>/                  200, a one-line description (the suite's reachability check)
    GET /<token>/usb<N>/power/off  the key is unplugged (or the card leaves the reader's field)
    GET /<token>/usb<N>/power/on   the key is plugged back in (the card re-enters the field)
    GET /<token>/usb<N>/touch/on   the button is pressed and held: presence is approved
    GET /<token>/usb<N>/touch/off  the button is let go: presence waits for the next press
    anything else                  404 (an unknown path, a wrong or missing token), 501 (a
                                   method other than GET)
A request is answered once the action is done (200 "ok"); an action that fails is answered
500 with a one-line reason. Actions run one at a time (a power-on finishes before a touch
starts). <N> is any port number unless the server is given one.

The server knows nothing of transports. It calls the two functions of `RigActions`:

    power(on: bool) -> None   # False: take the key away (unplug / out of the field);
                              # True: bring it back, returning once a host can see it again
    touch(held: bool) -> None # True: hold the button down; False: let go

A vpcd card's actions are `tokenbench.emulators.transport.vpcd.CardControl.rig_actions()`;
a HID transport supplies its own. Touch needs a key with a button (`EmulatedKey.hold`, presence
"button").

The rig can touch and power-cycle the key, the same power as the key's control channel
(`tokenbench.emulators.transport.control`), so it gets the same guard: it binds loopback only
(`ControlError` otherwise, whatever `--allow-remote` says), and every path starts with a secret
token, so the controller URL to pass as `--controller` is `url` (http://HOST:PORT/<token>).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tokenbench.emulators.transport.control import new_token, require_loopback

log = logging.getLogger(__name__)

BANNER = "tokenbench emulated key: rig controller (power, touch)\n"
ACTION_PATH = re.compile(r"/usb(?P<port>[0-9]{1,3})/(?P<what>power|touch)/(?P<state>on|off)")
CLOSE_TIMEOUT = 5.0
POLL_INTERVAL = 0.05  # seconds: how soon close() stops the server thread
Address = tuple[str, int]


@dataclass(frozen=True)
class RigActions:
    """What the rig can do to one key (see the module docstring)."""

    power: Callable[[bool], object]
    touch: Callable[[bool], object]


def route(actions: RigActions, path: str, port: int | None = None) -> Callable[[], object] | None:
    """The action a request path asks for (None: not a rig path; "/" does nothing)."""
    if path in ("", "/"):
        return lambda: None
    match = ACTION_PATH.fullmatch(path)
    if match is None or (port is not None and int(match["port"]) != port):
        return None
    function = actions.power if match["what"] == "power" else actions.touch
    on = match["state"] == "on"
    return lambda: function(on)


class _RigHandler(BaseHTTPRequestHandler):
    server: _RigHttpd

    def do_GET(self) -> None:
        token, _, rest = self.path.split("?", 1)[0].removeprefix("/").partition("/")
        path = "/" + rest
        action = route(self.server.actions, path, self.server.usb_port)
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            action = None
        if action is None:
            self._reply(HTTPStatus.NOT_FOUND, f"no such rig path: {path[:80]}\n")
            return
        try:
            with self.server.one_at_a_time:
                action()
        except Exception as exc:  # the rig must answer, whatever the key did
            log.warning("rig action %s failed: %s", self.path, exc)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}\n")
            return
        self._reply(HTTPStatus.OK, BANNER if path in ("", "/") else "ok\n")

    def _reply(self, status: HTTPStatus, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("rig %s: " + format, self.client_address[0], *args)


class _RigHttpd(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: Address, actions: RigActions, usb_port: int | None, token: str
    ) -> None:
        self.actions = actions
        self.usb_port = usb_port
        self.token = token
        self.one_at_a_time = threading.Lock()
        super().__init__(address, _RigHandler)


class RigHttpServer:
    """The rig controller of one key, answering on a background thread until `close()`.

    `token` is the secret every path starts with (a fresh one unless given).
    """

    def __init__(
        self,
        actions: RigActions,
        address: Address,
        usb_port: int | None = None,
        token: str | None = None,
    ) -> None:
        require_loopback("rig controller", address[0])
        self.token = token or new_token()
        self._httpd = _RigHttpd(address, actions, usb_port, self.token)
        host, port = self._httpd.server_address[:2]
        self.address: Address = (str(host), int(port))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The controller URL, token included: what a suite's `--controller` takes."""
        return f"http://{self.address[0]}:{self.address[1]}/{self.token}"

    def start(self) -> RigHttpServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(POLL_INTERVAL,), name="rig-http", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(CLOSE_TIMEOUT)
        self._httpd.server_close()
