"""`tokenbench serve`: the verifier as an IAM/STS endpoint and a web console.

Point boto3 or the AWS CLI at it (`--endpoint-url http://127.0.0.1:PORT`); every call is
SigV4-signed by an access key in the store. `--admin-credentials FILE` writes the account
root's access key there in the AWS shared-credentials format (mode 0600) on first start, or
whenever the file is missing, so `AWS_SHARED_CREDENTIALS_FILE=FILE aws --endpoint-url ... iam
list-users` works at once. The store is a SQLite file (default) or `--store postgresql://...`,
its seeds sealed under the KEK as for `tokenbench iam`.

The server listens on loopback unless `--allow-remote`. `--clock fake` makes the service's
clock movable through `/_tokenbench/clock` (root-signed), for rehearsals of expiry and
cool-downs; `--lockout` turns on the library's lockout after failed codes, which AWS does not
have. `--port 0` picks a free port; the first line printed names the address.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tokenbench.bench.errors import UserError

if TYPE_CHECKING:  # the service extra is imported where used, so other commands start without it
    from tokenbench.verifier.service import Service

DEFAULT_STORE = "tokenbench-iam.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_WORKERS = 64


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"workers must be 1..{MAX_WORKERS}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "serve", help="the verifier as an IAM/STS endpoint (boto3, AWS CLI) and a web console"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default loopback)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--store", default=DEFAULT_STORE, help="SQLite file or PostgreSQL URL")
    parser.add_argument("--kek-file", help="key-encryption key file (as for `tokenbench iam`)")
    parser.add_argument("--account-id", help="12-digit account (default: the store's only one)")
    parser.add_argument("--workers", type=_workers, default=1, help="worker processes")
    parser.add_argument("--clock", choices=("system", "fake"), default="system")
    parser.add_argument("--lockout", action="store_true", help="lock devices after failed codes")
    parser.add_argument("--admin-credentials", type=Path, metavar="FILE")
    parser.add_argument("--rp-id", default="localhost", help="the console's WebAuthn RP ID")
    parser.add_argument("--origin", action="append", default=[], help="console origin(s)")
    parser.add_argument("--no-console", action="store_true", help="serve the API only")
    parser.set_defaults(handler=_serve)


def _check_host(host: str, allow_remote: bool) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not allow_remote:
        raise UserError(f"--host {host} is not loopback: add --allow-remote to serve it")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted connections only for such a
    # socket; without it every answer waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _write_admin_credentials(service: Service, path: Path, write: Callable[..., None]) -> None:
    """The root's key into `path`: a new key on first start, the existing one when the file
    is missing (the secret is sealed in the store, so it can be written again)."""
    from tokenbench.verifier.iam import ADMIN

    created = service.access_keys.ensure_admin_key()
    if created is not None:
        write(path, *created, replace=True)
        return
    if path.exists():
        return
    keys = service.access_keys.list_access_keys(caller=ADMIN)["AccessKeyMetadata"]
    now = service.clock.now()
    for key in keys:
        principal = service.principals.resolve(key["AccessKeyId"], now)
        if principal is not None:
            write(path, principal.access_key_id, principal.secret)
            return
    raise UserError("the account root has no active access key to write to --admin-credentials")


def _serve(args: argparse.Namespace) -> int:
    _check_host(args.host, args.allow_remote)
    try:
        from tokenbench.verifier.http.credentials_file import write_shared_credentials
        from tokenbench.verifier.http.server import ServeSettings, serve
    except ImportError as exc:
        raise UserError(
            f"tokenbench serve needs the service extra (pip install 'tokenbench[service]'): "
            f"{exc.name} is missing"
        ) from None
    from tokenbench.verifier.errors import VerifierError

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    origins = tuple(args.origin) or (f"http://localhost:{port}",)
    clock_dir = tempfile.mkdtemp(prefix="tokenbench-clock-") if args.clock == "fake" else None
    settings = ServeSettings(
        store=args.store,
        kek_file=args.kek_file,
        account_id=args.account_id,
        lockout=args.lockout,
        clock_file=os.path.join(clock_dir, "now") if clock_dir else None,
        rp_id=args.rp_id,
        origins=origins,
        console=not args.no_console,
    )
    try:
        service = settings.open()
    except VerifierError as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:  # a bad URL, a server that is down, a file we cannot open
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot open store {args.store}: {detail}") from None
    try:
        if args.admin_credentials is not None:
            _write_admin_credentials(service, args.admin_credentials, write_shared_credentials)
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(
            f"tokenbench serve: listening on http://{host}:{port} "
            f"(account {service.account_id}, {args.workers} worker(s), clock {args.clock})",
            flush=True,
        )
        if args.workers > 1:
            service.close()
        serve(settings, sock, workers=args.workers, service=service)
    finally:
        sock.close()
        if clock_dir:
            for name in os.listdir(clock_dir):
                os.unlink(os.path.join(clock_dir, name))
            os.rmdir(clock_dir)
    sys.stdout.flush()
    return 0
