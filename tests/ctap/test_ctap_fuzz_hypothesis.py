"""Property tests: random and mutated requests never escape `process`/`process_u2f` and never
corrupt the saved state."""

from __future__ import annotations

from typing import Any

from ctap_testkit import PIN, RP_ID, client_for, creation_options, make_key, with_pin
from fido2 import cbor
from hypothesis import given
from hypothesis import strategies as st

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.state import KeyState, MemoryStore

STATUS_VALUES = {int(s) for s in CtapStatus}
COMMANDS = [0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x41]

leaves = st.one_of(
    st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
    st.binary(max_size=80),
    st.text(max_size=20),
    st.booleans(),
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
OTHER_MODELS = [make_key("ctap20"), make_key("u2f-only")]
for _other in OTHER_MODELS:
    _other.env.clock.advance(60)


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


@given(
    key=st.sampled_from([KEY, *OTHER_MODELS]),
    command=st.sampled_from(COMMANDS),
    params=requests,
)
def test_random_cbor_requests(key: Authenticator, command: int, params: dict[int, Any]) -> None:
    try:
        body = cbor.encode(params)
    except Exception:
        return
    check_response(key.process(bytes([command]) + body))
    check_state(key)


@st.composite
def plausible_requests(draw: st.DrawFn) -> bytes:
    """makeCredential/getAssertion requests that look like a platform's: each key is usually
    well-formed, sometimes missing, sometimes junk, so every validation step and the code
    behind it get reached."""
    cred_id = KEY.state.residents[0].id
    descriptors = st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["public-key", "public-key", "other"]),
                "id": st.one_of(st.just(cred_id), st.binary(max_size=100)),
            }
        ),
        max_size=3,
    )
    options = st.dictionaries(st.sampled_from(["rk", "up", "uv", "plat"]), st.booleans())
    extensions = st.fixed_dictionaries(
        {},
        optional={
            "credProtect": st.integers(0, 4),
            "hmac-secret": st.one_of(st.booleans(), st.dictionaries(st.integers(1, 4), leaves)),
            "credBlob": st.binary(max_size=40),
            "largeBlobKey": st.booleans(),
            "minPinLength": st.booleans(),
        },
    )
    pin_param = st.one_of(st.binary(min_size=16, max_size=32), st.just(b""))
    pin_protocol = st.sampled_from([1, 2, 3])
    if draw(st.booleans()):
        command = 0x01
        required: dict[int, Any] = {
            1: st.binary(min_size=32, max_size=32),
            2: st.fixed_dictionaries({"id": st.sampled_from([RP_ID, "x.test"])}),
            3: st.fixed_dictionaries({"id": st.binary(max_size=70)}),
            4: st.lists(
                st.fixed_dictionaries(
                    {"type": st.just("public-key"), "alg": st.sampled_from([-7, -8, -257])}
                ),
                min_size=1,
                max_size=3,
            ),
        }
        optional = {
            5: descriptors,
            6: extensions,
            7: options,
            8: pin_param,
            9: pin_protocol,
            10: st.integers(0, 3),
        }
        pin_keys: tuple[int, ...] = (8, 9, 10)
    else:
        command = 0x02
        required = {
            1: st.sampled_from([RP_ID, "x.test"]),
            2: st.binary(min_size=32, max_size=32),
        }
        optional = {3: descriptors, 4: extensions, 5: options, 6: pin_param, 7: pin_protocol}
        pin_keys = (6, 7)
    # Hypothesis favours small numbers, so the common case (well-formed) sits at the low end.
    request = {}
    for k, strategy in required.items():
        fate = draw(st.integers(0, 19))  # 1 in 20 junk, 1 in 20 missing
        if fate < 18:
            request[k] = draw(strategy)
        elif fate == 18:
            request[k] = draw(leaves)
    for k, strategy in optional.items():
        fate = draw(st.integers(0, 19))
        rare = k in pin_keys  # a pinUvAuthParam stops most requests early: keep it rare
        if fate < (1 if rare else 7):
            request[k] = draw(strategy)
        elif fate == 19:
            request[k] = draw(leaves)
    return bytes([command]) + cbor.encode(request)


@given(request=plausible_requests())
def test_plausible_requests(request: bytes) -> None:
    check_response(KEY.process(request))
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
