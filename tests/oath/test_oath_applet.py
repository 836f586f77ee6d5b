"""The YKOATH applet byte for byte: RFC 4226 / RFC 6238 vectors, every command, status words.

Driven through the key's card (`EmulatedKey.nfc_card().transmit`), so the card's dispatch by AID
and its handling of INS A4 (SELECT, and the applet's CALCULATE ALL) are covered too.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

import pytest
from oath_helpers import (
    HOTP,
    LIST,
    OK,
    RESET,
    SEND_REMAINING,
    SHA1,
    SHA256,
    SHA512,
    TOTP,
    Client,
    apdu,
    calculate,
    calculate_all,
    client,
    code_of,
    delete,
    derive,
    hmac_sha1,
    new_key,
    parse_tlvs,
    put,
    rename,
    time_step,
    tlv,
)

from tokenbench.emulators.ctap.presence import Deny, Touch

RFC_SEED_SHA1 = b"12345678901234567890"
RFC_SEED_SHA256 = b"12345678901234567890123456789012"
RFC_SEED_SHA512 = b"1234567890" * 6 + b"1234"

# RFC 4226 Appendix D: HOTP values for counts 0..9 with the SHA-1 seed.
RFC4226_CODES = [
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
]  # fmt: skip

# RFC 6238 Appendix B: (time, SHA-1, SHA-256, SHA-512), 8 digits, 30-second steps.
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


# ------------------------------------------------------------------ SELECT


def test_select_answers_version_and_salt_without_challenge() -> None:
    c = client(new_key())
    info = c.select()
    assert info[0x79] == bytes((5, 7, 1))
    assert len(info[0x71]) == 8
    assert 0x74 not in info


def test_select_of_unknown_aid_and_fido_still_work() -> None:
    c = client(new_key())
    assert c.raw(bytes.fromhex("00A4040007A0000005272001"))[1] == 0x6A82  # OTP: not here
    data, sw = c.raw(bytes.fromhex("00A4040008A0000006472F0001"))
    assert (data, sw) == (b"U2F_V2", OK)
    assert c.raw(LIST)[1] == 0x6D00  # FIDO is selected now: OATH instructions are unknown


def test_u2f_only_profile_has_no_oath_applet() -> None:
    key = new_key(profile="u2f-only")
    c = Client(key.nfc_card())
    assert c.raw(bytes.fromhex("00A4040007A0000005272101"))[1] == 0x6A82


# ------------------------------------------------------------------ vectors


def test_rfc4226_hotp_vectors_and_counter_advance() -> None:
    c = client(new_key())
    c.ok(put("rfc4226", RFC_SEED_SHA1, kind=HOTP | SHA1))
    codes = [c.code("rfc4226", b"") for _ in range(10)]
    assert codes == RFC4226_CODES


def test_hotp_initial_moving_factor() -> None:
    c = client(new_key())
    c.ok(put("imf", RFC_SEED_SHA1, kind=HOTP | SHA1, imf=7))
    assert c.code("imf", b"") == RFC4226_CODES[7]
    assert c.code("imf", b"") == RFC4226_CODES[8]


@pytest.mark.parametrize(("t", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_rfc6238_totp_vectors(t: int, sha1: str, sha256: str, sha512: str) -> None:
    c = client(new_key())
    for alg, seed, expected in (
        (SHA1, RFC_SEED_SHA1, sha1),
        (SHA256, RFC_SEED_SHA256, sha256),
        (SHA512, RFC_SEED_SHA512, sha512),
    ):
        c.ok(put(f"alg{alg}", seed, kind=TOTP | alg, digits=8))
        assert c.code(f"alg{alg}", time_step(t)) == expected


def test_full_response_is_the_whole_hmac() -> None:
    c = client(new_key())
    c.ok(put("full", RFC_SEED_SHA256, kind=TOTP | SHA256, digits=7))
    tag, value = parse_tlvs(c.ok(calculate("full", time_step(59), truncated=False)))[0]
    assert tag == 0x75
    assert value == bytes((7,)) + hmac.new(RFC_SEED_SHA256, time_step(59), "sha256").digest()


def test_period_prefix_is_part_of_the_name() -> None:
    c = client(new_key())
    c.ok(put("60/aws:alice", RFC_SEED_SHA1))
    assert c.names() == [b"60/aws:alice"]
    assert c.code("60/aws:alice", time_step(1111111109, 60)) == code_of(
        bytes((6,)) + _truncate(hmac_sha1(RFC_SEED_SHA1, time_step(1111111109, 60)))
    )


def _truncate(digest: bytes) -> bytes:
    offset = digest[-1] & 0x0F
    return digest[offset : offset + 4]


# ------------------------------------------------------------------ LIST / CALCULATE ALL


def test_list_reports_type_and_algorithm() -> None:
    c = client(new_key())
    c.ok(put("t", RFC_SEED_SHA1, kind=TOTP | SHA256))
    c.ok(put("h", RFC_SEED_SHA1, kind=HOTP | SHA512))
    assert parse_tlvs(c.ok(LIST)) == [(0x72, b"\x22t"), (0x72, b"\x13h")]


def test_calculate_all_answers_hotp_and_touch_uncomputed() -> None:
    key = new_key()
    c = client(key)
    c.ok(put("totp", RFC_SEED_SHA1, digits=8))
    c.ok(put("hotp", RFC_SEED_SHA1, kind=HOTP | SHA1, digits=7))
    c.ok(put("touch", RFC_SEED_SHA1, touch=True))
    entries = parse_tlvs(c.ok(calculate_all(time_step(59))))
    assert entries[0] == (0x71, b"totp")
    assert entries[1][0] == 0x76 and code_of(entries[1][1]) == "94287082"
    assert entries[2:] == [(0x71, b"hotp"), (0x77, b"\x07"), (0x71, b"touch"), (0x7C, b"\x06")]
    assert key.env.presence.requests == []  # nothing asked for touch


def test_calculate_all_leaves_the_hotp_counter() -> None:
    c = client(new_key())
    c.ok(put("hotp", RFC_SEED_SHA1, kind=HOTP | SHA1))
    c.ok(calculate_all(time_step(59)))
    c.ok(calculate_all(time_step(59)))
    assert c.code("hotp", b"") == RFC4226_CODES[0]


def test_long_answers_leave_in_parts_with_send_remaining() -> None:
    c = client(new_key())
    names = [f"issuer{i:02}:" + "n" * 40 for i in range(12)]
    for name in names:
        c.ok(put(name, RFC_SEED_SHA1))
    first, sw = c.raw(LIST)
    assert sw >> 8 == 0x61 and len(first) == 255
    rest = b""
    while sw >> 8 == 0x61:
        assert sw & 0xFF == 0xFF or sw & 0xFF > 0
        more, sw = c.raw(SEND_REMAINING)
        rest += more
    assert sw == OK
    assert [v[1:] for _, v in parse_tlvs(first + rest)] == [n.encode() for n in names]
    # Any other command drops what was left.
    _, sw = c.raw(LIST)
    assert sw >> 8 == 0x61
    c.ok(calculate(names[0], time_step(59)))
    assert c.raw(SEND_REMAINING) == (b"", OK)


def test_short_le_gets_short_parts() -> None:
    c = client(new_key())
    c.ok(put("a" * 30, RFC_SEED_SHA1))
    data, sw = c.raw(apdu(0xA1, le=16))
    assert len(data) == 16 and sw == 0x6100 | (33 - 16)  # 72 1F: 33 bytes in all


# ------------------------------------------------------------------ touch


def test_touch_credential_waits_for_the_touch() -> None:
    key = new_key(presence="touch")
    c = client(key)
    c.ok(put("touch", RFC_SEED_SHA1, touch=True))
    answers: list[tuple[bytes, int]] = []
    worker = threading.Thread(target=lambda: answers.append(c.send(calculate("touch", b"x"))))
    worker.start()
    worker.join(0.3)
    assert worker.is_alive() and not answers
    # Meanwhile the key's state is not held: status and the FIDO side answer.
    status: list[dict[str, object]] = []
    probe = threading.Thread(target=lambda: status.append(key.status()))
    probe.start()
    probe.join(2)
    assert status and status[0]["presence_requests"] == 1
    assert status[0]["oath"] == {"credentials": 1, "password": False}
    assert key.touch()
    worker.join(5)
    assert answers and answers[0][1] == OK
    assert key.env.presence.requests == ["oath calculate"]


def test_touch_refused_answers_6982() -> None:
    key = new_key(presence=Deny())
    c = client(key)
    c.ok(put("touch", RFC_SEED_SHA1, touch=True))
    assert c.send(calculate("touch", b"x"))[1] == 0x6982


def test_touch_timeout_answers_6982() -> None:
    key = new_key(presence=Touch(timeout=0.05))
    c = client(key)
    c.ok(put("touch", RFC_SEED_SHA1, touch=True))
    assert c.send(calculate("touch", b"x"))[1] == 0x6982


# ------------------------------------------------------------------ DELETE / RENAME / PUT limits


def test_delete_and_rename() -> None:
    c = client(new_key())
    c.ok(put("aws:alice", RFC_SEED_SHA1))
    c.ok(put("aws:carol", RFC_SEED_SHA1))
    assert c.send(rename("aws:alice", "aws:carol"))[1] == 0x6A80  # the new name is taken
    assert c.send(rename("nobody", "x"))[1] == 0x6984
    c.ok(rename("aws:alice", "aws:bob"))
    assert c.names() == [b"aws:bob", b"aws:carol"]
    assert c.code("aws:bob", time_step(59))[-6:] == "287082"
    assert c.send(delete("aws:alice"))[1] == 0x6984
    c.ok(delete("aws:bob"))
    assert c.names() == [b"aws:carol"]
    assert c.send(calculate("aws:bob", b"x"))[1] == 0x6984


def test_put_overwrites_a_name_it_holds() -> None:
    c = client(new_key())
    c.ok(put("same", b"\x00" * 20, kind=HOTP | SHA1))
    c.ok(put("same", RFC_SEED_SHA1, kind=TOTP | SHA1, digits=8))
    assert parse_tlvs(c.ok(LIST)) == [(0x72, b"\x21same")]
    assert c.code("same", time_step(59)) == "94287082"


IMF_TOO_SHORT = tlv(0x71, b"i") + tlv(0x73, b"\x11\x06" + RFC_SEED_SHA1) + tlv(0x7A, b"\x01")
UNKNOWN_PROPERTY = tlv(0x71, b"p") + tlv(0x73, b"\x21\x06" + RFC_SEED_SHA1) + b"\x78\x80"


@pytest.mark.parametrize(
    "command",
    [
        put("n" * 65, RFC_SEED_SHA1),  # name longer than 64 bytes
        put("", RFC_SEED_SHA1),  # empty name
        put("k", b"k" * 65, kind=TOTP | SHA1),  # key longer than SHA-1's block
        put("k", b"", kind=TOTP | SHA1),  # no key
        put("d", RFC_SEED_SHA1, digits=5),
        put("d", RFC_SEED_SHA1, digits=9),
        put("t", RFC_SEED_SHA1, kind=0x30 | SHA1),  # unknown OATH type
        put("t", RFC_SEED_SHA1, kind=TOTP | 0x04),  # unknown hash
        apdu(0x01, data=tlv(0x71, b"x"), le=None),  # no key TLV
        apdu(0x01, data=tlv(0x73, b"\x21\x06" + RFC_SEED_SHA1), le=None),  # no name TLV
        apdu(0x01, data=b"\x71\x05ab", le=None),  # truncated TLV
        apdu(0x01, data=IMF_TOO_SHORT, le=None),
        apdu(0x01, data=UNKNOWN_PROPERTY, le=None),
    ],
)
def test_bad_put_answers_6a80_and_stores_nothing(command: bytes) -> None:
    c = client(new_key())
    c.ok(put("keep", RFC_SEED_SHA1))
    assert c.send(command)[1] == 0x6A80
    assert c.names() == [b"keep"]


def test_sha512_key_may_be_128_bytes() -> None:
    c = client(new_key())
    c.ok(put("long", b"k" * 128, kind=TOTP | SHA512))
    assert c.send(put("longer", b"k" * 129, kind=TOTP | SHA512))[1] in (0x6A80, 0x6700)


def test_full_applet_answers_6a84() -> None:
    key = new_key()
    c = client(key)
    for i in range(key.profile.max_oath_credentials):
        c.ok(put(f"c{i}", RFC_SEED_SHA1))
    assert c.send(put("one-more", RFC_SEED_SHA1))[1] == 0x6A84
    c.ok(put("c0", RFC_SEED_SHA256))  # overwriting needs no room


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (apdu(0xA1, 1, 0), 0x6B00),
        (apdu(0xA2, 0, 2, tlv(0x71, b"x") + tlv(0x74, b"")), 0x6B00),
        (apdu(0x04, 0, 0, le=None), 0x6B00),  # RESET needs DE AD
        (apdu(0x55), 0x6D00),
        (apdu(0xA2, data=tlv(0x74, b"x")), 0x6A80),  # CALCULATE without a name
        (apdu(0xA4, data=tlv(0x71, b"x")), 0x6A80),  # CALCULATE ALL without a challenge
        (apdu(0xA3, data=tlv(0x75, b"x") + tlv(0x74, b"y" * 8)), 0x6984),  # no password set
        (bytes.fromhex("00A1"), 0x6700),  # shorter than an APDU header
    ],
)
def test_status_words(command: bytes, status: int) -> None:
    c = client(new_key())
    assert c.send(command)[1] == status


# ------------------------------------------------------------------ password


def test_password_locks_until_validate_and_is_mutual() -> None:
    key = new_key()
    c = client(key)
    c.ok(put("aws:alice", RFC_SEED_SHA1))
    c.set_password("hunter2")
    c.ok(LIST)  # the session that set it stays open
    info = c.select()
    assert len(info[0x74]) == 8 and info[0x7B] == b"\x01"
    assert c.send(LIST)[1] == 0x6982
    assert c.send(calculate("aws:alice", b"x"))[1] == 0x6982
    assert c.send(put("x", RFC_SEED_SHA1))[1] == 0x6982
    assert c.validate("wrong")[1] == 0x6A80
    assert c.send(LIST)[1] == 0x6982
    host_challenge = b"0123456789abcdef"
    answer, sw = c.validate("hunter2", host_challenge)
    assert sw == OK
    key_bytes = derive(info[0x71], "hunter2")
    assert parse_tlvs(answer) == [(0x75, hmac_sha1(key_bytes, host_challenge))]
    assert c.names() == [b"aws:alice"]


def test_validate_needs_the_current_select_challenge() -> None:
    c = client(new_key())
    c.set_password("pw")
    info = c.select()
    key = derive(info[0x71], "pw")
    stale = tlv(0x75, hmac_sha1(key, b"not-the-challenge")) + tlv(0x74, b"c" * 8)
    assert c.send(apdu(0xA3, data=stale))[1] == 0x6A80
    short = tlv(0x75, hmac_sha1(key, info[0x74])) + tlv(0x74, b"c" * 4)
    assert c.send(apdu(0xA3, data=short))[1] == 0x6A80


def test_set_code_with_wrong_proof_is_refused() -> None:
    c = client(new_key())
    key = b"k" * 16
    data = tlv(0x73, b"\x21" + key) + tlv(0x74, b"c" * 8) + tlv(0x75, b"\x00" * 20)
    assert c.send(apdu(0x03, data=data, le=None))[1] == 0x6984
    assert 0x74 not in c.select()


def test_clearing_the_password() -> None:
    c = client(new_key())
    c.set_password("pw")
    c.select()
    assert c.validate("pw")[1] == OK
    c.ok(apdu(0x03, data=tlv(0x73), le=None))
    assert 0x74 not in c.select()
    c.ok(LIST)


def test_reset_forgets_accounts_password_and_salt() -> None:
    c = client(new_key())
    c.ok(put("aws:alice", RFC_SEED_SHA1))
    c.set_password("pw")
    salt = c.select()[0x71]
    c.ok(RESET)  # allowed without VALIDATE
    info = c.select()
    assert 0x74 not in info and info[0x71] != salt
    assert c.names() == []


def test_fido_reset_keeps_oath_accounts() -> None:
    from fido2.ctap2 import Ctap2

    key = new_key()
    c = client(key)
    c.ok(put("aws:alice", RFC_SEED_SHA1))
    Ctap2(key.hid_device()).reset()
    assert c.names() == [b"aws:alice"]
    assert c.code("aws:alice", time_step(59)) == "287082"


def test_card_power_cycle_drops_the_validated_session() -> None:
    key = new_key()
    c = client(key)
    c.set_password("pw")
    c.ok(LIST)
    c.card.power_off()
    c.card.power_on()
    c.select()
    assert c.send(LIST)[1] == 0x6982


def test_command_chaining_reaches_the_applet() -> None:
    c = client(new_key())
    data = tlv(0x71, b"chained") + tlv(0x73, bytes((TOTP | SHA512, 6)) + b"k" * 128)
    first, second = data[:100], data[100:]
    assert c.raw(bytes((0x10, 0x01, 0, 0, len(first))) + first) == (b"", OK)
    c.ok(bytes((0x00, 0x01, 0, 0, len(second))) + second)
    assert c.names() == [b"chained"]


def test_hmac_sha256_and_sha512_calculate() -> None:
    c = client(new_key())
    c.ok(put("s256", RFC_SEED_SHA256, kind=TOTP | SHA256))
    _tag, value = parse_tlvs(c.ok(calculate("s256", b"abc", truncated=False)))[0]
    assert value[1:] == hmac.new(RFC_SEED_SHA256, b"abc", hashlib.sha256).digest()
