"""`tokenbench serve` as the tests run it: a real process on a loopback port, the real CLI.

`served(...)` starts the server with `--port 0 --admin-credentials FILE`, reads the address
from its first line and the root key from the file it wrote, and stops it afterwards.
`ServedTarget` is the scenarios' `AwsTarget` over it: boto3 clients pointed at the endpoint,
and the server's own movable clock (`--clock fake`), moved through `/_tokenbench/clock`.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import httpx

REGION = "us-east-1"
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"listening on (http://\S+)")
KEK_ENV = "TOKENBENCH_KEK"


@dataclass
class Served:
    """A running server: its URL, the root's key, and the process."""

    url: str
    admin_key: tuple[str, str]
    process: subprocess.Popen[str]
    credentials_file: Path
    startup_seconds: float
    output: list[str] = field(default_factory=list)

    def client(
        self,
        service: str,
        key: tuple[str, str] | None = None,
        session_token: str | None = None,
        *,
        validate: bool = True,
    ) -> Any:
        """A boto3 client; `validate=False` lets through what botocore would refuse itself,
        so that the server's own validation answers."""
        access_key_id, secret = key or self.admin_key
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            aws_session_token=session_token,
            config=botocore.config.Config(
                retries={"max_attempts": 1}, parameter_validation=validate
            ),
        )

    def signed(self, method: str, path: str, body: bytes = b"", service: str = "iam") -> Any:
        """A raw request signed by the root key (botocore's signer), for the non-AWS paths."""
        request = botocore.awsrequest.AWSRequest(
            method=method,
            url=self.url + path,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        credentials = botocore.credentials.Credentials(*self.admin_key)
        botocore.auth.SigV4Auth(credentials, service, REGION).add_auth(request)
        prepared = request.prepare()
        return httpx.request(method, prepared.url, headers=dict(prepared.headers), content=body)


class ServedClock:
    """The server's clock, read and moved over HTTP (root-signed)."""

    def __init__(self, served: Served) -> None:
        self.served = served

    def now(self) -> float:
        return float(self.served.signed("GET", "/_tokenbench/clock").json()["now"])

    def advance(self, seconds: float) -> None:
        body = json.dumps({"advance": seconds}).encode()
        answer = self.served.signed("POST", "/_tokenbench/clock", body)
        assert answer.status_code == 200, answer.text

    def set(self, moment: float) -> None:
        answer = self.served.signed(
            "POST", "/_tokenbench/clock", json.dumps({"set": moment}).encode()
        )
        assert answer.status_code == 200, answer.text


class ServedTarget:
    """aws_scenarios.AwsTarget over a running `tokenbench serve --clock fake`."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.admin_iam = served.client("iam")
        self.admin_sts = served.client("sts")
        self._clock = ServedClock(served)

    @property
    def clock(self) -> ServedClock:
        return self._clock

    def client_for(
        self, service: str, access_key_id: str, secret: str, session_token: str | None = None
    ) -> Any:
        return self.served.client(service, (access_key_id, secret), session_token)


def _read_key(path: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser["default"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


@contextlib.contextmanager
def served(
    tmp_path: Path,
    *,
    store: str | None = None,
    workers: int = 1,
    extra: Sequence[str] = ("--clock", "fake"),
    kek: str | None = None,
) -> Iterator[Served]:
    credentials = tmp_path / "admin-credentials"
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    if kek is not None:
        env[KEK_ENV] = kek
    command = [
        sys.executable, "-m", "tokenbench.bench.cli", "serve",
        "--port", "0",
        "--store", store or str(tmp_path / "iam.db"),
        "--admin-credentials", str(credentials),
        "--workers", str(workers),
        *extra,
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    output: list[str] = []
    url = None
    while url is None:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"tokenbench serve did not start:\n{''.join(output)}")
        output.append(line)
        found = _LISTENING.search(line)
        if found:
            url = found.group(1)
        if time.monotonic() - started > START_TIMEOUT:
            process.kill()
            raise AssertionError(f"tokenbench serve took too long:\n{''.join(output)}")
    # The first request proves the server answers (the socket is bound before uvicorn runs).
    while True:
        try:
            httpx.get(url + "/", timeout=2.0)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                raise AssertionError("tokenbench serve never answered") from None
            time.sleep(0.02)
    startup = time.monotonic() - started
    try:
        yield Served(url, _read_key(credentials), process, credentials, startup, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def error_code(error: Any) -> str:
    """The AWS error code of a `pytest.raises(ClientError)` result."""
    return str(error.value.response["Error"]["Code"])
