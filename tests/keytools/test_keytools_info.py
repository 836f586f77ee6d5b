"""`key info`'s explanation of getInfo members, from captures of real keys.

The plain members (limits, flags, later CTAP additions) are listed from the member table:
CTAP 2.1's numbers and flags always, with "-" where the key says nothing, and the rest only
when the key reports something python-fido2 would not assume on its own.
"""

from __future__ import annotations

from pathlib import Path

from fido2 import cbor
from fido2.ctap2 import Info

from tokenbench.bench.keytools.info import KeyReport, explain, render
from tokenbench.emulators.ctap.getinfo_members import INFO_MEMBERS

DATA = Path(__file__).parent.parent / "data" / "getinfo"
KEYS_BEFORE_THE_TABLE = {
    "versions",
    "extensions",
    "aaguid",
    "options",
    "max_msg_size",
    "pin_uv_protocols",
    "max_creds_in_list",
    "max_cred_id_length",
    "transports",
    "algorithms",
    "max_large_blob",
    "force_pin_change",
    "min_pin_length",
    "firmware_version",
    "max_cred_blob_length",
    "remaining_discoverable_credentials",
}


def captured(name: str, **changes: object) -> Info:
    raw = cbor.decode((DATA / name).read_bytes())
    assert isinstance(raw, dict)
    by_name = {m.fido2_name: m.key for m in INFO_MEMBERS}
    raw.update({by_name[k]: v for k, v in changes.items()})
    return Info.from_dict(raw)


def limits(text: str) -> dict[str, str]:
    """The "Limits and other members" section: member name -> rest of its line."""
    section = text.split("Limits and other members:\n")[1].split("\n")
    rows = [line.split(maxsplit=1) for line in section if line.startswith("  ")]
    return {name: rest for name, rest in rows}


def test_json_keeps_every_key_it_had() -> None:
    explained = explain(captured("yubikey-fido20.cbor"))
    assert set(explained) >= KEYS_BEFORE_THE_TABLE
    assert explained["remaining_discoverable_credentials"] is None


def test_ctap23_key_shows_its_later_members_with_their_meanings() -> None:
    info = captured("libfido2-wiredata-fido21.cbor")
    rows = limits(render(KeyReport(explain(info))))
    assert rows["maxMsgSize"].startswith("1536") and "largest CTAP message" in rows["maxMsgSize"]
    assert rows["remainingDiscoverableCredentials"].startswith("100")
    assert rows["transportsForReset"].startswith("usb, smart-card")
    assert rows["pinComplexityPolicyURL"].startswith("https://example.com")
    assert rows["encIdentifier"].startswith("32 bytes")  # encrypted: its size, not its bytes
    assert rows["authenticatorConfigCommands"].startswith("1, 2, 3")
    # reported, but exactly what python-fido2 assumes for a key that says nothing
    assert "attestationFormats" not in rows and "maxPINLength" not in rows
    for member in INFO_MEMBERS:
        if member.name in rows:
            assert rows[member.name].endswith(member.meaning)


def test_ctap20_key_lists_the_ctap21_limits_as_not_reported() -> None:
    rows = limits(render(KeyReport(explain(captured("yubikey-fido20.cbor")))))
    assert rows["maxMsgSize"].startswith("1200") and rows["minPINLength"].startswith("4")
    assert rows["forcePINChange"].startswith("false")
    for name in ("maxCredentialCountInList", "firmwareVersion", "remainingDiscoverableCredentials"):
        assert rows[name].startswith("-"), name
    assert not {"longTouchForReset", "encIdentifier", "certifications"} & set(rows)


def test_a_full_key_says_zero_where_zero_is_news() -> None:
    """No room left is 0, not "-": python-fido2 keeps an absent count as None."""
    info = captured("libfido2-wiredata-fido21.cbor", remaining_disc_creds=0)
    assert limits(render(KeyReport(explain(info))))["remainingDiscoverableCredentials"][0] == "0"
