"""The getInfo member table: encoding pinned to today's bytes, decoding, and its agreement
with python-fido2's `Info`.

`EMULATED` pins the exact CBOR the emulator answered getInfo with before the table existed
(captured from `Authenticator.get_info_map()` at 70a7b3d), for each named profile and a
captured one, with and without a PIN, alwaysUv and enterprise attestation: the authenticator,
which now builds getInfo through the table, must still answer exactly these bytes. Two changes
since, on purpose: `versions` in deployed keys' order (U2F_V2, then FIDO_2_x ascending) and
`transports` nfc and usb. The `ctap22` and `ctap22-bio` cases are pinned from their
introduction (issue 13).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from ctap_testkit import with_pin
from fido2 import cbor
from fido2.ctap2 import Info

from tokenbench.emulators.ctap.attestation import getinfo_json
from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.getinfo_members import (
    INFO_MEMBERS,
    MEMBERS_BY_NAME,
    CapturedInfo,
    InfoValues,
    decode_info,
    encode_info,
)
from tokenbench.emulators.ctap.profiles import DeviceProfile, get_profile

DATA = Path(__file__).parent.parent / "data" / "getinfo"
CAPTURE = DATA / "libfido2-wiredata-fido21.cbor"


@dataclass(frozen=True)
class Live:
    """The key state getInfo reports besides the profile (a fresh key: all defaults)."""

    pin_set: bool = False
    always_uv: bool = False
    ep: bool = False
    min_pin_length: int = 4
    force_pin_change: bool = False


def profile(name: str) -> DeviceProfile:
    if name == "captured":
        return DeviceProfile.from_getinfo(CAPTURE.read_bytes(), name=name)
    return get_profile(name)


def case(name: str, live: Live, *hex_parts: str) -> object:
    return pytest.param(name, live, bytes.fromhex("".join(hex_parts)), id=f"{name}-{live}")


EMULATED = [
    case(
        "default",
        Live(),
        "b10183665532465f5632684649444f5f325f30684649444f5f325f3102856b6372656450726f74656374"
        "6b686d61632d7365637265746863726564426c6f626c6c61726765426c6f624b65796c6d696e50696e4c"
        "656e67746803507b6e6b656e62656e63682d656d756c0004ac626570f462726bf5627570f564706c6174"
        "f468616c776179735576f468637265644d676d74f569617574686e72436667f569636c69656e7450696e"
        "f46a6c61726765426c6f6273f56e70696e557641757468546f6b656ef56f7365744d696e50494e4c656e"
        "677468f5706d616b654372656455764e6f74527164f5051904b00682020107080818600982636e6663637573620a"
        "82a263616c672664747970656a7075626c69632d6b6579a263616c672764747970656a7075626c69632d"
        "6b65790b1904000cf40d040e010f18201004141832",
    ),
    case(
        "default",
        Live(pin_set=True),
        "b10183665532465f5632684649444f5f325f30684649444f5f325f3102856b6372656450726f74656374"
        "6b686d61632d7365637265746863726564426c6f626c6c61726765426c6f624b65796c6d696e50696e4c"
        "656e67746803507b6e6b656e62656e63682d656d756c0004ac626570f462726bf5627570f564706c6174"
        "f468616c776179735576f468637265644d676d74f569617574686e72436667f569636c69656e7450696e"
        "f56a6c61726765426c6f6273f56e70696e557641757468546f6b656ef56f7365744d696e50494e4c656e"
        "677468f5706d616b654372656455764e6f74527164f5051904b00682020107080818600982636e6663637573620a"
        "82a263616c672664747970656a7075626c69632d6b6579a263616c672764747970656a7075626c69632d"
        "6b65790b1904000cf40d040e010f18201004141832",
    ),
    case(
        "default",
        Live(always_uv=True),
        "b10182684649444f5f325f30684649444f5f325f3102856b6372656450726f746563746b686d61632d73"
        "65637265746863726564426c6f626c6c61726765426c6f624b65796c6d696e50696e4c656e6774680350"
        "7b6e6b656e62656e63682d656d756c0004ac626570f462726bf5627570f564706c6174f468616c776179"
        "735576f568637265644d676d74f569617574686e72436667f569636c69656e7450696ef46a6c61726765"
        "426c6f6273f56e70696e557641757468546f6b656ef56f7365744d696e50494e4c656e677468f5706d61"
        "6b654372656455764e6f74527164f4051904b00682020107080818600982636e6663637573620a82a263616c6726"
        "64747970656a7075626c69632d6b6579a263616c672764747970656a7075626c69632d6b65790b190400"
        "0cf40d040e010f18201004141832",
    ),
    case(
        "default",
        Live(pin_set=True, always_uv=True),
        "b10182684649444f5f325f30684649444f5f325f3102856b6372656450726f746563746b686d61632d73"
        "65637265746863726564426c6f626c6c61726765426c6f624b65796c6d696e50696e4c656e6774680350"
        "7b6e6b656e62656e63682d656d756c0004ac626570f462726bf5627570f564706c6174f468616c776179"
        "735576f568637265644d676d74f569617574686e72436667f569636c69656e7450696ef56a6c61726765"
        "426c6f6273f56e70696e557641757468546f6b656ef56f7365744d696e50494e4c656e677468f5706d61"
        "6b654372656455764e6f74527164f4051904b00682020107080818600982636e6663637573620a82a263616c6726"
        "64747970656a7075626c69632d6b6579a263616c672764747970656a7075626c69632d6b65790b190400"
        "0cf40d040e010f18201004141832",
    ),
    case(
        "default",
        Live(pin_set=True, ep=True, min_pin_length=8, force_pin_change=True),
        "b10183665532465f5632684649444f5f325f30684649444f5f325f3102856b6372656450726f74656374"
        "6b686d61632d7365637265746863726564426c6f626c6c61726765426c6f624b65796c6d696e50696e4c"
        "656e67746803507b6e6b656e62656e63682d656d756c0004ac626570f562726bf5627570f564706c6174"
        "f468616c776179735576f468637265644d676d74f569617574686e72436667f569636c69656e7450696e"
        "f56a6c61726765426c6f6273f56e70696e557641757468546f6b656ef56f7365744d696e50494e4c656e"
        "677468f5706d616b654372656455764e6f74527164f5051904b00682020107080818600982636e6663637573620a"
        "82a263616c672664747970656a7075626c69632d6b6579a263616c672764747970656a7075626c69632d"
        "6b65790b1904000cf50d080e010f18201004141832",
    ),
    case(
        "ctap20",
        Live(),
        "a60182665532465f5632684649444f5f325f3002816b686d61632d73656372657403507b6e6b656e6265"
        "6e63682d656d756c0004a462726bf5627570f564706c6174f469636c69656e7450696ef4051904b00681"
        "01",
    ),
    case(
        "ctap20",
        Live(pin_set=True),
        "a60182665532465f5632684649444f5f325f3002816b686d61632d73656372657403507b6e6b656e6265"
        "6e63682d656d756c0004a462726bf5627570f564706c6174f469636c69656e7450696ef5051904b00681"
        "01",
    ),
    case(
        "ctap20",
        Live(pin_set=True, always_uv=True),
        "a60182665532465f5632684649444f5f325f3002816b686d61632d73656372657403507b6e6b656e6265"
        "6e63682d656d756c0004a462726bf5627570f564706c6174f469636c69656e7450696ef5051904b00681"
        "01",
    ),
    case(
        "ctap22",
        Live(),
        "b40184665532465f5632684649444f5f325f30684649444f5f325f31684649444f5f325f3202886b637265"
        "6450726f746563746b686d61632d7365637265746863726564426c6f626c6c61726765426c6f624b65796c"
        "6d696e50696e4c656e6774686e686d61632d7365637265742d6d6371746869726450617274795061796d65"
        "6e746b707265766965775369676e03507b6e6b656e62656e63682d656d756c2204ad626570f462726bf562"
        "7570f564706c6174f468616c776179735576f468637265644d676d74f569617574686e72436667f569636c"
        "69656e7450696ef46a6c61726765426c6f6273f56d706572437265644d676d74524ff56e70696e55764175"
        "7468546f6b656ef56f7365744d696e50494e4c656e677468f5706d616b654372656455764e6f74527164f5"
        "051904b00682020107080818600982636e6663637573620a8aa263616c672664747970656a7075626c6963"
        "2d6b6579a263616c672764747970656a7075626c69632d6b6579a263616c67382264747970656a7075626c"
        "69632d6b6579a263616c67382364747970656a7075626c69632d6b6579a263616c67382e64747970656a70"
        "75626c69632d6b6579a263616c6739010064747970656a7075626c69632d6b6579a263616c673824647479"
        "70656a7075626c69632d6b6579a263616c67382f64747970656a7075626c69632d6b6579a263616c673830"
        "64747970656a7075626c69632d6b6579a263616c67383164747970656a7075626c69632d6b65790b190400"
        "0cf40d040e010f182010041418321682667061636b6564646e6f6e65181d183f181f83010203",
    ),
    case(
        "ctap22-bio",
        Live(),  # no finger enrolled yet: uv and bioEnroll present and false
        "b60184665532465f5632684649444f5f325f30684649444f5f325f31684649444f5f325f3202876b637265"
        "6450726f746563746b686d61632d7365637265746863726564426c6f626c6c61726765426c6f624b65796c"
        "6d696e50696e4c656e6774686e686d61632d7365637265742d6d6371746869726450617274795061796d65"
        "6e7403507b6e6b656e62656e63682d656d756c2304b1626570f462726bf5627570f5627576f464706c6174"
        "f4677576546f6b656ef568616c776179735576f468637265644d676d74f569617574686e72436667f56962"
        "696f456e726f6c6cf469636c69656e7450696ef46a6c61726765426c6f6273f56b757642696f456e726f6c"
        "6cf56d706572437265644d676d74524ff56e70696e557641757468546f6b656ef56f7365744d696e50494e"
        "4c656e677468f5706d616b654372656455764e6f74527164f5051904b00682020107080818600982636e66"
        "63637573620a8aa263616c672664747970656a7075626c69632d6b6579a263616c672764747970656a7075"
        "626c69632d6b6579a263616c67382264747970656a7075626c69632d6b6579a263616c6738236474797065"
        "6a7075626c69632d6b6579a263616c67382e64747970656a7075626c69632d6b6579a263616c6739010064"
        "747970656a7075626c69632d6b6579a263616c67382464747970656a7075626c69632d6b6579a263616c67"
        "382f64747970656a7075626c69632d6b6579a263616c67383064747970656a7075626c69632d6b6579a263"
        "616c67383164747970656a7075626c69632d6b65790b1904000cf40d040e010f1820100411031202141832"
        "1682667061636b6564646e6f6e65181d183f181f83010203",
    ),
    case("u2f-only", Live(), "a30181665532465f563203507b6e6b656e62656e63682d656d756c00051904b0"),
    case(
        "u2f-only",
        Live(always_uv=True),
        "a30181665532465f563203507b6e6b656e62656e63682d656d756c00051904b0",
    ),
    case(
        "captured",
        Live(),
        "b10185665532465f5632684649444f5f325f306c4649444f5f325f315f505245684649444f5f325f3168"
        "4649444f5f325f3302856b6372656450726f746563746b686d61632d7365637265746c6c61726765426c"
        "6f624b65796863726564426c6f626c6d696e50696e4c656e6774680350f8a011f38c0a4d15800617111f"
        "9edc7d04ad626570f462726bf5627570f564706c6174f468616c776179735576f468637265644d676d74"
        "f569617574686e72436667f569636c69656e7450696ef46a6c61726765426c6f6273f56e70696e557641"
        "757468546f6b656ef56f7365744d696e50494e4c656e677468f5706d616b654372656455764e6f745271"
        "64f57563726564656e7469616c4d676d7450726576696577f5051906000682020107080818600983636e"
        "6663637573626a736d6172742d636172640a83a263616c672664747970656a7075626c69632d6b6579a2"
        "63616c672764747970656a7075626c69632d6b6579a263616c67382264747970656a7075626c69632d6b"
        "65790b1910000cf40d040e010f18201001141864",
    ),
    case(
        "captured",
        Live(pin_set=True, always_uv=True, ep=True),
        "b10184684649444f5f325f306c4649444f5f325f315f505245684649444f5f325f31684649444f5f325f"
        "3302856b6372656450726f746563746b686d61632d7365637265746c6c61726765426c6f624b65796863"
        "726564426c6f626c6d696e50696e4c656e6774680350f8a011f38c0a4d15800617111f9edc7d04ad6265"
        "70f562726bf5627570f564706c6174f468616c776179735576f568637265644d676d74f569617574686e"
        "72436667f569636c69656e7450696ef56a6c61726765426c6f6273f56e70696e557641757468546f6b65"
        "6ef56f7365744d696e50494e4c656e677468f5706d616b654372656455764e6f74527164f47563726564"
        "656e7469616c4d676d7450726576696577f5051906000682020107080818600983636e6663637573626a"
        "736d6172742d636172640a83a263616c672664747970656a7075626c69632d6b6579a263616c67276474"
        "7970656a7075626c69632d6b6579a263616c67382264747970656a7075626c69632d6b65790b1910000c"
        "f40d040e010f18201001141864",
    ),
]


@pytest.mark.parametrize(("name", "live", "expected"), EMULATED)
def test_authenticator_gives_todays_bytes(name: str, live: Live, expected: bytes) -> None:
    key = Authenticator(Env.for_tests(), profile(name))
    if live.pin_set:
        with_pin(key)
    if live.min_pin_length != 4:
        key.client_pin.set_min_pin_length(live.min_pin_length, live.force_pin_change)
    key.store.state.always_uv = live.always_uv
    key.store.state.enterprise_attestation = live.ep
    assert cbor.encode(key.get_info_map()) == expected
    if key.profile.ctap2:
        assert key.process(b"\x04") == b"\x00" + expected


def test_encoder_orders_copies_and_leaves_out_absent_members() -> None:
    options = {"rk": True}
    encoded = encode_info(
        InfoValues(max_pin_length=63, versions=("FIDO_2_1",), options=options, pin_uv_protocols=())
    )
    assert list(encoded) == [0x01, 0x04, 0x06, 0x1D]
    assert encoded == {0x01: ["FIDO_2_1"], 0x04: {"rk": True}, 0x06: [], 0x1D: 63}
    assert encoded[0x04] is not options
    assert encode_info(InfoValues()) == {}


# ---- the table itself -----------------------------------------------------------------


def test_table_follows_python_fido2_info() -> None:
    """python-fido2 numbers `Info`'s fields by position: each member sits at its key."""
    fido2_fields = [f.name for f in dataclasses.fields(Info)]
    assert [m.fido2_name for m in INFO_MEMBERS] == fido2_fields
    assert [m.key for m in INFO_MEMBERS] == list(range(1, len(fido2_fields) + 1))


def test_every_name_means_one_member() -> None:
    names = [m.name for m in INFO_MEMBERS] + [m.fido2_name for m in INFO_MEMBERS]
    owners = {n: {m.key for m in INFO_MEMBERS if n in (m.name, m.fido2_name)} for n in names}
    assert all(len(keys) == 1 for keys in owners.values())
    assert set(MEMBERS_BY_NAME) == set(names)
    assert all(m.meaning and len(m.meaning) < 80 for m in INFO_MEMBERS)


# ---- decoding captures ----------------------------------------------------------------


def test_decodes_cbor_with_and_without_status_byte() -> None:
    raw = CAPTURE.read_bytes()
    assert decode_info(raw) == cbor.decode(raw) == decode_info(b"\x00" + raw)


def test_json_round_trip_through_the_metadata_statement_form() -> None:
    """getinfo_json writes MDS3 names and hex byte strings; decode_info reads them back."""
    raw = cbor.decode(CAPTURE.read_bytes())
    assert isinstance(raw, dict) and 0x1E in raw
    assert decode_info(json.dumps(getinfo_json(raw))) == raw


def test_decodes_python_fido2_names_and_digit_keys() -> None:
    decoded = decode_info(
        {
            "max_creds_in_list": 3,
            "remaining_disc_creds": 7,
            "enc_identifier": "00ff",
            "5": 2048,
            "not_a_member": 1,
            99: "kept",
            b"odd": "dropped",
        }
    )
    assert decoded == {0x07: 3, 0x14: 7, 0x19: b"\x00\xff", 0x05: 2048, 99: "kept"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xa1", "not valid CBOR"),
        ("{", "not valid JSON"),
        ("[1]", "must be a map"),
        (json.dumps({"encIdentifier": "zz"}), "encIdentifier is not hex"),
    ],
)
def test_bad_captures_are_value_errors(data: bytes | str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_info(data)


def test_a_captured_member_is_read_by_either_name_and_a_typo_fails() -> None:
    captured = CapturedInfo({0x05: 2048})
    assert captured.get("max_msg_size") == captured.get("maxMsgSize") == 2048
    assert captured.get("versions") is None
    with pytest.raises(KeyError):
        captured.get("max_mesg_size")
