"""Running the endpoint under uvicorn, in one process or several workers on one socket.

Workers are processes (the GIL would serialise threads), so each one opens the service itself
from a `ServeSettings` passed through the environment: the settings hold no secret (the KEK
stays in its file or in $TOKENBENCH_KEK), and all workers share the store, the console's cookie
key (derived from the KEK) and, with `--clock fake`, one memory-mapped clock file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass

from starlette.applications import Starlette

from tokenbench.verifier.http.app import build_app
from tokenbench.verifier.service import (
    DEFAULT_ORIGIN,
    MovableClock,
    Service,
    SystemTime,
    VerifierOptions,
    open_service,
)

SETTINGS_ENV = "TOKENBENCH_SERVE_SETTINGS"
CONSOLE_KEY_LABEL = "tokenbench console session cookies"


@dataclass(frozen=True)
class ServeSettings:
    """Everything a worker needs to open the same service as its siblings (no secrets)."""

    store: str
    kek_file: str | None = None
    account_id: str | None = None
    lockout: bool = False
    clock_file: str | None = None  # set: the movable clock shared by the workers
    rp_id: str = "localhost"
    origins: tuple[str, ...] = ()
    console: bool = True

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        fields = json.loads(text)
        fields["origins"] = tuple(fields.get("origins", ()))
        return cls(**fields)

    def open(self) -> Service:
        clock = MovableClock(shared_file=self.clock_file) if self.clock_file else SystemTime()
        options = VerifierOptions(
            account_id=self.account_id,
            lockout=self.lockout,
            rp_id=self.rp_id,
            origins=frozenset(self.origins) if self.origins else frozenset({DEFAULT_ORIGIN}),
        )
        return open_service(self.store, kek_file=self.kek_file, clock=clock, options=options)


def app_for(service: Service, settings: ServeSettings) -> Starlette:
    console_key = service.cipher.derive_key(CONSOLE_KEY_LABEL) if settings.console else None
    return build_app(service, console_key=console_key)


def app_from_environment() -> Starlette:
    """uvicorn's factory in each worker process."""
    settings = ServeSettings.from_json(os.environ[SETTINGS_ENV])
    return app_for(settings.open(), settings)


def serve(
    settings: ServeSettings,
    sock: socket.socket,
    *,
    workers: int = 1,
    service: Service | None = None,
) -> None:
    """Serve on `sock` until SIGINT/SIGTERM. One worker runs in this process on `service`."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    common = {"log_level": "warning", "access_log": False, "server_header": False}
    if workers == 1:
        assert service is not None
        config = uvicorn.Config(app_for(service, settings), **common)  # type: ignore[arg-type]
        uvicorn.Server(config).run(sockets=[sock])
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    config = uvicorn.Config(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
    Multiprocess(config, sockets=[sock]).run()
