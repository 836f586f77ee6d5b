"""Rig hooks (`--power-cycle-cmd`, `--touch-cmd`) and targets named by serial (`hid:serial=`).

The key is the emulated one as a kernel-visible hidraw node under umockdev
(emulators/transport/umockdev_hidraw.py): python-fido2's real Linux backend finds it by
globbing /dev/hidraw*, and a power-cycle takes the node away and plugs a new one in under the
next number, as the kernel does with a real key behind a switched hub port. The key has a
button (presence="button"); the rig controller (emulators/transport/rig_http.py) switches
its power and presses its button, and the hooks are small commands that ask it to, as
`uhubctl` and a touch actuator would. The whole `tokenbench bench run` runs under umockdev's
preload library, so the runner, its pytest child and the hooks all see the testbed.

No mocks: the hook runner starts real processes, the key answers over real hidraw ioctls and
reads, and the rig is the same HTTP controller python-fido2's own device tests drive.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_capture import run_main
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.bench.errors import UserError
from tokenbench.bench.rig_hooks import (
    ENV_DEVICE,
    ENV_SERIAL,
    ENV_TARGET,
    Hook,
    HookError,
    RigHooks,
    add_hook_options,
    hook_env,
    hooks_from_args,
)
from tokenbench.bench.targets import attach_hooks, parse_target
from tokenbench.emulators.ctap.presence import Button
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.rig_http import RigHttpServer
from tokenbench.emulators.transport.umockdev_hidraw import UmockdevHidraw, attach_umockdev

CLI = (sys.executable, "-m", "tokenbench.bench.cli")
RIG_ENV = "TB_TEST_RIG"  # the rig URL holds its secret token: in the environment, not on argv
USB_PORT = 1
# What `uhubctl -a cycle` and a touch actuator do, against the emulated key's rig controller.
RIG_CLIENT = f"""
import os, sys, time, urllib.request
def get(path):
    urllib.request.urlopen(os.environ["{RIG_ENV}"] + path, timeout=10).read()
if sys.argv[1] in ("cycle", "off"):
    get("/usb{USB_PORT}/power/off")
if sys.argv[1] == "cycle":
    get("/usb{USB_PORT}/power/on")
if sys.argv[1] == "touch":
    get("/usb{USB_PORT}/touch/on")
    time.sleep(0.05)  # a press, as a touch actuator gives it
    get("/usb{USB_PORT}/touch/off")
"""
POWER_CYCLE_CMD = f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(RIG_CLIENT)} cycle"
TOUCH_CMD = f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(RIG_CLIENT)} touch"
SELECTION = "destructive or power_cycle or needs_presence"  # -k matches marker names too
REAL_KEYS_ONLY = (
    "--power-cycle-cmd/--touch-cmd are for real keys (hid:, pcsc:); "
    "emulated targets are driven through their control channel"
)
WITH_CARD = Path(__file__).resolve().parents[2] / "scripts" / "pcsc" / "with-emulated-card.sh"
NOBODY = Path(__file__).with_name("nobody_at_the_bench.py")


# ------------------------------------------------------------------ the hook runner


def test_a_hook_is_split_like_a_shell_would_and_run_without_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = Hook.parse("touch", f"sh -c 'echo \"$1; $2\" > {out}' - 'a b' '$HOME'")
    assert hook.argv[:2] == ("sh", "-c") and hook.argv[-2:] == ("a b", "$HOME")
    hook.run()
    assert out.read_text() == "a b; $HOME\n"  # no second expansion of the user's words


@given(st.text(max_size=40))
def test_any_command_text_parses_or_is_one_user_error(text: str) -> None:
    try:
        hook = Hook.parse("touch", text)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert hook.argv == tuple(shlex.split(text)) and hook.argv


def test_a_hook_is_told_which_key_it_acts_on() -> None:
    check = (
        f'test "$TOKENBENCH_HOOK" = power-cycle && test "${ENV_TARGET}" = hid:serial=S1 '
        f'&& test "${ENV_SERIAL}" = S1 && test "${ENV_DEVICE}" = /dev/hidraw7'
    )
    Hook.parse("power-cycle", f"sh -c {shlex.quote(check)}").run(
        hook_env("hid:serial=S1", "S1", "/dev/hidraw7")
    )


def test_a_failing_hook_names_its_exit_status_and_stderr_tail() -> None:
    hook = Hook.parse(
        "power-cycle", "sh -c 'echo starting >&2; echo port 2: no such hub >&2; exit 3'"
    )
    with pytest.raises(HookError) as caught:
        hook.run()
    assert str(caught.value) == "power-cycle hook 'sh' exited 3; stderr: port 2: no such hub"


def test_a_hook_that_cannot_start_is_a_hook_error() -> None:
    with pytest.raises(HookError, match="touch hook '/nonexistent/actuator' cannot start"):
        Hook.parse("touch", "/nonexistent/actuator --press").run()


def test_a_hook_over_its_timeout_is_killed_with_its_children() -> None:
    hook = Hook.parse("touch", "sh -c 'sleep 60 & sleep 60'", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(HookError, match=r"^touch hook 'sh' timed out after 0.5 s$"):
        hook.run()
    assert time.monotonic() - started < 5  # the grandchild did not keep us waiting
    # `sleep 60` of that process group is gone too.
    alive = subprocess.run(["pgrep", "-f", "^sleep 60$"], capture_output=True, text=True)
    assert alive.stdout == "", alive.stdout


def test_a_touch_runs_in_the_background_and_its_failure_comes_at_finish() -> None:
    started = time.monotonic()
    finish = Hook.parse("touch", "sh -c 'sleep 0.3; exit 4'").start()
    assert time.monotonic() - started < 0.2  # the waiting CTAP call keeps reading meanwhile
    with pytest.raises(HookError, match="touch hook 'sh' exited 4"):
        finish()
    Hook.parse("touch", "true").start()()  # a good touch finishes quietly


def test_bad_hook_options_are_one_line() -> None:
    with pytest.raises(UserError, match="--touch-cmd is empty"):
        RigHooks.parse(touch="  ")
    with pytest.raises(UserError, match="bad --power-cycle-cmd"):
        RigHooks.parse(power_cycle="uhubctl 'unclosed")
    with pytest.raises(UserError, match="more than 0 s"):
        RigHooks.parse(touch="true", timeout=0)


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--target", action="append", default=[])
    add_hook_options(parser)
    return parser


def test_hook_options_apply_to_the_target_before_them() -> None:
    argv = [
        "--target", "hid:serial=A", "--power-cycle-cmd", "cycle A", "--touch-cmd", "touch A",
        "--target", "emu:",
        "--target", "hid:serial=B", "--touch-cmd", "touch B",
        "--hook-timeout", "5",
    ]  # fmt: skip
    hooks = hooks_from_args(_run_parser().parse_args(argv))
    assert [(h.power_cycle and h.power_cycle.argv, h.touch and h.touch.argv) for h in hooks] == [
        (("cycle", "A"), ("touch", "A")),
        (None, None),
        (None, ("touch", "B")),
    ]
    assert hooks[0].unattended and not hooks[1] and not hooks[2].unattended
    assert hooks[2].pytest_args() == ["--touch-cmd", "touch B", "--hook-timeout", "5.0"]


def test_a_hook_before_any_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys, "bench", "run", "--touch-cmd", "true", "--target", "emu:")
    assert status == 2
    assert err.splitlines()[-1].endswith("--touch-cmd: give it after the --target it applies to")
    status, _, err = run_main(capsys, "bench", "run", "--target", "emu:", "--touch-cmd", "true")
    assert (status, err) == (1, f"tokenbench: error: emu:: {REAL_KEYS_ONLY}\n")


def test_hooks_are_for_real_keys_only() -> None:
    hooks = RigHooks.parse("true", "true")
    for uri in ("emu:", "totp:emu", "udp:127.0.0.1:8111"):
        with pytest.raises(UserError, match="are for real keys"):
            attach_hooks(parse_target(uri), hooks)
    real = parse_target("hid:serial=TB01")
    assert not real.unattended
    attach_hooks(real, hooks)
    assert real.unattended  # both hooks: no person needed, no confirmation asked


@given(st.sampled_from(["hid", "pcsc"]), st.text(max_size=30))
def test_any_serial_text_is_a_serial_target_or_one_user_error(scheme: str, text: str) -> None:
    try:
        target = parse_target(f"{scheme}:serial={text}")
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert target.serial  # type: ignore[attr-defined]


def test_serial_targets_parse() -> None:
    hid = parse_target("hid:serial=TB0042")
    assert (hid.serial, hid.path) == ("TB0042", None)  # type: ignore[attr-defined]
    pcsc = parse_target("pcsc:serial=1234567")
    assert (pcsc.serial, pcsc.reader) == ("1234567", "")  # type: ignore[attr-defined]
    for bad in ("hid:serial=", "pcsc:serial= ,control=127.0.0.1:1"):
        with pytest.raises(UserError, match="serial= needs"):
            parse_target(bad)


# ------------------------------------------------------------------ against the kernel-visible key


@dataclass(frozen=True)
class HidRig:
    key: EmulatedKey
    node: UmockdevHidraw
    env: dict[str, str]  # umockdev's preload, and the rig URL for the hooks

    def cli(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *argv],
            env=self.env,
            stdin=subprocess.DEVNULL,  # nobody at the terminal: a prompt could only fail
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextmanager
def hid_rig(button_timeout: float = 30.0) -> Iterator[HidRig]:
    """The emulated key as /dev/hidraw0 with a button, and the rig that switches and presses."""
    key = EmulatedKey.create(presence=Button(timeout=button_timeout))
    with key, attach_umockdev(key) as node:
        rig = RigHttpServer(node.rig_actions(key), ("127.0.0.1", 0), usb_port=USB_PORT).start()
        try:
            env = {
                **node.client_env(),
                RIG_ENV: rig.url,
                "PYTEST_PLUGINS": NOBODY.stem,  # into the bench's pytest child: prompts fail
                "PYTHONPATH": str(NOBODY.parent),
            }
            yield HidRig(key, node, env)
        finally:
            rig.close()


def _hooks(argv: tuple[str, ...]) -> tuple[str | None, str | None]:
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    return given.get("--power-cycle-cmd"), given.get("--touch-cmd")


def _bench_run(rig: HidRig, report: Path, keyword: str, *hooks: str) -> tuple[int, list[dict]]:
    done = rig.cli(
        "bench", "run", "--target", f"hid:serial={rig.node.serial}", *hooks,
        "--allow-destructive", "-k", keyword, "--report", str(report),
    )  # fmt: skip
    # With both hooks it runs unattended, as emulated targets do; else the person is called.
    assert ("needs you at the device" in done.stderr) != RigHooks.parse(*_hooks(hooks)).unattended
    (target,) = json.loads((report / "results.json").read_text())["targets"]
    assert target["device"]["serial"] == rig.node.serial  # the report names the key by it
    return done.returncode, target["tests"]


@pytest.mark.slow
def test_every_destructive_and_power_cycle_test_passes_with_hooks_and_no_person(
    tmp_path: Path,
) -> None:
    with hid_rig() as rig:
        hooks = ("--power-cycle-cmd", POWER_CYCLE_CMD, "--touch-cmd", TOUCH_CMD)
        status, tests = _bench_run(rig, tmp_path, SELECTION, *hooks)
        outcomes = {t["name"]: t["outcome"] for t in tests}
        assert status == 0, outcomes
        # No failure, no error, and no skip but for a feature the default key does not list
        # (CTAP 2.2's, under needs_presence): nothing skipped for want of a person.
        others = [
            t for t in tests if t["outcome"] != "passed" and t.get("skip_kind") != "unclaimed"
        ]
        assert not others, others
        assert sum(outcome == "passed" for outcome in outcomes.values()) >= 30
        assert any("reset" in name for name in outcomes)
        # The resets re-plugged the key through the hook: each time under a new node number.
        assert rig.key.power_cycles >= 10
        assert rig.node.devnode == f"/dev/hidraw{rig.key.power_cycles}"
        assert rig.key.env.presence.requests, "no test asked for a touch"


@pytest.mark.slow
def test_a_failing_hook_is_an_error_never_a_skip(tmp_path: Path) -> None:
    """`false` as the power-cycle hook, and a touch hook that outlives its timeout."""
    with hid_rig(button_timeout=3.0) as rig:
        status, tests = _bench_run(
            rig,
            tmp_path,
            "test_reset_only_within_10_s_of_power_up or test_selection "
            "or test_security_key_registers_and_signs_in",
            "--power-cycle-cmd", "false", "--touch-cmd", "sleep 30", "--hook-timeout", "1",
        )  # fmt: skip
    results = {t["name"]: (t["outcome"], t["message"]) for t in tests}
    assert status == 1
    assert results == {
        # power_cycle() in the test body, and in the fresh_ctap2 fixture's setup
        "test_reset_only_within_10_s_of_power_up": (
            "error",
            "tokenbench.bench.rig_hooks.HookError: power-cycle hook 'false' exited 1",
        ),
        "test_selection": (
            "error",
            "tokenbench.bench.rig_hooks.HookError: power-cycle hook 'false' exited 1",
        ),
        "test_security_key_registers_and_signs_in": (
            "error",
            "tokenbench.bench.rig_hooks.HookError: touch hook 'sleep' timed out after 1 s",
        ),
    }


@pytest.mark.slow
def test_a_key_that_does_not_come_back_after_the_hook_is_an_error(tmp_path: Path) -> None:
    """The hook succeeded but the port stayed off: the target looked for 10 s, then said so."""
    power_off = f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(RIG_CLIENT)} off"
    with hid_rig() as rig:
        status, tests = _bench_run(
            rig, tmp_path, "test_reset_only_within_10_s_of_power_up",
            "--power-cycle-cmd", power_off, "--touch-cmd", TOUCH_CMD,
        )  # fmt: skip
        serial = rig.node.serial
    assert status == 1
    assert [(t["outcome"], t["message"]) for t in tests] == [
        (
            "error",
            "tokenbench.bench.rig_hooks.HookError: no key after the power-cycle hook: "
            f"no FIDO HID key has serial {serial} (see `key list`)",
        )
    ]


def test_with_one_hook_the_person_is_still_asked(tmp_path: Path) -> None:
    """The proof above has teeth: with no power-cycle hook the bench still needs the person
    (to confirm the destructive test, then to re-plug), and nobody is there."""
    with hid_rig() as rig:
        status, tests = _bench_run(rig, tmp_path, "test_selection", "--touch-cmd", TOUCH_CMD)
    assert status == 1
    assert [(t["outcome"], t["message"]) for t in tests] == [
        ("error", "AssertionError: the bench asked the person (confirm)")
    ]


FOLLOW_SCRIPT = """
import json, sys
from fido2.ctap2 import Ctap2
from nobody_at_the_bench import NobodyThere
from tokenbench.bench.report_records import TimedDevice
from tokenbench.bench.rig_hooks import RigHooks
from tokenbench.bench.targets import attach_hooks, parse_target

target = parse_target("hid:serial=" + sys.argv[1])
target.prompter = NobodyThere()
attach_hooks(target, RigHooks.parse(sys.argv[2], sys.argv[3]))
paths = [target.device().descriptor.path]
target.power_cycle()
paths.append(target.device().descriptor.path)
ctap2 = Ctap2(TimedDevice(target.device, lambda timing: None, target.presence_needed))
user, algorithms = {"id": b"u", "name": "u"}, [{"type": "public-key", "alg": -7}]
made = ctap2.make_credential(b"\\1" * 32, {"id": "rig.example"}, user, algorithms)
target.close()
print(json.dumps({"paths": paths, "fmt": made.fmt}))
"""


def test_a_serial_target_finds_the_key_again_under_its_new_node(tmp_path: Path) -> None:
    """No prompt either: the target's prompter raises if it is asked anything."""
    with hid_rig() as rig:
        done = rig.cli("key", "list")  # the serial to name the key by
        assert "hid:/dev/hidraw0 " in done.stdout and f"serial={rig.node.serial}" in done.stdout
        follow = subprocess.run(
            [sys.executable, "-c", FOLLOW_SCRIPT, rig.node.serial, POWER_CYCLE_CMD, TOUCH_CMD],
            env=rig.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert follow.returncode == 0, follow.stderr[-2000:]
        result = json.loads(follow.stdout)
        assert result["paths"] == ["/dev/hidraw0", "/dev/hidraw1"]
        assert result["fmt"] == "packed"
        assert rig.key.power_cycles == 1 and rig.key.env.presence.requests
        gone = rig.cli("bench", "run", "--target", "hid:serial=NOSUCH", "--report", str(tmp_path))
    assert "no FIDO HID key has serial NOSUCH" in gone.stderr + gone.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for private namespaces")
def test_pcsc_serial_says_in_one_line_when_no_reader_reports_one() -> None:
    """vpcd (the emulated card's reader) keeps SCARD_ATTR_VENDOR_IFD_SERIAL_NO to itself, as
    many NFC readers do; `key list` shows that, and `pcsc:serial=` says what to use instead."""
    script = (
        ".venv/bin/tokenbench key list --json; "
        ".venv/bin/tokenbench key info --target pcsc:serial=1234567 || echo status=$?"
    )
    done = subprocess.run(
        [str(WITH_CARD), "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"},
        cwd=WITH_CARD.parents[2],
        check=False,
    )
    listing, _, status = done.stdout.rpartition("}\n")
    pcsc = [d for d in json.loads(listing + "}")["devices"] if d["source"] == "pcsc"]
    assert [(d["path"], d["serial"]) for d in pcsc] == [("pcsc:Virtual PCD 00 00", None)]
    assert status == "status=1\n"
    assert done.stderr.splitlines()[-1] == (
        "tokenbench: error: no PC/SC reader reports serial 1234567 "
        "(no reader reports a serial here: name it as pcsc:READER instead)"
    )
