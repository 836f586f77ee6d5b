"""The servers `service_perf` measures, as child processes: `tokenbench serve` and moto's.

Both are started the way a user starts them (the real CLI, `python -m moto.server`) and stopped
with SIGINT, so a figure includes everything a deployment runs. Requests to them are signed
with botocore's own SigV4 signer: the server checks the signature, and botocore is what every
AWS client uses, so its cost is the client cost a real caller pays.
"""

from __future__ import annotations

import configparser
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from tokenbench.verifier.seeds import KEK_ENV

REGION = "us-east-1"
START_TIMEOUT = 60.0  # seconds: four spawned workers on a busy 2-core machine
STOP_TIMEOUT = 15.0
CLOCK_PATH = "/_tokenbench/clock"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_LISTENING = re.compile(r"listening on (http://\S+)")
# What a keep-alive connection the server has closed while idle looks like on the next request
# (uvicorn closes one after 5 s without a request); no request was processed on it.
_STALE = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)
FORM = "application/x-www-form-urlencoded; charset=utf-8"


class ServerError(Exception):
    """A server did not start, or answered a control request with an error."""


@dataclass(frozen=True)
class Key:
    """An access key; the secret never appears in a repr or a message."""

    access_key_id: str
    secret: str = field(repr=False)


class Signer:
    """SigV4 for one key and one service, on a keep-alive connection to one server."""

    def __init__(self, url: str, key: Key, service: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.url = url
        self.connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port)
        credentials = botocore.credentials.Credentials(key.access_key_id, key.secret)
        self.auth = botocore.auth.SigV4Auth(credentials, service, REGION)

    def post(
        self, path: str, body: bytes, content_type: str, auth: botocore.auth.SigV4Auth | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one signed POST, by `auth` (another key) if given."""
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=self.url + path, data=body, headers={"Content-Type": content_type}
        )
        (auth or self.auth).add_auth(request)
        headers = dict(request.headers.items())
        try:
            return self._send(path, body, headers)
        except _STALE:  # the server closed the idle keep-alive connection: a new one, once
            self.connection.close()
            return self._send(path, body, headers)

    def _send(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.connection.request("POST", path, body, headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


class ServerClock:
    """The `--clock fake` clock of a running `tokenbench serve`, moved by the root's key."""

    def __init__(self, url: str, admin: Key) -> None:
        self.signer = Signer(url, admin, "iam")

    def advance(self, seconds: float) -> float:
        """Move the clock on; the server's new time."""
        return self._order({"advance": seconds})

    def set(self, moment: float) -> float:
        return self._order({"set": moment})

    def _order(self, order: Mapping[str, float]) -> float:
        status, body = self.signer.post(CLOCK_PATH, json.dumps(order).encode(), "application/json")
        if status != 200:
            raise ServerError(f"the clock refused {dict(order)}: {status} {body[:200]!r}")
        return float(json.loads(body)["now"])

    def close(self) -> None:
        self.signer.close()


@dataclass
class Running:
    """A server child process and its address (and, for ours, the root's key)."""

    url: str
    process: subprocess.Popen[bytes]
    admin: Key | None = None


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of process `pid` and all its descendants, from /proc (Linux);
    None where there is no /proc. Worker processes of a server are its children."""
    try:
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry)] = int(fields[1])  # fields after the name: state, ppid
                    times[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS
    except OSError:
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in tree)


def free_port() -> int:
    """A loopback port free now (moto cannot be told to pick one and say which)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tokenbench_serve(
    store: str, credentials: Path, workers: int, kek_hex: str
) -> Iterator[Running]:
    """`tokenbench serve --clock fake` on `store` with `workers` worker processes."""
    env = dict(os.environ, **{KEK_ENV: kek_hex})
    env.pop("AWS_PROFILE", None)
    command = [
        sys.executable, "-m", "tokenbench.bench.cli", "serve",
        "--port", "0", "--store", store, "--admin-credentials", str(credentials),
        "--workers", str(workers), "--clock", "fake", "--no-console",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        url = _listening_url(process)
        running = Running(url, process, _read_key(credentials))
        _wait_answers(running)
        yield running
    finally:
        _stop(process)


@contextlib.contextmanager
def moto_server() -> Iterator[Running]:
    """moto's server mode (one process, a thread per connection), on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running = Running(f"http://127.0.0.1:{port}", process)
        _wait_answers(running)
        yield running
    finally:
        _stop(process)


def _listening_url(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace")
    found = _LISTENING.search(line)
    if found is None:
        rest = process.stdout.read(4000).decode(errors="replace") if process.poll() else ""
        process.stdout.close()
        raise ServerError(f"tokenbench serve did not start: {line.strip()} {rest.strip()}")
    # Whatever the server prints later is read and dropped, so that a full pipe never blocks it.
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return found.group(1)


def _drain(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError), stream:
        while stream.read(65536):
            pass


def _read_key(path: Path) -> Key:
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser["default"]
    return Key(section["aws_access_key_id"], section["aws_secret_access_key"])


def _wait_answers(running: Running) -> None:
    """Until the server answers HTTP at all (its socket may be bound before it serves)."""
    parsed = urllib.parse.urlsplit(running.url)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=5)
        try:
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except OSError:
            if running.process.poll() is not None:
                raise ServerError(f"the server exited with {running.process.returncode}") from None
            if time.monotonic() > deadline:
                raise ServerError(f"no answer from {running.url}") from None
            time.sleep(0.05)
        finally:
            connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()  # our own child, by its handle
            process.wait()
