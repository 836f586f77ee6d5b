"""A small Chrome DevTools Protocol client for the console's browser tests.

It launches headless Chromium (`--remote-debugging-port=0`: Chromium picks the port and writes
it to `DevToolsActivePort` in its profile folder), opens pages in their own browser contexts (so
cookies never leak between tests), and speaks CDP over `websocket-client`: commands matched to
answers by id, events buffered until a test waits for them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = "chromium"
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--remote-debugging-port=0",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--password-store=basic",
    "--window-size=1200,900",
)


class CdpError(Exception):
    """A command answered with an error, a script threw, or an event never came."""


class Connection:
    """One WebSocket to one CDP target (the browser or a page)."""

    def __init__(self, url: str) -> None:
        # No Origin header: Chromium refuses WebSocket clients that send a foreign one.
        self.ws = websocket.create_connection(url, timeout=COMMAND_TIMEOUT, suppress_origin=True)
        self._next_id = 0
        self.events: deque[dict[str, Any]] = deque()

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        while True:
            message = self._receive(COMMAND_TIMEOUT)
            if message.get("id") == ident:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error'].get('message')}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        """The first buffered or incoming event named `method` (others stay buffered)."""
        for event in list(self.events):
            if event["method"] == method:
                self.events.remove(event)
                params: dict[str, Any] = event.get("params", {})
                return params
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self._receive(left)
            if message.get("method") == method:
                params = message.get("params", {})
                return params
            if "method" in message:
                self.events.append(message)
        raise CdpError(f"no {method} event within {timeout} s")

    def drop_events(self, method: str) -> None:
        self.events = deque(e for e in self.events if e["method"] != method)

    def _receive(self, timeout: float) -> dict[str, Any]:
        self.ws.settimeout(max(timeout, 0.01))
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            raise CdpError("the browser did not answer in time") from None
        message: dict[str, Any] = json.loads(raw)
        return message

    def close(self) -> None:
        self.ws.close()


class Page:
    """A page target: navigate, evaluate, wait for loads, take screenshots."""

    def __init__(self, connection: Connection, target_id: str, context_id: str) -> None:
        self.cdp = connection
        self.target_id = target_id
        self.context_id = context_id
        self.cdp.send("Page.enable")
        self.cdp.send("Runtime.enable")

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        result = self.cdp.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": await_promise, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"script failed: {text}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.cdp.drop_events("Page.loadEventFired")
        answer = self.cdp.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {answer['errorText']}")
        self.cdp.wait_event("Page.loadEventFired")

    def loads_after(self, expression: str, *, await_promise: bool = False) -> Any:
        """Run a script that navigates (a form submit, location.assign) and wait for the next
        page's load event; returns the script's value."""
        self.cdp.drop_events("Page.loadEventFired")
        value = self.evaluate(expression, await_promise=await_promise)
        self.cdp.wait_event("Page.loadEventFired")
        return value

    def submit(self, form_id: str, fields: dict[str, str]) -> None:
        """Fill a form's fields by element id and submit it as a click on its button would."""
        script = (
            f"(() => {{ const values = {json.dumps(fields)};"
            " for (const [id, value] of Object.entries(values)) {"
            " document.getElementById(id).value = value; }"
            f" document.getElementById({json.dumps(form_id)}).requestSubmit(); }})()"
        )
        self.loads_after(script)

    def text(self, selector: str) -> str:
        value = self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"
        )
        return str(value)

    def path(self) -> str:
        return str(self.evaluate("location.pathname + location.search"))

    def screenshot(self) -> bytes:
        data = self.cdp.send("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        self.cdp.close()


class Browser:
    """A headless Chromium process and its browser-level CDP connection."""

    def __init__(self, profile: Path, executable: str = CHROMIUM) -> None:
        path = shutil.which(executable)
        if path is None:
            raise CdpError(
                f"{executable} is not installed (make test installs it: scripts/ensure-apt.sh)"
            )
        self.profile = profile
        self.process = subprocess.Popen(
            [path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LANG": "C.UTF-8"},
        )
        self.port, browser_path = self._devtools_address()
        self.cdp = Connection(f"ws://127.0.0.1:{self.port}{browser_path}")

    def _devtools_address(self) -> tuple[int, str]:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CdpError(f"chromium exited with status {self.process.returncode}")
            lines = marker.read_text().split("\n") if marker.exists() else []
            if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
                return int(lines[0]), lines[1].strip()
            time.sleep(0.05)
        raise CdpError(f"chromium did not open its DevTools port within {START_TIMEOUT} s")

    def new_page(self) -> Page:
        """A page in a fresh browser context: its own cookies and storage."""
        context = self.cdp.send("Target.createBrowserContext", {"disposeOnDetach": True})
        context_id = context["browserContextId"]
        target = self.cdp.send(
            "Target.createTarget", {"url": "about:blank", "browserContextId": context_id}
        )
        target_id = target["targetId"]
        connection = Connection(f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}")
        return Page(connection, target_id, context_id)

    def close_page(self, page: Page) -> None:
        page.close()
        self.cdp.send("Target.closeTarget", {"targetId": page.target_id})
        self.cdp.send("Target.disposeBrowserContext", {"browserContextId": page.context_id})

    def close(self) -> None:
        with contextlib.suppress(CdpError, OSError, websocket.WebSocketException):
            self.cdp.send("Browser.close")
        self.cdp.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
