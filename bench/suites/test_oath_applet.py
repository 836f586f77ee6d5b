"""oath suite: the YKOATH instructions and their status words, answer chaining, capacity.

SELECT (version, salt), PUT / LIST / DELETE / RENAME, an answer longer than one APDU chained
with 61XX and fetched with SEND REMAINING (not GET RESPONSE), the status word of every refusal
(Yubico's YKOATH description: 6984 no such object, 6A80 wrong syntax, 6A84 no space, 6D00
unknown instruction), and capacity: accounts are added until the applet refuses with 6A84,
then all of them deleted again. Non-destructive: only `tokenbench-…` accounts are touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenbench.bench.suites._oath import (
    Account,
    Ins,
    OathError,
    OathSession,
    OathType,
    Sw,
    Tag,
    format_code,
    hotp,
    tlv,
    totp_challenge,
)
from tokenbench.bench.suites._oath_suite import (
    NOW,
    TEST_PREFIX,
    suite_account,
    sw_of,
    unlocked_applet,
)

pytestmark = pytest.mark.target_kind("key")

SEED = bytes(range(100, 120))
LONG_LABEL = "chained-" + "x" * 40  # names long enough that a few fill more than one APDU
CHAINED_ACCOUNTS = 6
MAX_PUT = 1000  # no OATH applet holds this many; the capacity test stops here whatever happens
RENAME_VERSION = (5, 3, 1)  # YubiKey firmware that added RENAME


@pytest.fixture
def oath(ctap_device: Any) -> Iterator[OathSession]:
    with unlocked_applet(ctap_device) as session:
        yield session


class CountingTransmit:
    """Wraps the session's transmit to see the status words the applet really sent."""

    def __init__(self, session: OathSession) -> None:
        self.inner = session.transmit
        self.sws: list[int] = []
        self.instructions: list[int] = []

    def __call__(self, command: bytes) -> tuple[bytes, int]:
        data, sw = self.inner(command)
        self.instructions.append(command[1])
        self.sws.append(sw)
        return data, sw


def listed_names(oath: OathSession) -> list[bytes]:
    return [entry.name for entry in oath.list_accounts()]


def test_put_list_delete(oath: OathSession) -> None:
    totp_name, hotp_name = suite_account("list-totp"), suite_account("list-hotp")
    oath.put(Account(totp_name, SEED))
    oath.put(Account(hotp_name, SEED, oath_type=OathType.HOTP, digits=8))
    kinds = {e.name: (e.oath_type, e.algorithm) for e in oath.list_accounts()}
    assert kinds[totp_name] == (OathType.TOTP, 0x01)
    assert kinds[hotp_name] == (OathType.HOTP, 0x01)
    oath.delete(totp_name)
    names = listed_names(oath)
    assert totp_name not in names and hotp_name in names, "DELETE removed the wrong account"
    assert sw_of(lambda: oath.delete(totp_name)) == Sw.NO_SUCH_OBJECT, "deleted twice"


def test_put_same_name_replaces(oath: OathSession) -> None:
    name = suite_account("replace")
    oath.put(Account(name, SEED))
    oath.put(Account(name, SEED[::-1]))
    assert listed_names(oath).count(name) == 1, "the name is listed twice"
    code = format_code(oath.calculate(name, totp_challenge(NOW)))
    assert code == hotp(SEED[::-1], NOW // 30), "the second PUT did not replace the seed"


def test_rename(oath: OathSession) -> None:
    assert oath.selected is not None
    if oath.selected.version < RENAME_VERSION:
        pytest.skip(f"unclaimed: RENAME (applet version {oath.selected.version})")
    old, new, other = suite_account("rename-a"), suite_account("rename-b"), suite_account("rn-c")
    oath.put(Account(old, SEED))
    oath.put(Account(other, SEED))
    oath.rename(old, new)
    names = listed_names(oath)
    assert new in names and old not in names
    assert format_code(oath.calculate(new, totp_challenge(NOW))) == hotp(SEED, NOW // 30)
    assert sw_of(lambda: oath.calculate(old, totp_challenge(NOW))) == Sw.NO_SUCH_OBJECT
    assert sw_of(lambda: oath.rename(new, other)) != Sw.OK, "RENAME onto an existing name"
    assert sw_of(lambda: oath.rename(old, new)) == Sw.NO_SUCH_OBJECT


def test_long_answers_chain_with_send_remaining(oath: OathSession) -> None:
    names = [suite_account(f"{LONG_LABEL}{i}") for i in range(CHAINED_ACCOUNTS)]
    for name in names:
        oath.put(Account(name, SEED))
    counting = CountingTransmit(oath)
    oath.transmit = counting
    listed = listed_names(oath)
    computed = {e.name for e in oath.calculate_all(totp_challenge(NOW))}
    assert set(names) <= set(listed) and set(names) <= computed, "a chained answer lost names"
    assert any(sw >> 8 == 0x61 for sw in counting.sws), "no 61XX for an answer over 256 bytes"
    assert Ins.SEND_REMAINING in counting.instructions


STATUS_CASES = {
    "calculate-unknown": (lambda o: o.calculate(suite_account("absent"), b"\0" * 8), 0x6984),
    "delete-unknown": (lambda o: o.delete(suite_account("absent")), 0x6984),
    "put-without-key": (lambda o: o.call(Ins.PUT, data=tlv(Tag.NAME, TEST_PREFIX)), 0x6A80),
    "put-without-name": (lambda o: o.call(Ins.PUT, data=tlv(Tag.KEY, b"\x21\x06" + SEED)), 0x6A80),
    "unknown-instruction": (lambda o: o.call(0x7E), 0x6D00),
    "list-with-p1": (lambda o: o.call(Ins.LIST, 0x01, 0x00), 0x6B00),
}


@pytest.mark.parametrize("case", list(STATUS_CASES))
def test_status_words(oath: OathSession, case: str) -> None:
    command, expected = STATUS_CASES[case]
    sw = sw_of(lambda: command(oath))
    assert sw == expected, f"{case}: status {sw:04X}, YKOATH says {expected:04X}"
    assert oath.select().salt, "the applet is unusable after the refusal"


def test_capacity_until_no_space(oath: OathSession) -> None:
    """Fill the applet until PUT answers 6A84 (no space), then delete every added account."""
    added: list[bytes] = []
    refused: int = Sw.OK
    try:
        for index in range(MAX_PUT):
            name = suite_account(f"fill-{index:04d}")
            try:
                oath.put(Account(name, SEED))
            except OathError as exc:
                refused = exc.sw
                break
            added.append(name)
        assert refused == Sw.NO_SPACE, f"a full applet answered {refused:04X}, not 6A84"
        assert added, "the applet refused the first account"
        names = set(listed_names(oath))
        assert set(added) <= names, "accounts accepted before the refusal were lost"
        oath.delete(added.pop())
        oath.put(Account(suite_account("fill-again"), SEED))
    finally:
        for name in added:
            oath.delete(name)
