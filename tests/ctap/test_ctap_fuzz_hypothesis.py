"""Property tests: random and mutated requests never escape `process`/`process_u2f` and never
corrupt the saved state."""

from __future__ import annotations

from typing import Any

from ctap_testkit import PIN, RP_ID, client_for, creation_options, make_key, with_pin
from fido2 import cbor
from hypothesis import given
from hypothesis import strategies as st

from emulators.ctap.authenticator import Authenticator
from emulators.ctap.constants import CtapStatus
from emulators.ctap.state import KeyState, MemoryStore

STATUS_VALUES = {int(s) for s in CtapStatus}
COMMANDS = [0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x41]

leaves = st.one_of(
    st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
    st.binary(max_size=80),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.sampled_from(["public-key", "id", "alg", "type", RP_ID, "rk", "up", "uv"]),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.integers(-3, 12), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=12,
)
requests = st.dictionaries(st.integers(min_value=1, max_value=12), values, max_size=8)


def valid_requests(key: Authenticator) -> list[bytes]:
    cred_id = key.state.residents[0].id
    return [
        b"\x01"
        + cbor.encode(
            {
                1: b"\x01" * 32,
                2: {"id": RP_ID},
                3: {"id": b"u", "name": "n"},
                4: [{"type": "public-key", "alg": -7}],
                6: {"credProtect": 2, "hmac-secret": True, "credBlob": b"b"},
                7: {"rk": True},
            }
        ),
        b"\x02"
        + cbor.encode(
            {
                1: RP_ID,
                2: b"\x02" * 32,
                3: [{"type": "public-key", "id": cred_id}],
                5: {"up": False},
            }
        ),
        b"\x06" + cbor.encode({1: 2, 2: 2}),
        b"\x0a" + cbor.encode({1: 2, 3: 2, 4: b"\x00" * 32}),
        b"\x0c" + cbor.encode({1: 64, 3: 0}),
        b"\x0d" + cbor.encode({1: 3, 2: {1: 6}}),
    ]


def fresh_key() -> Authenticator:
    key = with_pin(make_key())
    client_for(key, PIN).make_credential(creation_options(resident="required", uv="required"))
    key.env.clock.advance(60)  # past the reset window, so fuzzing keeps the PIN and credential
    return key


KEY = fresh_key()
SEEDS = valid_requests(KEY)


def check_response(out: bytes) -> None:
    assert isinstance(out, bytes) and len(out) >= 1
    assert out[0] in STATUS_VALUES
    assert out[0] != CtapStatus.OTHER, "internal error escaped as CTAP1_ERR_OTHER"
    if out[0] == 0 and len(out) > 1:
        cbor.decode(out[1:])


def check_state(key: Authenticator) -> None:
    store = key.env.store
    assert isinstance(store, MemoryStore) and store.data is not None
    KeyState.from_json(store.data)
    again = Authenticator(key.env.with_(store=MemoryStore(store.data)), key.profile)
    check_response(again.process(b"\x04"))


@given(command=st.sampled_from(COMMANDS), params=requests)
def test_random_cbor_requests(command: int, params: dict[int, Any]) -> None:
    try:
        body = cbor.encode(params)
    except Exception:
        return
    check_response(KEY.process(bytes([command]) + body))
    check_state(KEY)


@given(data=st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check_response(KEY.process(data))


@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), max_size=4),
    cut=st.one_of(st.none(), st.integers(1, 400)),
)
def test_mutated_valid_requests(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(seed)
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    if cut is not None:
        data = data[: max(1, min(cut, len(data)))]
    check_response(KEY.process(bytes(data)))
    check_state(KEY)


@given(
    apdu=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda ins, p1, body: bytes([0, ins, p1, 0]) + body,
            st.sampled_from([1, 2, 3, 4]),
            st.sampled_from([0, 3, 7, 8, 9]),
            st.binary(max_size=120),
        ),
    )
)
def test_random_apdus(apdu: bytes) -> None:
    out = KEY.process_u2f(apdu)
    assert len(out) >= 2
    sw = int.from_bytes(out[-2:], "big")
    assert sw in {0x9000, 0x6985, 0x6A80, 0x6700, 0x6D00, 0x6E00}
    if sw != 0x9000:
        assert len(out) == 2
