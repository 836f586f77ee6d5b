"""OATH accounts in the key's state file: sealed, reloaded, and kept across SIGKILL."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from oath_helpers import HOTP, SHA1, calculate, client, put, time_step

from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.state import KeyState
from tokenbench.emulators.key import EmulatedKey

SEED = b"12345678901234567890"
RFC4226_CODES = ["755224", "287082", "359152", "969429", "338314", "254676"]


def test_accounts_and_password_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "key.json"
    c = client(EmulatedKey.create(state_path=state))
    c.ok(put("aws:alice", SEED, digits=8))
    c.ok(put("h", SEED, kind=HOTP | SHA1))
    assert c.code("h", b"") == RFC4226_CODES[0]
    c.set_password("pw")
    salt = c.select()[0x71]

    again = client(EmulatedKey.create(state_path=state))
    info = again.select()
    assert info[0x71] == salt and 0x74 in info
    assert again.validate("pw")[1] == 0x9000
    assert again.names() == [b"aws:alice", b"h"]
    assert again.code("aws:alice", time_step(59)) == "94287082"
    assert again.code("h", b"") == RFC4226_CODES[1]


def test_secrets_are_sealed_in_the_file(tmp_path: Path) -> None:
    state = tmp_path / "key.json"
    c = client(EmulatedKey.create(state_path=state))
    c.ok(put("aws:alice", SEED))
    c.set_password("pw")
    text = state.read_bytes()
    for form in (SEED, base64.b64encode(SEED), base64.b32encode(SEED), SEED.hex().encode()):
        assert form not in text
    assert oct(state.stat().st_mode & 0o777) == "0o600"


def test_a_tampered_seed_is_not_used(tmp_path: Path) -> None:
    state = tmp_path / "key.json"
    c = client(EmulatedKey.create(state_path=state))
    c.ok(put("a", SEED))
    c.ok(put("b", SEED))
    doc = json.loads(state.read_text())
    creds = doc["oath"]["credentials"]
    creds[0]["key"], creds[1]["key"] = creds[1]["key"], creds[0]["key"]  # swapped seeds
    state.write_text(json.dumps(doc))
    again = client(EmulatedKey.create(state_path=state))
    assert again.names() == [b"a", b"b"]
    assert again.send(put("c", SEED))[1] == 0x9000
    # Refuses to open (a YubiKey's memory-failure word, which ykman knows), never miscomputes.
    assert again.send(calculate("a", b"x"))[1] == 0x6581


@pytest.mark.parametrize(
    "oath",
    [
        {"secret": "AA==", "salt": "AAAAAAAAAAA=", "credentials": []},
        {"secret": base64.b64encode(bytes(32)).decode(), "salt": "x", "credentials": []},
        {"secret": base64.b64encode(bytes(32)).decode(), "salt": "AAAAAAAAAAA=", "credentials": 1},
        [],
    ],
)
def test_corrupt_oath_state_is_one_line_state_error(oath: object) -> None:
    doc = json.loads(KeyState(master_secret=bytes(32)).to_json())
    doc["oath"] = oath
    with pytest.raises(StateError):
        KeyState.from_json(json.dumps(doc).encode())


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from oath_helpers import HOTP, SHA1, client, put, calculate, parse_tlvs, code_of
    from tokenbench.emulators.key import EmulatedKey

    c = client(EmulatedKey.create(state_path=sys.argv[1]))
    c.ok(put("hotp", b"12345678901234567890", kind=HOTP | SHA1))
    i = 0
    while True:
        c.ok(put(f"acct{i}", b"12345678901234567890"))
        value = parse_tlvs(c.ok(calculate("hotp", b"")))[0][1]
        print(i, code_of(value), flush=True)
        i += 1
    """
)


def test_state_survives_sigkill_mid_write(tmp_path: Path) -> None:
    state = tmp_path / "key.json"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acknowledged: list[tuple[int, str]] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            number, code = line.split()
            acknowledged.append((int(number), code))
            if len(acknowledged) >= 25:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    assert len(acknowledged) >= 25
    c = client(EmulatedKey.create(state_path=state))
    names = set(c.names())
    assert {f"acct{i}".encode() for i, _ in acknowledged} <= names
    # The HOTP counter never goes back: the next code is not one already handed out.
    given = {code for _, code in acknowledged}
    assert c.code("hotp", b"") not in given
