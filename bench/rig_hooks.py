"""Rig hooks: commands that power-cycle and touch a real key in place of the person.

Labs put a key behind a switchable USB hub (`uhubctl -l 1-1 -p 2 -a cycle`) and a relay or
solenoid on its touch sensor. Given `--power-cycle-cmd CMD` and `--touch-cmd CMD`, a `hid:` or
`pcsc:` target runs those instead of asking the person, so destructive and power-cycle tests
run unattended (`KeyTarget.unattended`).

A command is split with `shlex` and started directly, never through a shell: the bench adds
nothing to the string and nothing in it is interpreted twice, so a target URI or serial can
never turn into shell syntax. A rig that needs pipes or `&&` says so itself: `sh -c '...'`.
The hook learns which key it is for from its environment (`TOKENBENCH_HOOK`,
`TOKENBENCH_TARGET`, `TOKENBENCH_SERIAL`, `TOKENBENCH_DEVICE`), so one script can serve
several keys. A hook that cannot start, exits non-zero or outlives its timeout raises
`HookError`, whose one line names the hook, its status and the tail of its stderr; the plugin
reports the test as an error (the rig broke, not the key), never as a skip.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from tokenbench.bench.errors import UserError

POWER_CYCLE = "power-cycle"
TOUCH = "touch"
HOOK_TIMEOUT = 30.0  # uhubctl's cycle waits 2 s by default; a touch takes well under a second
STDERR_TAIL = 200  # characters of the hook's stderr kept for the one-line reason
ENV_HOOK = "TOKENBENCH_HOOK"
ENV_TARGET = "TOKENBENCH_TARGET"
ENV_SERIAL = "TOKENBENCH_SERIAL"
ENV_DEVICE = "TOKENBENCH_DEVICE"


class HookError(Exception):
    """A rig hook failed. Not a `UserError`: fixtures turn some of those into skips, and a
    broken rig must show as an error."""


@dataclass(frozen=True)
class Hook:
    """One rig command: its name (power-cycle, touch), the user's text and its argv."""

    name: str
    command: str
    argv: tuple[str, ...]
    timeout: float = HOOK_TIMEOUT

    @classmethod
    def parse(cls, name: str, command: str, timeout: float = HOOK_TIMEOUT) -> Hook:
        """Split `command` as a POSIX shell would (quotes, escapes); bad text is one line."""
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise UserError(f"bad --{name}-cmd {command!r}: {exc}") from None
        if not argv:
            raise UserError(f"--{name}-cmd is empty")
        if not timeout > 0:
            raise UserError(f"--hook-timeout must be more than 0 s, not {timeout:g}")
        return cls(name, command, argv, timeout)

    def run(self, env: Mapping[str, str] | None = None) -> None:
        """Run to completion; raise HookError unless it exits 0 within the timeout."""
        environment = {**os.environ, **(env or {}), ENV_HOOK: self.name}
        # stderr to a file: a pipe would hang us on a grandchild that keeps it open.
        with tempfile.TemporaryFile(mode="w+b") as err:
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=environment,
                    start_new_session=True,  # its own process group: a timeout kills it whole
                )
            except OSError as exc:
                raise HookError(f"{self.name} hook {self.argv[0]!r} cannot start: {exc}") from None
            try:
                status = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise HookError(
                    f"{self.name} hook {self.argv[0]!r} timed out after {self.timeout:g} s"
                    f"{_tail(err)}"
                ) from None
            if status != 0:
                how = f"exited {status}" if status > 0 else f"was killed by signal {-status}"
                raise HookError(f"{self.name} hook {self.argv[0]!r} {how}{_tail(err)}")

    def start(self, env: Mapping[str, str] | None = None) -> Callable[[], None]:
        """Run in a thread, as a person touches while the key waits; returns `finish`, which
        waits for the hook and raises its HookError."""
        failure: list[HookError] = []

        def run() -> None:
            try:
                self.run(env)
            except HookError as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, name=f"{self.name}-hook", daemon=True)
        thread.start()

        def finish() -> None:
            thread.join()
            if failure:
                raise failure[0]

        return finish


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(err: IO[bytes]) -> str:
    """'; stderr: <last line>' (at most STDERR_TAIL characters), or '' when it said nothing."""
    err.seek(0)
    lines = [ln.strip() for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
    return f"; stderr: {lines[-1][-STDERR_TAIL:]}" if lines else ""


@dataclass(frozen=True)
class RigHooks:
    """The hooks of one target (either may be missing: then the person does that part)."""

    power_cycle: Hook | None = None
    touch: Hook | None = None

    @property
    def unattended(self) -> bool:
        """Both in place: no part of any test needs the person."""
        return self.power_cycle is not None and self.touch is not None

    def __bool__(self) -> bool:
        return self.power_cycle is not None or self.touch is not None

    @classmethod
    def parse(
        cls,
        power_cycle: str | None = None,
        touch: str | None = None,
        timeout: float = HOOK_TIMEOUT,
    ) -> RigHooks:
        return cls(
            None if power_cycle is None else Hook.parse(POWER_CYCLE, power_cycle, timeout),
            None if touch is None else Hook.parse(TOUCH, touch, timeout),
        )

    def pytest_args(self) -> list[str]:
        """The plugin options that hand these hooks to a pytest run of the suites."""
        hooks = [hook for hook in (self.power_cycle, self.touch) if hook is not None]
        args = [arg for hook in hooks for arg in (f"--{hook.name}-cmd", hook.command)]
        return args + (["--hook-timeout", str(hooks[0].timeout)] if hooks else [])


def hook_env(uri: str, serial: str | None, device: str | None) -> dict[str, str]:
    """What a hook is told about the key it acts on."""
    return {ENV_TARGET: uri, ENV_SERIAL: serial or "", ENV_DEVICE: device or ""}


# ------------------------------------------------------------------ `bench run` options


class _HookForLastTarget(argparse.Action):
    """`--power-cycle-cmd CMD` / `--touch-cmd CMD` apply to the `--target` given just before."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        targets = getattr(namespace, "target", None) or []
        if not targets:
            raise argparse.ArgumentError(self, "give it after the --target it applies to")
        hooks: dict[tuple[int, str], str] = getattr(namespace, "rig_hooks", None) or {}
        hooks[(len(targets) - 1, self.dest)] = str(values)
        namespace.rig_hooks = hooks


def add_hook_options(parser: argparse.ArgumentParser) -> None:
    """The rig options of `bench run` (after `--target`, which they refer to)."""
    parser.set_defaults(rig_hooks={})
    for name, what in (
        (
            POWER_CYCLE,
            "power-cycles the key of the --target before it (e.g. 'uhubctl -l 1-1 "
            "-p 2 -a cycle'); the key is then found again, by serial",
        ),
        (
            TOUCH,
            "touches that key whenever it waits for user presence (run in the background"
            "; e.g. 'sh -c \"echo 1 > /dev/ttyACM0\"')",
        ),
    ):
        parser.add_argument(
            f"--{name}-cmd",
            dest=name,
            action=_HookForLastTarget,
            metavar="CMD",
            help=f"a command that {what}; split like a shell would but run without one, "
            "told the key in $TOKENBENCH_TARGET/_SERIAL/_DEVICE; with both hooks the target "
            "runs unattended, and a failing hook makes its test an error",
        )
    parser.add_argument(
        "--hook-timeout",
        type=float,
        default=HOOK_TIMEOUT,
        metavar="SECONDS",
        help=f"a hook running longer fails its test (default {HOOK_TIMEOUT:g})",
    )


def hooks_from_args(args: argparse.Namespace) -> list[RigHooks]:
    """One RigHooks per --target, in order (empty where none was given)."""
    given: dict[tuple[int, str], str] = args.rig_hooks
    return [
        RigHooks.parse(given.get((i, POWER_CYCLE)), given.get((i, TOUCH)), args.hook_timeout)
        for i in range(len(args.target))
    ]
