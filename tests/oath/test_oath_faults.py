"""Each OATH fault changes the applet's behaviour in its one named way (and only under it).

Helper B's `oath` bench suite proves that some suite test fails under each; these tests pin what
each fault does at the APDU level, next to the same check on a key without the fault.
"""

from __future__ import annotations

import pytest
from oath_helpers import (
    HOTP,
    LIST,
    OK,
    RESET,
    SHA1,
    apdu,
    calculate,
    calculate_all,
    client,
    code_of,
    new_key,
    parse_tlvs,
    put,
    time_step,
    tlv,
)

from tokenbench.emulators.ctap.faults import Fault, FaultSet
from tokenbench.emulators.key import parse_emu_uri

SEED = b"12345678901234567890"
OATH_FAULTS = [f for f in Fault if f.value.startswith("oath-")]


def test_the_nine_oath_faults_exist_by_name() -> None:
    assert sorted(f.value for f in OATH_FAULTS) == sorted(
        [
            "oath-wrong-truncation",
            "oath-hotp-counter-stuck",
            "oath-touch-ignored",
            "oath-calculate-all-computes-hotp",
            "oath-password-ignored",
            "oath-reset-keeps-accounts",
            "oath-no-send-remaining",
            "oath-wrong-status-words",
            "oath-period-ignored",
        ]
    )


@pytest.mark.parametrize("fault", OATH_FAULTS)
def test_selected_like_ctap_faults(fault: Fault) -> None:
    kwargs = parse_emu_uri(f"emu:fault={fault}")
    key = new_key(**kwargs)
    assert key.status()["faults"] == [fault.value]
    assert fault in FaultSet.parse(fault.value)


def test_wrong_truncation() -> None:
    good, bad = client(new_key()), client(new_key(faults="oath-wrong-truncation"))
    for c in (good, bad):
        c.ok(put("t", SEED, digits=8))
    assert good.code("t", time_step(59)) == "94287082"
    assert bad.code("t", time_step(59)) != "94287082"
    # The full response is still the right HMAC: only the truncation is off.
    full = [parse_tlvs(c.ok(calculate("t", time_step(59), truncated=False))) for c in (good, bad)]
    assert full[0] == full[1]


def test_hotp_counter_stuck() -> None:
    c = client(new_key(faults="oath-hotp-counter-stuck"))
    c.ok(put("h", SEED, kind=HOTP | SHA1))
    assert [c.code("h", b"") for _ in range(3)] == ["755224"] * 3


def test_touch_ignored() -> None:
    key = new_key(faults="oath-touch-ignored", presence="touch")
    c = client(key)
    c.ok(put("touch", SEED, touch=True))
    assert c.send(calculate("touch", b"x"))[1] == OK  # no touch was given
    assert key.env.presence.requests == []
    entries = parse_tlvs(c.ok(calculate_all(time_step(59))))
    assert entries[1][0] == 0x76


def test_calculate_all_computes_hotp() -> None:
    c = client(new_key(faults="oath-calculate-all-computes-hotp"))
    c.ok(put("h", SEED, kind=HOTP | SHA1))
    c.ok(put("touch", SEED, touch=True))
    entries = parse_tlvs(c.ok(calculate_all(time_step(59))))
    assert entries[1][0] == 0x76 and code_of(entries[1][1]) == "755224"
    assert entries[3][0] == 0x76
    assert c.code("h", b"") == "287082"  # CALCULATE ALL used count 0


def test_password_ignored() -> None:
    c = client(new_key(faults="oath-password-ignored"))
    c.ok(put("a", SEED))
    c.set_password("pw")
    assert 0x74 in c.select()
    assert c.send(LIST)[1] == OK


def test_reset_keeps_accounts() -> None:
    c = client(new_key(faults="oath-reset-keeps-accounts"))
    c.ok(put("a", SEED))
    c.set_password("pw")
    c.ok(RESET)
    assert 0x74 not in c.select()
    assert c.names() == [b"a"]


def test_no_send_remaining() -> None:
    c = client(new_key(faults="oath-no-send-remaining"))
    for i in range(10):
        c.ok(put(f"name{i:02}" + "x" * 40, SEED))
    data, sw = c.raw(LIST)
    assert sw == OK and len(data) == 255  # cut, no 61xx


def test_wrong_status_words() -> None:
    c = client(new_key(faults="oath-wrong-status-words"))
    assert c.send(calculate("missing", b"x"))[1] == 0x6F00
    assert c.send(apdu(0x55))[1] == 0x6F00
    c.ok(put("a", SEED))


def test_period_ignored() -> None:
    c = client(new_key(faults="oath-period-ignored"))
    c.ok(put("60/aws:alice", SEED))
    assert c.names() == [b"aws:alice"]
    assert c.send(calculate("60/aws:alice", time_step(59, 60)))[1] == 0x6984
    hotp = client(new_key(faults="oath-period-ignored"))
    hotp.ok(put("60/h", SEED, kind=HOTP | SHA1))  # HOTP names keep their text
    assert hotp.names() == [b"60/h"]


def test_unfaulted_key_answers_specific_words() -> None:
    c = client(new_key())
    assert c.send(calculate("missing", b"x"))[1] == 0x6984
    assert c.send(apdu(0x03, data=tlv(0x74, b"x"), le=None))[1] == 0x6A80
