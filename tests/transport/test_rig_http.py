"""The test rig's HTTP controller (emulators/transport/rig_http.py) and the button it holds.

The paths and answers are the ones python-fido2's device tests send to a rig with
`--controller URL --pico-port N`; the full suite against the emulated key runs in
tests/conformance. Here each request is checked against the action it must call, and the
button (`presence.Button`) against what a held or released button means for a request.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2

from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.errors import CtapError as KeyCtapError
from tokenbench.emulators.ctap.presence import Button
from tokenbench.emulators.ctap.transaction import KeepaliveStatus, Transaction
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.transport.rig_http import BANNER, RigActions, RigHttpServer

LOOPBACK = ("127.0.0.1", 0)
RP = {"id": "example.com", "name": "Example"}
USER = {"id": b"user", "name": "user"}
ES256 = [{"type": "public-key", "alg": -7}]


class Recorder:
    """RigActions that record what the rig asked for (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.fail = False

    def power(self, on: bool) -> None:
        self._record("power", on)

    def touch(self, held: bool) -> None:
        self._record("touch", held)

    def _record(self, what: str, state: bool) -> None:
        if self.fail:
            raise RuntimeError("the reader did not take the card back")
        self.calls.append((what, state))


def get(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rig(recorder: Recorder) -> Iterator[RigHttpServer]:
    server = RigHttpServer(RigActions(recorder.power, recorder.touch), LOOPBACK).start()
    try:
        yield server
    finally:
        server.close()


def test_root_answers_with_a_banner(rig: RigHttpServer, recorder: Recorder) -> None:
    assert get(rig.url + "/") == (200, BANNER)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/usb1/power/off", ("power", False)),
        ("/usb1/power/on", ("power", True)),
        ("/usb6/touch/on", ("touch", True)),
        ("/usb6/touch/off?x=1", ("touch", False)),
    ],
)
def test_each_path_calls_its_action(
    rig: RigHttpServer, recorder: Recorder, path: str, call: tuple[str, bool]
) -> None:
    assert get(rig.url + path) == (200, "ok\n")
    assert recorder.calls == [call]


@pytest.mark.parametrize(
    "path",
    ["/usb1/power", "/usb1/power/maybe", "/usbx/touch/on", "/usb1/touch/on/x", "/favicon.ico"],
)
def test_other_paths_are_not_found(rig: RigHttpServer, recorder: Recorder, path: str) -> None:
    status, body = get(rig.url + path)
    assert status == 404 and "no such rig path" in body
    assert recorder.calls == []


def test_a_rig_for_one_port_ignores_the_others(recorder: Recorder) -> None:
    actions = RigActions(recorder.power, recorder.touch)
    server = RigHttpServer(actions, LOOPBACK, usb_port=1).start()
    try:
        assert get(server.url + "/usb2/power/off")[0] == 404
        assert get(server.url + "/usb1/power/off")[0] == 200
    finally:
        server.close()
    assert recorder.calls == [("power", False)]


def test_a_failing_action_is_answered_500_in_one_line(
    rig: RigHttpServer, recorder: Recorder
) -> None:
    recorder.fail = True
    status, body = get(rig.url + "/usb1/power/on")
    assert status == 500
    assert body == "RuntimeError: the reader did not take the card back\n"


@pytest.mark.parametrize("token", ["", "/wrong-token", "/usb1"])
def test_a_request_without_the_token_is_not_found(
    rig: RigHttpServer, recorder: Recorder, token: str
) -> None:
    """The rig touches and power-cycles the key: only who was given its URL may (issue 14)."""
    base = f"http://{rig.address[0]}:{rig.address[1]}{token}"
    for path in ("/", "/usb1/power/off", "/usb1/touch/on"):
        assert get(base + path)[0] == 404
    assert recorder.calls == []
    assert rig.url.endswith("/" + rig.token) and len(rig.token) >= 32


def test_the_rig_binds_loopback_only(recorder: Recorder) -> None:
    with pytest.raises(RuntimeError, match="not loopback"):
        RigHttpServer(RigActions(recorder.power, recorder.touch), ("0.0.0.0", 0))


def test_only_get_is_served(rig: RigHttpServer, recorder: Recorder) -> None:
    assert get(rig.url + "/usb1/power/off", method="POST")[0] == 501
    assert recorder.calls == []


# -- the button -----------------------------------------------------------------------------


def request_in_thread(button: Button, transaction: Transaction) -> dict[str, object]:
    """Start a presence request; returns a dict that gets its "answer" or "error"."""
    outcome: dict[str, object] = {}

    def ask() -> None:
        try:
            outcome["answer"] = button.request(transaction, "test")
        except KeyCtapError as exc:
            outcome["error"] = exc.status

    worker = threading.Thread(target=ask)
    worker.start()
    outcome["thread"] = worker
    return outcome


def wait_for_upneeded(transaction: Transaction) -> None:
    for _ in range(500):
        if transaction.status == KeepaliveStatus.UPNEEDED:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the button never asked for the user")


def finish(outcome: dict[str, object]) -> dict[str, object]:
    worker = outcome["thread"]
    assert isinstance(worker, threading.Thread)
    worker.join(5)
    return outcome


def test_a_held_button_approves_every_request_at_once() -> None:
    button = Button(timeout=0.01)
    button.hold(True)
    first, second = Transaction(), Transaction()
    assert button.request(first, "makeCredential") is True
    assert button.request(second, "getAssertion") is True
    assert first.status == second.status == KeepaliveStatus.PROCESSING  # never asked


def test_a_released_button_waits_until_it_is_pressed() -> None:
    button = Button(timeout=5)
    transaction = Transaction()
    outcome = request_in_thread(button, transaction)
    wait_for_upneeded(transaction)
    button.hold(True)
    assert finish(outcome).get("answer") is True
    assert transaction.status == KeepaliveStatus.PROCESSING


def test_a_released_button_times_out_or_is_cancelled() -> None:
    timed_out = finish(request_in_thread(Button(timeout=0.05), Transaction()))
    assert timed_out.get("error") == CtapStatus.USER_ACTION_TIMEOUT
    transaction = Transaction()
    outcome = request_in_thread(Button(timeout=5), transaction)
    wait_for_upneeded(transaction)
    transaction.cancel()
    assert finish(outcome).get("error") == CtapStatus.KEEPALIVE_CANCEL


def test_letting_go_makes_the_next_request_wait() -> None:
    button = Button(timeout=0.05)
    button.hold(True)
    button.hold(False)
    outcome = finish(request_in_thread(button, Transaction()))
    assert outcome.get("error") == CtapStatus.USER_ACTION_TIMEOUT


def test_the_rigs_touch_approves_a_waiting_make_credential() -> None:
    """End to end, as the device suite does it: the key waits (keepalive UPNEEDED), the
    client asks the rig for touch/on, the key answers; after touch/off it waits again."""
    key = EmulatedKey.create(presence="button", seed=1)
    server = RigHttpServer(RigActions(power=lambda on: None, touch=key.hold), LOOPBACK).start()
    statuses: list[int] = []

    def touch_when_asked(status: int) -> None:
        statuses.append(status)
        if status == KeepaliveStatus.UPNEEDED:
            assert get(server.url + "/usb1/touch/on")[0] == 200

    try:
        ctap = Ctap2(key.hid_device())
        ctap.make_credential(b"\0" * 32, RP, USER, ES256, on_keepalive=touch_when_asked)
        assert KeepaliveStatus.UPNEEDED in statuses
        ctap.make_credential(b"\1" * 32, RP, USER, ES256)  # still held: no wait
        assert get(server.url + "/usb1/touch/off")[0] == 200
        event = threading.Event()
        cancel = threading.Timer(0.3, event.set)
        cancel.start()
        with pytest.raises(CtapError) as error:
            ctap.make_credential(b"\2" * 32, RP, USER, ES256, event=event)
        assert error.value.code == CtapError.ERR.KEEPALIVE_CANCEL
    finally:
        server.close()
        key.close()
