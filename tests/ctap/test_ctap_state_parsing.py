"""A damaged key state file is refused with the one-line `StateError`, never a crash.

Numbers out of range (1e400 parses as infinity), floats where integers belong, integers too
long for Python's int parser, bools posing as numbers and deep nesting all reach the state
parser from a file a user can hand us; each must end as `StateError`, and through the CLI as
one `tokenbench: error:` line rather than "internal error".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.bench.cli import main
from tokenbench.emulators.ctap.client_pin import PinState
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.randomness import SeededRandom
from tokenbench.emulators.ctap.state import KeyState, MemoryStore, ResidentCredential, StateManager

HUGE_INT = "9" * 5000  # past Python's 4300-digit int-parsing limit: json raises ValueError
DEEP = "[" * 100_000


def good_state() -> dict[str, Any]:
    state = KeyState(master_secret=bytes(32), counters={"c": 5}, pin=PinState(pin_length=4))
    state.residents.append(ResidentCredential(id=b"\1" * 16, rp_id="x", user_id=b"u", created=1))
    doc: dict[str, Any] = json.loads(state.to_json())
    return doc


def with_raw(doc: dict[str, Any], path: tuple[str | int, ...], raw: str) -> bytes:
    """The document serialised with the value at `path` replaced by the raw JSON text `raw`."""
    marker = "__tokenbench_raw__"
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = marker
    return json.dumps(doc).replace(f'"{marker}"', raw).encode()


NUMBER_PATHS: list[tuple[str | int, ...]] = [
    ("next_created",),
    ("counter_block",),
    ("counters", "c"),
    ("residents", 0, "created"),
    ("residents", 0, "alg"),
    ("residents", 0, "cred_protect"),
    ("pin", "pin_length"),
    ("pin", "retries"),
    ("pin", "min_pin_length"),
]
BAD_NUMBERS = ["1e400", "-1e400", "1.5", "0.5e1", HUGE_INT, "-" + HUGE_INT, "true", "2e19",
               str(2**64), str(-(2**63) - 1), '"7"', "[1]", "{}", "null", DEEP]  # fmt: skip


@pytest.mark.parametrize("path", NUMBER_PATHS, ids=lambda p: "/".join(map(str, p)))
@pytest.mark.parametrize("raw", BAD_NUMBERS, ids=lambda r: r[:12])
def test_malformed_number_is_state_error(path: tuple[str | int, ...], raw: str) -> None:
    with pytest.raises(StateError) as info:
        KeyState.from_json(with_raw(good_state(), path, raw))
    assert "\n" not in str(info.value)


def test_deep_nesting_is_state_error() -> None:
    for data in (DEEP.encode(), b'{"a":' + DEEP.encode(), ("{" + '"a":{' * 50_000).encode()):
        with pytest.raises(StateError):
            KeyState.from_json(data)


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["1e400", "-1e400", HUGE_INT, "[" * 5000 + "]" * 5000]).map(
        lambda raw: ("raw", raw)
    ),
)


@st.composite
def mutated_state(draw: st.DrawFn) -> bytes:
    """The good state with one leaf or one key replaced by anything JSON (or raw text)."""
    doc = good_state()
    leaves: list[tuple[str | int, ...]] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            leaves.append((*path, key))
            if isinstance(value, (dict, list)):
                walk(value, (*path, key))

    walk(doc, ())
    path = draw(st.sampled_from(leaves))
    value = draw(JSON_LEAVES | st.lists(JSON_LEAVES, max_size=3))
    if isinstance(value, tuple):
        return with_raw(doc, path, value[1])
    return with_raw(doc, path, json.dumps(value))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_state())
def test_mutated_state_loads_or_is_state_error(data: bytes) -> None:
    try:
        state = KeyState.from_json(data)
    except StateError as exc:
        assert "\n" not in str(exc)
        return
    KeyState.from_json(state.to_json())  # what loads also saves and loads again
    StateManager(MemoryStore(data), SeededRandom(0)).snapshot()


@pytest.mark.parametrize(
    "data",
    [with_raw(good_state(), ("next_created",), "1e400"), DEEP.encode(),
     with_raw(good_state(), ("pin", "retries"), HUGE_INT)],
    ids=["1e400", "nested", "huge-int"],
)  # fmt: skip
def test_cli_prints_one_state_line(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "key.json"
    state.write_bytes(data)
    status = main(["key", "emulate", "--udp", "--state", str(state)])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("tokenbench: error: ") and err.count("\n") == 1, err
    assert "internal error" not in err
