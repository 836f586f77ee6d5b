"""The token factory: serials, seeds, drift, battery, and the PSKC seed file it writes.

Every PSKC file is read back with python-pskc itself, and the seeds in it are checked twice:
against the seeds sealed in the tokens' state files (unsealed here with the factory's key,
a route only tests take) and against what the tokens actually display.
"""

from __future__ import annotations

import base64
import json
import random
import re
import stat
from pathlib import Path

import pskc
import pytest
from lxml import etree
from pskc.exceptions import DecryptionError

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.errors import PskcError, TotpError
from tokenbench.emulators.totp.factory import TokenFactory
from tokenbench.emulators.totp.otp import OtpAccount
from tokenbench.emulators.totp.provisioning import TOTP_ALGORITHM_URN, inspect_pskc
from tokenbench.emulators.totp.sealing import unseal
from tokenbench.emulators.totp.token import DEFAULT_BATTERY_LIFE, YEAR_SECONDS, HardwareTotpToken

START = 1_700_000_000
PSK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PSKC_NS = {"pskc": "urn:ietf:params:xml:ns:keyprov:pskc"}


def unsealed_seed(token: HardwareTotpToken, key: bytes, tmp_path: Path) -> bytes:
    """The test-only route to a seed: save the state, unseal it with the factory's key."""
    path = tmp_path / f"{token.serial}.token.json"
    token.save(path)
    state = json.loads(path.read_text())
    return unseal(key, state["sealed_seed"], token._associated_data())


def read_pskc(path: Path, *, psk: bytes | None = None, password: str | None = None) -> pskc.PSKC:
    container = pskc.PSKC(str(path))
    if password is not None:
        container.encryption.derive_key(password)
    else:
        container.encryption.key = psk
    return container


def test_serials_are_prefixed_sequential_and_unique_across_batches() -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(1))
    serials = [t.serial for t in factory.mint(3) + factory.mint(2)]
    assert serials == [f"GAHT0000000{n}" for n in range(1, 6)]
    assert all(re.fullmatch(r"GAHT\d{8}", s) for s in serials)


def test_a_state_dir_keeps_serials_unique_across_factories(tmp_path: Path) -> None:
    first = TokenFactory(FakeClock(START), prefix="VNDR", state_dir=tmp_path / "f")
    second = TokenFactory(FakeClock(START), prefix="VNDR", state_dir=tmp_path / "f")
    other_prefix = TokenFactory(FakeClock(START), prefix="ZZ", state_dir=tmp_path / "f")
    serials = [t.serial for t in first.mint(2) + second.mint(2) + first.mint(1)]
    assert serials == [f"VNDR0000000{n}" for n in range(1, 6)]
    assert other_prefix.mint(1)[0].serial == "ZZ00000001"
    assert first.sealing_key == second.sealing_key  # one factory, one sealing key
    key_file = tmp_path / "f" / "sealing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.sealing_key.hex() in key_file.read_text()


def test_a_corrupt_registry_is_a_clear_error(tmp_path: Path) -> None:
    factory = TokenFactory(FakeClock(START), state_dir=tmp_path)
    (tmp_path / "factory.json").write_text('{"format": "tokenbench-totp-factory", "version": 1}')
    with pytest.raises(TotpError, match="next_serial"):
        factory.mint(1)


def test_seeded_randomness_makes_a_batch_reproducible(tmp_path: Path) -> None:
    made = []
    for run in ("a", "b"):
        factory = TokenFactory(FakeClock(START), rng=random.Random(42))
        tokens = factory.mint(3)
        seeds = [unsealed_seed(t, factory.sealing_key, tmp_path / run) for t in tokens]
        made.append((seeds, [t.drift_ppm for t in tokens], [t.battery_life for t in tokens]))
    assert made[0] == made[1]
    assert len(set(made[0][0])) == 3


def test_a_bytes_source_works_too(tmp_path: Path) -> None:
    stream = random.Random(5)
    factory = TokenFactory(FakeClock(START), rng=stream.randbytes)
    (token,) = factory.mint(1)
    assert -30 <= token.drift_ppm <= 30
    assert len(unsealed_seed(token, factory.sealing_key, tmp_path)) == 20


@pytest.mark.parametrize(("algorithm", "length"), [("SHA1", 20), ("SHA256", 32), ("SHA512", 64)])
def test_seed_length_follows_the_hash(tmp_path: Path, algorithm: str, length: int) -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(3))
    (token,) = factory.mint(1, algorithm=algorithm.lower(), digits=8, period=60)
    assert (token.algorithm, token.digits, token.period) == (algorithm, 8, 60)
    assert len(unsealed_seed(token, factory.sealing_key, tmp_path)) == length


def test_drift_is_random_within_the_bound_unless_forced() -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(9))
    drifts = [t.drift_ppm for t in factory.mint(200)]
    assert all(-30 <= d <= 30 for d in drifts)
    assert min(drifts) < -20 and max(drifts) > 20  # spread over the range
    assert {t.drift_ppm for t in factory.mint(3, drift_ppm=50)} == {50}
    tight = TokenFactory(FakeClock(START), rng=random.Random(9), max_drift_ppm=2)
    assert all(abs(t.drift_ppm) <= 2 for t in tight.mint(50))


def test_batteries_last_about_the_nominal_life() -> None:
    tokens = TokenFactory(FakeClock(START), rng=random.Random(4)).mint(50)
    lives = [t.battery_life for t in tokens]
    assert all(0.95 * DEFAULT_BATTERY_LIFE <= life <= 1.05 * DEFAULT_BATTERY_LIFE for life in lives)
    assert len(set(lives)) == 50


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        ({"count": 0}, "batch"),
        ({"count": 2.5}, "batch"),
        ({"count": 1, "algorithm": "MD5"}, "algorithm"),
        ({"count": 1, "digits": 9}, "digits"),
        ({"count": 1, "period": 0}, "period"),
        ({"count": 1, "drift_ppm": float("nan")}, "drift"),
    ],
)
def test_bad_mint_requests(call: dict, complaint: str) -> None:
    factory = TokenFactory(FakeClock(START))
    count = call.pop("count")
    with pytest.raises(TotpError, match=complaint):
        factory.mint(count, **call)


@pytest.mark.parametrize("prefix", ["", "gaht", "TOOLONGPREFIX", "GA-HT"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(TotpError, match="prefix"):
        TokenFactory(FakeClock(START), prefix=prefix)


def test_the_factory_does_not_show_seeds() -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(1))
    assert "sealing" not in repr(factory) and factory.sealing_key.hex() not in repr(factory)


# -- the PSKC seed file --------------------------------------------------------------------


@pytest.mark.parametrize("protection", ["psk", "password"])
def test_pskc_reads_back_with_python_pskc(tmp_path: Path, protection: str) -> None:
    clock = FakeClock(START)
    factory = TokenFactory(clock, prefix="GAHT", rng=random.Random(11))
    tokens = factory.mint(2) + factory.mint(1, algorithm="SHA256", digits=8, period=60)
    path = tmp_path / "seeds.pskc"
    secret = {"psk": PSK} if protection == "psk" else {"password": "correct horse"}
    factory.write_pskc(tokens, path, **secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    container = read_pskc(path, **secret)
    assert container.encryption.algorithm.endswith("#aes128-cbc")
    assert container.mac.algorithm.endswith("#hmac-sha1")
    if protection == "password":
        assert container.encryption.derivation.algorithm.endswith("#pbkdf2")
    else:
        assert container.encryption.key_name == "Pre-shared-key"
    assert [k.serial for k in container.keys] == [t.serial for t in tokens]
    for key, token in zip(container.keys, tokens, strict=True):
        assert key.id == token.serial
        assert key.algorithm == TOTP_ALGORITHM_URN
        assert (key.manufacturer, key.model) == ("tokenbench", token.model)
        assert key.algorithm_suite == f"HMAC-{token.algorithm}"
        assert (key.response_encoding, key.response_length) == ("DECIMAL", token.digits)
        assert (key.time_offset, key.time_interval) == (0, token.period)
        assert key.policy.key_usage == ["OTP"]
        assert key.start_date.timestamp() == START
        assert key.secret == unsealed_seed(token, factory.sealing_key, tmp_path)


def test_tokens_display_the_codes_their_pskc_seeds_give(tmp_path: Path) -> None:
    """What the bench's TOTP suite does: codes from the seed file match the token."""
    clock = FakeClock(START)
    factory = TokenFactory(clock, rng=random.Random(12))
    tokens = factory.mint(3, drift_ppm=0)
    factory.write_pskc(tokens, tmp_path / "seeds.pskc", psk=PSK)
    container = read_pskc(tmp_path / "seeds.pskc", psk=PSK)
    for key, token in zip(container.keys, tokens, strict=True):
        from_seed = OtpAccount(secret=key.secret, period=key.time_interval)
        for _ in range(3):
            clock.advance(1000)
            assert token.press() == from_seed.code_at(clock.now())


def test_a_drifted_token_matches_its_seed_at_its_own_time(tmp_path: Path) -> None:
    clock = FakeClock(START)
    factory = TokenFactory(clock, rng=random.Random(13))
    (token,) = factory.mint(1, drift_ppm=20)
    factory.write_pskc([token], tmp_path / "seeds.pskc", password="pw")
    (key,) = read_pskc(tmp_path / "seeds.pskc", password="pw").keys
    from_seed = OtpAccount(secret=key.secret)
    clock.advance(YEAR_SECONDS + 15)  # 5 s into a step; 631.15 s later is 6.15 s into one
    assert token.press() == from_seed.code_at(clock.now() + 631)
    assert token.press() != from_seed.code_at(clock.now())


def test_a_wrong_password_or_key_is_refused(tmp_path: Path) -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(14))
    tokens = factory.mint(2)
    factory.write_pskc(tokens, tmp_path / "pw.pskc", password="right")
    factory.write_pskc(tokens, tmp_path / "psk.pskc", psk=PSK)
    with pytest.raises(DecryptionError):
        read_pskc(tmp_path / "pw.pskc", password="wrong").keys[0].secret  # noqa: B018
    with pytest.raises(DecryptionError):
        read_pskc(tmp_path / "psk.pskc", psk=bytes(16)).keys[0].secret  # noqa: B018
    with pytest.raises(PskcError, match="does not decrypt"):
        inspect_pskc(tmp_path / "pw.pskc", password="wrong")


def _flip_first_bit(path: Path, element: str) -> None:
    tree = etree.parse(str(path))
    node = tree.find(f".//pskc:{element}", PSKC_NS)
    if node is None:
        node = tree.xpath(f"//*[local-name()='{element}']")[0]
    raw = bytearray(base64.b64decode(node.text))
    raw[0] ^= 0x01
    node.text = base64.b64encode(bytes(raw)).decode()
    tree.write(str(path))


@pytest.mark.parametrize("element", ["ValueMAC", "CipherValue"])
@pytest.mark.parametrize("protection", ["psk", "password"])
def test_a_flipped_bit_is_refused(tmp_path: Path, element: str, protection: str) -> None:
    factory = TokenFactory(FakeClock(START), rng=random.Random(15))
    secret = {"psk": PSK} if protection == "psk" else {"password": "pw"}
    path = tmp_path / "seeds.pskc"
    factory.write_pskc(factory.mint(1), path, **secret)
    assert read_pskc(path, **secret).keys[0].secret  # intact, it opens
    _flip_first_bit(path, element)
    with pytest.raises(DecryptionError):
        read_pskc(path, **secret).keys[0].secret  # noqa: B018
    with pytest.raises(PskcError):
        inspect_pskc(path, **secret)


def test_seeds_of_any_token_can_be_written(tmp_path: Path) -> None:
    """The bench's wrong-seed fault: another factory's tokens, renamed, in this PSKC file."""
    factory = TokenFactory(FakeClock(START), rng=random.Random(16))
    tokens = factory.mint(1)
    decoys = TokenFactory(FakeClock(START), rng=random.Random(17)).mint(1)
    decoys[0].serial = tokens[0].serial
    factory.write_pskc(decoys, tmp_path / "seeds.pskc", psk=PSK)
    (key,) = read_pskc(tmp_path / "seeds.pskc", psk=PSK).keys
    assert key.serial == tokens[0].serial
    assert key.secret != unsealed_seed(tokens[0], factory.sealing_key, tmp_path)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({}, "exactly one"),
        ({"psk": PSK, "password": "pw"}, "exactly one"),
        ({"psk": bytes(15)}, "16 bytes"),
        ({"password": ""}, "empty"),
    ],
)
def test_pskc_needs_one_good_protection(tmp_path: Path, options: dict, complaint: str) -> None:
    factory = TokenFactory(FakeClock(START))
    with pytest.raises(PskcError, match=complaint):
        factory.write_pskc(factory.mint(1), tmp_path / "x.pskc", **options)
    assert not (tmp_path / "x.pskc").exists()


def test_pskc_needs_tokens(tmp_path: Path) -> None:
    with pytest.raises(PskcError, match="no tokens"):
        TokenFactory(FakeClock(START)).write_pskc([], tmp_path / "x.pskc", psk=PSK)
