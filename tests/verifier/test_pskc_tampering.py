"""Issue 14 item 1: a tampered PSKC seed file is refused, as a whole, by both readers.

The attacks are the security review's: in a batch minted with `totp mint --password`, one key
package's EncryptedValue swapped for a PlainValue the attacker knows, its ValueMAC deleted
(alone, or with an IV bit flipped so the seed changes), the MACKey deleted with every ValueMAC.
`iam import-seeds` (the verifier) and `totp pskc` (the vendor-side check) must both refuse each
one with one line naming the package, and the import must leave nothing stored.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_capture import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.bench.cli import main

PASSWORD = "secret"
PSK_HEX = "000102030405060708090a0b0c0d0e0f"
ATTACKER_SEED = b"attacker-knows-this!"
SERIALS = ["GAHT00000001", "GAHT00000002"]
# The warning for a secret given on the command line (tested in tests/bench/test_secret_input.py);
# these tests pass made-up secrets that way for brevity, so it is set aside here.
PACKAGE = re.compile(r"<pskc:KeyPackage>.*?</pskc:KeyPackage>", re.S)
ENCRYPTED_AND_MAC = re.compile(
    r"<pskc:EncryptedValue>.*?</pskc:EncryptedValue>\s*<pskc:ValueMAC>[^<]*</pskc:ValueMAC>", re.S
)
VALUE_MAC = re.compile(r"\s*<pskc:ValueMAC>[^<]*</pskc:ValueMAC>")
CIPHER_VALUE = re.compile(r"(<xenc:CipherValue>)([^<]*)(</xenc:CipherValue>)")
MAC_KEY = re.compile(r"\s*<pskc:MACKey>.*?</pskc:MACKey>", re.S)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_main(capsys, *argv)


def in_package(text: str, index: int, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to its `index`-th KeyPackage only."""
    match = list(PACKAGE.finditer(text))[index]
    return text[: match.start()] + change(match.group(0)) + text[match.end() :]


def plain_value_swap(text: str) -> str:
    plain = base64.b64encode(ATTACKER_SEED).decode()
    return in_package(
        text, 1, lambda p: ENCRYPTED_AND_MAC.sub(f"<pskc:PlainValue>{plain}</pskc:PlainValue>", p)
    )


def value_mac_deleted(text: str) -> str:
    return in_package(text, 1, lambda p: VALUE_MAC.sub("", p))


def _flip_iv_bit(package: str) -> str:
    def flip(match: re.Match[str]) -> str:
        raw = bytearray(base64.b64decode(match.group(2)))
        raw[0] ^= 0x01  # the IV is the first block of an aes128-cbc CipherValue
        return match.group(1) + base64.b64encode(bytes(raw)).decode() + match.group(3)

    return CIPHER_VALUE.sub(flip, package)


def iv_bit_flipped(text: str) -> str:
    return in_package(text, 1, lambda p: _flip_iv_bit(VALUE_MAC.sub("", p)))


def mac_key_missing(text: str) -> str:
    return VALUE_MAC.sub("", MAC_KEY.sub("", text))


ATTACKS = {
    "plain value swap": plain_value_swap,
    "ValueMAC deleted": value_mac_deleted,
    "IV bit flipped": iv_bit_flipped,
    "MAC key missing": mac_key_missing,
}
EXPECTED = {
    "plain value swap": r"key package 2 \(serial GAHT00000002\): the secret is not encrypted",
    "ValueMAC deleted": r"key package 2 \(serial GAHT00000002\): the secret has no ValueMAC",
    "IV bit flipped": r"key package 2 \(serial GAHT00000002\): the secret has no ValueMAC",
    "MAC key missing": r"no MACMethod with an encrypted MACKey",
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A password-protected batch of two tokens, minted by the CLI as a vendor would."""
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("batch") / "b"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOKENBENCH_HOME", str(home))
        argv = ["totp", "mint", "--count", "2", "--out", str(out)]
        assert main([*argv, "--password", PASSWORD]) == 0
    return out / "seeds.pskc"


def import_seeds(capsys, tmp_path: Path, path: Path, *secret: str) -> tuple[int, str, str]:
    store = ["--store", str(tmp_path / "iam.db"), "--kek-file", str(tmp_path / "kek")]
    return run(capsys, "iam", "import-seeds", str(path), *store, *secret)


@pytest.mark.parametrize("attack", ATTACKS)
def test_tampered_file_is_refused_by_import_seeds(capsys, tmp_path, batch, attack) -> None:
    tampered = tmp_path / "tampered.pskc"
    tampered.write_text(ATTACKS[attack](batch.read_text()))
    status, out, err = import_seeds(capsys, tmp_path, tampered, "--password", PASSWORD)
    assert (status, out) == (1, ""), err
    assert len(err.splitlines()) == 1 and "internal error" not in err
    assert re.search(EXPECTED[attack], err), err
    # Nothing was stored: the untouched file still imports both serials.
    status, out, err = import_seeds(capsys, tmp_path, batch, "--password", PASSWORD)
    assert status == 0, err
    assert json.loads(out)["SerialNumbers"] == SERIALS


@pytest.mark.parametrize("attack", ATTACKS)
def test_tampered_file_is_refused_by_totp_pskc(capsys, tmp_path, batch, attack) -> None:
    tampered = tmp_path / "tampered.pskc"
    tampered.write_text(ATTACKS[attack](batch.read_text()))
    status, out, err = run(capsys, "totp", "pskc", str(tampered), "--password", PASSWORD)
    assert (status, out) == (1, ""), err
    assert len(err.splitlines()) == 1 and "internal error" not in err
    assert re.search(EXPECTED[attack], err), err


def test_untampered_batch_passes_both(capsys, tmp_path, batch) -> None:
    status, out, err = run(capsys, "totp", "pskc", str(batch), "--password", PASSWORD)
    assert status == 0 and "2 keys decrypted and MAC-checked" in out, err
    assert import_seeds(capsys, tmp_path, batch, "--password", PASSWORD)[0] == 0


def test_password_on_a_plain_file_is_refused(capsys, tmp_path, batch) -> None:
    """A file stripped of its encryption cannot pass for the vendor's encrypted batch."""
    plain = base64.b64encode(ATTACKER_SEED).decode()
    text = in_package(batch.read_text(), 0, lambda p: p)
    text = re.sub(r"\s*<pskc:EncryptionKey>.*?</pskc:EncryptionKey>", "", text, flags=re.S)
    text = re.sub(r"\s*<pskc:MACMethod>.*?</pskc:MACMethod>", "", text, flags=re.S)
    text = re.sub(r"\s*<pskc:MACMethod .*?</pskc:MACMethod>", "", text, flags=re.S)
    text = ENCRYPTED_AND_MAC.sub(f"<pskc:PlainValue>{plain}</pskc:PlainValue>", text)
    stripped = tmp_path / "stripped.pskc"
    stripped.write_text(text)
    for argv in (
        ["totp", "pskc", str(stripped), "--psk-hex", PSK_HEX],
        ["iam", "import-seeds", str(stripped), "--store", str(tmp_path / "iam.db"),
         "--kek-file", str(tmp_path / "kek"), "--psk-hex", PSK_HEX],
    ):  # fmt: skip
        status, out, err = run(capsys, *argv)
        assert (status, out) == (1, "") and "not encrypted" in err, err


# --- mutated files: a clean import or one line, never a traceback, never a partial import ------

MUTATIONS = [plain_value_swap, value_mac_deleted, iv_bit_flipped, mac_key_missing]


@pytest.fixture(scope="module")
def psk_batch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PSK batch (no PBKDF2, so hypothesis can afford many examples)."""
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("batch") / "b"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOKENBENCH_HOME", str(home))
        argv = ["totp", "mint", "--count", "2", "--out", str(out)]
        assert main([*argv, "--psk-hex", PSK_HEX]) == 0
    return (out / "seeds.pskc").read_text()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mutation=st.sampled_from([None, *MUTATIONS]),
    flips=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=127)), max_size=3
    ),
)
def test_mutated_files_import_cleanly_or_fail_in_one_line(
    capsys, tmp_path_factory, psk_batch, mutation, flips
) -> None:
    text = mutation(psk_batch) if mutation else psk_batch
    data = bytearray(text.encode())
    for position, value in flips:
        data[position % len(data)] = value
    work = tmp_path_factory.mktemp("mutated")
    path = work / "mutated.pskc"
    path.write_bytes(bytes(data))
    status, out, err = run(capsys, "totp", "pskc", str(path), "--psk-hex", PSK_HEX)
    assert status in (0, 1) and "internal error" not in err and "Traceback" not in err
    assert status == 0 or (out == "" and len(err.splitlines()) == 1), err
    status, out, err = import_seeds(capsys, work, path, "--psk-hex", PSK_HEX)
    assert status in (0, 1) and "internal error" not in err and "Traceback" not in err
    if status == 1:
        assert out == "" and len(err.splitlines()) == 1, err
        pristine = work / "pristine.pskc"  # nothing was stored: the whole batch still imports
        pristine.write_text(psk_batch)
        status, out, err = import_seeds(capsys, work, pristine, "--psk-hex", PSK_HEX)
        assert status == 0 and json.loads(out)["SerialNumbers"] == SERIALS, err
    else:
        assert mutation is None  # every structural attack is refused
        assert len(json.loads(out)["SerialNumbers"]) == 2
