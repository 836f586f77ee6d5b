"""pytest plugin for the conformance suites.

`pytest --pyargs tokenbench.bench.suites --target emu: --target totp:emu` runs every suite that
applies to each target (one parametrization per target). The `pytest11` entry point
(`tokenbench.bench.pytest_entry`) loads this module only into runs that name the suites, or
that ask for it with `-p tokenbench.bench.plugin`, so other projects' pytest runs never see
its options, markers or fixtures.

Skips and the exit status: a test the device cannot run because it does not claim the
feature (getInfo, CTAPHID capabilities) is skipped as `unclaimed:`; a destructive test
without `--allow-destructive` (or without the person's confirmation on a real key) is
skipped as `not permitted:`. Neither counts as passed, both are shown apart in the summary,
and neither fails the run. Any other skip is unexpected and makes the exit status 1.

Rig hooks (`--power-cycle-cmd`, `--touch-cmd`; `tokenbench.bench.rig_hooks`) stand in for the
person at a real key; here they apply to every `--target` (`bench run` gives each target its
own). A failing hook makes its test an error, never a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.junitxml import xml_key as junit_xml_key  # the only handle on --junitxml's writer

from tokenbench.bench.errors import UserError
from tokenbench.bench.pytest_entry import SUITES_DIR
from tokenbench.bench.report_records import (
    SKIP_OTHER,
    CommandTiming,
    TestRecord,
    TimedDevice,
    classify_skip,
)
from tokenbench.bench.rig_hooks import HOOK_TIMEOUT, HookError, RigHooks
from tokenbench.bench.secret_input import PIN_ENV  # the runner hands the PIN over in it
from tokenbench.emulators.private_file import PUBLIC_FILE_MODE, write_private_file

if TYPE_CHECKING:  # the targets are imported where used, once a run names the suites
    from fido2.ctap import CtapDevice
    from pluggy import Result

    from tokenbench.bench.targets import KeyTarget
    from tokenbench.bench.targets_totp import TotpTarget

MARKERS = {
    "needs_presence": "the test needs user presence (touch) on the key",
    "needs_pin": "the test uses the bench PIN (--pin)",
    "destructive": "resets the key, changes its PIN or deletes credentials",
    "power_cycle": "the test unplugs and re-plugs (power-cycles) the key",
    "target_kind(kind)": "the test applies to targets of this kind only (key or totp)",
    "practice": "checks what deployed keys answer where CTAP leaves room (docs/conformance.md)",
}
DEFAULT_PIN = "314159"
EXIT_UNEXPECTED_SKIP = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tokenbench")
    group.addoption("--target", action="append", default=[], help="target URI (repeatable)")
    group.addoption(
        "--bench-suite",
        action="append",
        default=[],
        help="run only these suites (ctaphid, ctap2, u2f, nfc, oath, totp, verifier)",
    )
    group.addoption(
        "--pin", dest="bench_pin", default=None, help=f"the key's PIN for PIN tests (or ${PIN_ENV})"
    )
    group.addoption(
        "--allow-destructive",
        action="store_true",
        default=False,
        help="allow tests that reset the key, change its PIN or delete credentials",
    )
    group.addoption(
        "--power-cycle-cmd",
        default=None,
        help="command that power-cycles the key of every --target (see tokenbench.bench.rig_hooks)",
    )
    group.addoption("--touch-cmd", default=None, help="command that touches the key")
    group.addoption("--hook-timeout", type=float, default=HOOK_TIMEOUT, help="seconds per hook")
    group.addoption(
        "--bench-confirmed",
        action="append",
        default=[],
        help="identity of a real key the person already confirmed for destructive tests",
    )
    group.addoption("--bench-json", default=None, help="write the bench JSON results here")
    group.addoption(
        "--bench-events", default=None, help="append one JSON line per finished test here"
    )
    group.addoption("--bench-mds", default=None, help="MDS3 blob or statement: the model name")
    group.addoption("--bench-mds-root", default=None, help="root certificate for --bench-mds")


class BenchSession:
    """Targets of this pytest session and the records of the tests run against them."""

    def __init__(self, config: pytest.Config) -> None:
        from tokenbench.bench.targets import SUITES, attach_hooks, parse_target

        self.config = config
        suites = config.getoption("bench_suite")
        unknown = [s for s in suites if s not in SUITES]
        if unknown:
            raise pytest.UsageError(f"unknown suite(s): {', '.join(unknown)}")
        self.suites: set[str] = set(suites)
        self.pin: str = config.getoption("bench_pin") or os.environ.get(PIN_ENV) or DEFAULT_PIN
        self.allow_destructive: bool = config.getoption("allow_destructive")
        self.confirmed: set[str] = set(config.getoption("bench_confirmed"))
        try:
            self.targets = [parse_target(uri) for uri in config.getoption("target")]
            hooks = RigHooks.parse(
                config.getoption("power_cycle_cmd"),
                config.getoption("touch_cmd"),
                config.getoption("hook_timeout"),
            )
            for target in self.targets:
                attach_hooks(target, hooks)
        except UserError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.records: dict[str, TestRecord] = {}
        self.current: TestRecord | None = None
        self.identities: dict[str, dict[str, Any]] = {}  # target URI -> device identity
        events = config.getoption("bench_events")
        self._events = open(events, "a", encoding="utf-8") if events else None  # noqa: SIM115

    def event(self, **fields: Any) -> None:
        """Progress for a runner watching from another process."""
        if self._events is not None:
            self._events.write(json.dumps(fields) + "\n")
            self._events.flush()

    def identify(self, target: Any) -> None:
        """Read the target's identity once, before its first test, into every report."""
        if target.uri in self.identities:
            return
        from tokenbench.bench.device_identity import MdsSource, gather, shown

        mds_path, root = self.config.getoption("bench_mds"), self.config.getoption("bench_mds_root")
        mds = MdsSource(Path(mds_path), Path(root) if root else None) if mds_path else None
        identity = gather(target, mds).to_dict()
        self.identities[target.uri] = identity
        junit = self.config.stash.get(junit_xml_key, None)
        if junit is not None:  # pytest's JUnit writer: <testsuite><properties>
            prefix = "" if len(self.targets) == 1 else f"{target.uri} "
            for key, _, text in shown(identity):
                junit.add_global_property(f"{prefix}device.{key}", text)

    def record_command(self, timing: CommandTiming) -> None:
        if self.current is not None:
            self.current.commands.append(timing)

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        for target in self.targets:
            with contextlib.suppress(Exception):  # closing must not hide the test results
                target.close()


SESSION_KEY = pytest.StashKey[BenchSession]()


def bench_session(config: pytest.Config) -> BenchSession | None:
    return config.stash.get(SESSION_KEY, None)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if config.getoption("target", default=None):
        config.stash[SESSION_KEY] = BenchSession(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = bench_session(config)
    if session is not None:
        session.close()


def suite_of(path: Path) -> str | None:
    """The suite a test module belongs to, by name prefix: test_ctap2_info.py -> ctap2."""
    if path.parent.resolve() != SUITES_DIR:
        return None
    from tokenbench.bench.targets import SUITES

    stem = path.stem.removeprefix("test_")
    for name in SUITES:
        if stem == name or stem.startswith(f"{name}_"):
            return name
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_target" not in metafunc.fixturenames:
        return
    session = bench_session(metafunc.config)
    if session is None:  # reported once, as a usage error, after collection
        metafunc.parametrize("bench_target", [None], ids=["no-target"])
        return
    metafunc.parametrize("bench_target", session.targets, ids=[t.uri for t in session.targets])


def _target_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("bench_target")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    bench = bench_session(config)
    if bench is None:
        if any(suite_of(Path(item.path)) for item in items):
            raise pytest.UsageError("the bench suites need --target URI (e.g. --target emu:)")
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        suite = suite_of(Path(item.path))
        target = _target_of(item)
        if suite is None or target is None:
            keep.append(item)
            continue
        applies = suite in target.suites and (not bench.suites or suite in bench.suites)
        kind_mark = item.get_closest_marker("target_kind")
        if kind_mark is not None:
            wanted = kind_mark.args[0]
            applies = applies and (wanted == "totp") == (target.kind == "totp")
        (keep if applies else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    bench.event(collected=len(items))


def display_name(item_name: str, target_uri: str) -> str:
    """The test's name with its other parameters kept and the (already shown) target dropped."""
    base, bracket, params = item_name.partition("[")
    if not bracket:
        return base
    kept = params[:-1].removeprefix(target_uri).removeprefix("-")
    return f"{base}[{kept}]" if kept else base


def pytest_runtest_setup(item: pytest.Item) -> None:
    bench = bench_session(item.config)
    target = _target_of(item)
    if bench is None or target is None:
        return
    suite = suite_of(Path(item.path)) or "other"
    record = TestRecord(
        nodeid=item.nodeid,
        target=target.uri,
        suite=suite,
        name=display_name(item.name, target.uri),
    )
    bench.records[item.nodeid] = record
    bench.current = record
    bench.identify(target)
    if item.get_closest_marker("destructive") is not None:
        _gate_destructive(bench, target)


def _gate_destructive(bench: BenchSession, target: Any) -> None:
    if not bench.allow_destructive:
        pytest.skip("not permitted: destructive test (pass --allow-destructive)")
    if target.unattended:  # a rig stands in for the person: --allow-destructive is the consent
        return
    identity = target.identity()
    if identity in bench.confirmed:
        return
    try:
        confirmed = target.prompter.confirm(f"Destructive tests will run on {identity}. Proceed?")
    except UserError as exc:
        pytest.skip(f"not permitted: destructive test needs confirmation ({exc})")
    if not confirmed:
        pytest.skip("not permitted: the person declined destructive tests on this key")
    bench.confirmed.add(identity)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    bench = bench_session(item.config)
    if bench is None:
        return
    report = outcome.get_result()
    record = bench.records.get(item.nodeid)
    if record is None:
        return
    record.duration += report.duration
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        record.outcome = "skipped"
        record.message = reason.removeprefix("Skipped: ")
        record.skip_kind = classify_skip(reason)
    elif report.failed:
        rig_broke = call.excinfo is not None and call.excinfo.errisinstance(HookError)
        record.outcome = "failed" if report.when == "call" and not rig_broke else "error"
        record.message = _short_message(report)
    if report.when == "teardown":
        bench.current = None
        bench.event(nodeid=item.nodeid, outcome=record.outcome)


def _short_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:500]
    return str(report.longrepr).splitlines()[-1][:500] if report.longrepr else ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bench = bench_session(session.config)
    if bench is None:
        return
    path = session.config.getoption("bench_json")
    if path:
        payload = {
            "targets": [t.uri for t in bench.targets],
            "identities": bench.identities,
            "tests": [r.to_dict() for r in bench.records.values()],
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(payload, indent=1)  # never through a symlink planted at `path`
        write_private_file(path, text.encode(), mode=PUBLIC_FILE_MODE, make_parents=False)
    unexpected = [
        r for r in bench.records.values() if r.outcome == "skipped" and r.skip_kind == SKIP_OTHER
    ]
    if unexpected and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = EXIT_UNEXPECTED_SKIP


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    bench = bench_session(config)
    if bench is None or not bench.records:
        return
    from tokenbench.bench.report_summary import summarize

    terminalreporter.write_sep("=", "tokenbench summary (skips are never passes)")
    for line in summarize(list(bench.records.values())).lines():
        terminalreporter.write_line(line)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def bench(request: pytest.FixtureRequest) -> BenchSession:
    session = bench_session(request.config)
    if session is None:
        raise pytest.UsageError("the bench suites need --target URI")
    return session


@pytest.fixture
def bench_pin(bench: BenchSession) -> str:
    return bench.pin


@pytest.fixture
def key_target(bench_target: Any) -> KeyTarget:
    from tokenbench.bench.targets import KeyTarget

    if not isinstance(bench_target, KeyTarget):
        pytest.fail(f"{bench_target.uri} is not a security key target")
    return bench_target


@pytest.fixture
def ctap_device(bench: BenchSession, key_target: KeyTarget) -> TimedDevice:
    """The target's CtapDevice, each call timed and attributed to the running test."""
    try:
        key_target.device()
    except UserError as exc:
        pytest.fail(f"cannot open {key_target.uri}: {exc}")
    return TimedDevice(key_target.device, bench.record_command, key_target.presence_needed)


@pytest.fixture
def raw_hid(key_target: KeyTarget) -> Iterator[Callable[[], Any]]:
    """Opens raw CTAPHID handles on the key (closed after the test)."""
    from tokenbench.bench.suites._hid_raw import RawHid

    opened: list[Any] = []

    def open_raw() -> Any:
        try:
            connection, reader = key_target.raw_connection()
        except UserError as exc:
            pytest.skip(f"unclaimed: {exc}")
        raw = RawHid(connection, reader)
        opened.append(raw)
        return raw

    yield open_raw
    for raw in opened:
        with contextlib.suppress(Exception):
            raw.close()


@pytest.fixture
def power_cycle(key_target: KeyTarget) -> Callable[[], CtapDevice]:
    """Unplug/re-plug the key (emulated: control interface; real: the person, with countdown)."""
    return key_target.power_cycle


@pytest.fixture
def bench_clock(bench_target: Any) -> Any:
    """True time as the target sees it (emulated targets: their own, movable clock)."""
    return bench_target.clock()


@pytest.fixture
def relying_party(bench_clock: Any, tmp_path: Path) -> Iterator[Any]:
    """The verifier as a relying party on a fresh store, timed by the target's clock."""
    from tokenbench.bench.relying_party import LocalRelyingParty

    party = LocalRelyingParty(tmp_path, bench_clock)
    yield party
    party.close()


@pytest.fixture
def totp_target(bench_target: Any) -> TotpTarget:
    from tokenbench.bench.targets_totp import TotpTarget

    if not isinstance(bench_target, TotpTarget):
        pytest.fail(f"{bench_target.uri} is not a TOTP target")
    return bench_target
