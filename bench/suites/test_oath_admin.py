"""oath suite: password and reset (destructive: every test starts and ends with an OATH RESET,
which erases all of the key's OATH accounts).

SET CODE sets an access key (PBKDF2 of the password over the applet's salt) that SELECT then
announces with a challenge; until VALIDATE proves the key, the applet refuses with 6982; a
wrong proof is refused (6A80, as yubikit and ykman expect) and unlocks nothing; the applet
proves the key back; clearing it unlocks for good. RESET (P1 P2 = DE AD only) forgets every
account and the password and gives the applet a new salt (a new device id).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenbench.bench.suites._oath import (
    Account,
    Ins,
    OathSession,
    Sw,
    Tag,
    derive_access_key,
    format_code,
    hmac_sha1,
    hotp,
    tlv,
    totp_challenge,
)
from tokenbench.bench.suites._oath_suite import NOW, clean_up, open_applet, suite_account, sw_of

pytestmark = [pytest.mark.target_kind("key"), pytest.mark.destructive]

SEED = bytes(range(120, 140))
PASSWORD = "tokenbench oath password"
WRONG_PASSWORD = "not the password"


@pytest.fixture
def fresh_oath(ctap_device: Any) -> Iterator[OathSession]:
    """The applet reset to factory state (no accounts, no password); reset again afterwards."""
    session = open_applet(ctap_device)
    session.reset()
    try:
        yield session
    finally:
        session.reset()
        clean_up(session)


def locked_sws(oath: OathSession, name: bytes) -> dict[str, int]:
    """What a locked applet answers to instructions that need the password."""
    return {
        "LIST": sw_of(oath.list_accounts),
        "CALCULATE": sw_of(lambda: oath.calculate(name, totp_challenge(NOW))),
        "CALCULATE ALL": sw_of(lambda: oath.calculate_all(totp_challenge(NOW))),
        "PUT": sw_of(lambda: oath.put(Account(suite_account("locked-put"), SEED))),
        "DELETE": sw_of(lambda: oath.delete(name)),
    }


def test_password_set_validate_clear(fresh_oath: OathSession) -> None:
    oath = fresh_oath
    name = suite_account("guarded")
    oath.put(Account(name, SEED))
    oath.set_password(PASSWORD)
    selected = oath.select()
    assert selected.password_set, "SELECT announces no challenge after SET CODE"
    refusals = locked_sws(oath, name)
    assert set(refusals.values()) == {Sw.SECURITY_CONDITION}, f"locked applet answered {refusals}"
    oath.unlock(PASSWORD)  # also checks the applet's proof of the key
    assert format_code(oath.calculate(name, totp_challenge(NOW))) == hotp(SEED, NOW // 30)
    oath.clear_password()
    assert not oath.select().password_set, "the password is still announced after clearing"
    assert name in [e.name for e in oath.list_accounts()], (
        "LIST refused after the password was cleared"
    )


def test_wrong_password_unlocks_nothing(fresh_oath: OathSession) -> None:
    oath = fresh_oath
    name = suite_account("guarded")
    oath.put(Account(name, SEED))
    oath.set_password(PASSWORD)
    selected = oath.select()
    assert selected.password_set
    sw = sw_of(lambda: oath.validate(derive_access_key(selected.salt, WRONG_PASSWORD)))
    assert sw == Sw.WRONG_SYNTAX, f"a wrong password answered {sw:04X}, not 6A80"
    assert sw_of(oath.list_accounts) == Sw.SECURITY_CONDITION, (
        "a wrong password unlocked the applet"
    )
    oath.select()
    oath.unlock(PASSWORD)
    assert name in [e.name for e in oath.list_accounts()]


def test_validate_without_a_password_is_refused(fresh_oath: OathSession) -> None:
    selected = fresh_oath.select()
    assert not selected.password_set
    key = derive_access_key(selected.salt, PASSWORD)
    data = tlv(Tag.RESPONSE, hmac_sha1(key, bytes(8))) + tlv(Tag.CHALLENGE, bytes(8))
    sw = sw_of(lambda: fresh_oath.call(Ins.VALIDATE, data=data))
    assert sw == Sw.NO_SUCH_OBJECT, f"VALIDATE without a password answered {sw:04X}, not 6984"


def test_reset_forgets_accounts_and_password(fresh_oath: OathSession) -> None:
    oath = fresh_oath
    name = suite_account("before-reset")
    oath.put(Account(name, SEED))
    before = oath.select()
    assert oath.select().salt == before.salt, "SELECT answers a new salt without a RESET"
    oath.set_password(PASSWORD)
    after = oath.reset()
    assert not after.password_set, "the password survived RESET"
    assert after.salt != before.salt, "RESET kept the salt (the device id must change)"
    assert oath.list_accounts() == [], "accounts survived RESET"
    assert sw_of(lambda: oath.calculate(name, totp_challenge(NOW))) == Sw.NO_SUCH_OBJECT


def test_reset_needs_de_ad(fresh_oath: OathSession) -> None:
    oath = fresh_oath
    name = suite_account("kept")
    oath.put(Account(name, SEED))
    sw = sw_of(lambda: oath.call(Ins.RESET, 0x00, 0x00))
    assert sw == Sw.WRONG_P1P2, f"RESET without P1 P2 = DE AD answered {sw:04X}, not 6B00"
    assert name in [e.name for e in oath.list_accounts()], "a refused RESET erased the accounts"
