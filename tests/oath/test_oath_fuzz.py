"""Bad input never costs an account: hypothesis over APDU sequences against the OATH applet.

Each example stores accounts (TOTP, HOTP, touch-required; with or without a password), then
sends a sequence of APDUs: valid commands broken in one way (cut short, a byte changed, a length
that lies, a name or key too long, junk appended), valid ones, and plain random bytes. After each
answer: the card answered a status word of the applet's set (never 6F00, which would mean an
unexpected error inside), an error answer left the accounts exactly as they were (names, types,
seeds, counters, password, salt), and the state saved so far reloads to what the applet holds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from oath_helpers import (
    HOTP,
    LIST,
    RESET,
    SELECT_OATH,
    SEND_REMAINING,
    SHA1,
    SHA256,
    SHA512,
    TOTP,
    apdu,
    calculate,
    calculate_all,
    client,
    delete,
    new_key,
    put,
    rename,
    tlv,
)

from tokenbench.emulators.ctap.state import KeyState
from tokenbench.emulators.key import EmulatedKey
from tokenbench.emulators.oath.state import OathState

SEED = b"12345678901234567890"
ERRORS = {0x6700, 0x6881, 0x6883, 0x6982, 0x6984, 0x6A80, 0x6A82, 0x6A84, 0x6A86, 0x6B00}
ERRORS |= {0x6D00, 0x6E00, 0x6985}

VALID = [
    SELECT_OATH,
    LIST,
    SEND_REMAINING,
    calculate("aws:alice", b"\x00" * 8),
    calculate("h", b""),
    calculate("touch", b"\x00" * 8, truncated=False),
    calculate_all(b"\x00" * 8),
    put("new", SEED),
    put("aws:alice", SEED[:10], kind=TOTP | SHA256, digits=8),
    put("h2", SEED, kind=HOTP | SHA512, touch=True, imf=5),
    delete("aws:alice"),
    rename("h", "h-renamed"),
    apdu(0x03, data=tlv(0x73), le=None),
    apdu(0xA3, data=tlv(0x75, b"\x00" * 20) + tlv(0x74, b"\x01" * 8)),
    RESET,
]
MUTATING_INS = {0x01, 0x02, 0x03, 0x04, 0x05}


@st.composite
def broken(draw: st.DrawFn) -> bytes:
    command = bytearray(draw(st.sampled_from(VALID)))
    how = draw(st.sampled_from(["cut", "flip", "lc", "junk", "oversize", "keep", "random"]))
    if how == "cut" and len(command) > 1:
        del command[draw(st.integers(1, len(command) - 1)) :]
    elif how == "flip":
        position = draw(st.integers(0, len(command) - 1))
        command[position] = draw(st.integers(0, 255))
    elif how == "lc" and len(command) > 4:
        command[4] = draw(st.integers(0, 255))
    elif how == "junk":
        command += draw(st.binary(min_size=1, max_size=40))
    elif how == "oversize":
        name = b"n" * draw(st.integers(65, 200))
        key = b"k" * draw(st.integers(60, 140))
        data = tlv(0x71, name[: draw(st.integers(1, len(name)))]) + tlv(0x73, b"\x21\x06" + key)
        command = bytearray(bytes((0, 0x01, 0, 0)) + _lc(data) + data)
    elif how == "random":
        return draw(st.binary(min_size=0, max_size=300))
    return bytes(command)


def _lc(data: bytes) -> bytes:
    if len(data) <= 255:
        return bytes((len(data),))
    return b"\x00" + len(data).to_bytes(2, "big")


def snapshot(oath: OathState | None) -> Any:
    if oath is None:
        return None
    return (
        oath.salt,
        oath.access(),
        tuple(
            (c.name, c.kind, c.digits, c.touch, c.counter, oath.key_of(c)) for c in oath.credentials
        ),
    )


def setup(password: bool) -> tuple[EmulatedKey, Any]:
    key = new_key()
    c = client(key)
    c.ok(put("aws:alice", SEED))
    c.ok(put("60/aws:bob", SEED, kind=TOTP | SHA256, digits=8))
    c.ok(put("h", SEED, kind=HOTP | SHA1, imf=3))
    c.ok(put("touch", SEED, touch=True))
    if password:
        c.set_password("pw")
        c.select()
    return key, c


@given(
    password=st.booleans(),
    validated=st.booleans(),
    commands=st.lists(broken(), min_size=1, max_size=12),
)
def test_bad_apdus_leave_the_accounts(
    password: bool, validated: bool, commands: list[bytes]
) -> None:
    key, c = setup(password)
    if password and validated:
        assert c.validate("pw")[1] == 0x9000
    store = key.authenticator.store
    for command in commands:
        before = snapshot(store.state.oath)
        answer = c.card.transmit(command)
        assert len(answer) >= 2
        sw = int.from_bytes(answer[-2:], "big")
        assert sw == 0x9000 or sw >> 8 == 0x61 or sw in ERRORS, f"{sw:04X} for {command.hex()}"
        after = snapshot(store.state.oath)
        if sw not in (0x9000,) and sw >> 8 != 0x61:
            assert after == before, f"{sw:04X} answer changed the state: {command.hex()}"
        elif len(command) > 1 and command[1] not in MUTATING_INS:
            # Reads may only advance an HOTP counter (CALCULATE of "h").
            assert _without_counters(after) == _without_counters(before)
        saved = store.store.load()
        assert saved is not None
        assert snapshot(KeyState.from_json(saved).oath) == after


def _without_counters(snap: Any) -> Any:
    if snap is None:
        return None
    salt, access, creds = snap
    return salt, access, tuple(c[:4] + c[5:] for c in creds)


@given(st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=20))
def test_random_bytes_never_break_the_card(messages: list[bytes]) -> None:
    key, c = setup(False)
    store = key.authenticator.store
    for message in messages:
        before = snapshot(store.state.oath)
        answer = c.card.transmit(message)
        assert len(answer) >= 2
        sw = int.from_bytes(answer[-2:], "big")
        assert sw not in (0x6F00, 0x6581), message.hex()
        if sw != 0x9000 and sw >> 8 != 0x61:
            assert snapshot(store.state.oath) == before
