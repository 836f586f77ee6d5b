"""The virtual app's account file under concurrent writers, bad content and failed writes.

Issue 14 #5: twelve parallel `totp app add` processes (real subprocesses, the installed command)
each keep their account. Malformed files give one line on stderr, never a traceback; a write
that fails (the file-size limit, a real EFBIG from the kernel) leaves the previous file as it was.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbench.emulators.totp.otp import encode_base32

CliResult = tuple[int, str, str]
PARALLEL_ADDS = 12


def _uri(index: int) -> str:
    secret = encode_base32(bytes([index + 1]) * 20)
    return f"otpauth://totp/Race:user{index}?secret={secret}&issuer=Race"


def test_twelve_parallel_adds_keep_twelve_accounts(tmp_path: Path, tokenbench_exe: Path) -> None:
    app_file = tmp_path / "b.json"
    processes = [
        subprocess.Popen(
            [str(tokenbench_exe), "totp", "app", "add", "--app", str(app_file), _uri(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PARALLEL_ADDS)
    ]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert out.startswith("added Race:user")
    accounts = json.loads(app_file.read_text())["accounts"]
    assert sorted(a["account"] for a in accounts) == sorted(
        f"user{i}" for i in range(PARALLEL_ADDS)
    )
    assert app_file.stat().st_mode & 0o777 == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _one_line_error(result: CliResult) -> str:
    status, _, err = result
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ACCOUNT = {
    "type": "totp",
    "issuer": "I",
    "account": "a",
    "secret": "JBSWY3DPEHPK3PXP",
    "algorithm": "SHA1",
    "digits": 6,
    "period": 30,
    "counter": 0,
}
MALFORMED_FILES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(sorted(ACCOUNT)), JSON_VALUES).map(
        lambda entry: json.dumps(
            {"format": "tokenbench-totp-app", "version": 1, "accounts": [ACCOUNT | entry]}
        ).encode()
    ),
    st.integers(1, 100_000).map(lambda depth: b"[" * depth),
    st.sampled_from([b'{"format": "tokenbench-totp-app", "version": 1e400}', b"\xff\xfe"]),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=MALFORMED_FILES)
def test_malformed_app_files_are_one_line_errors_and_stay_as_they_were(
    tmp_path: Path, run_cli: Callable[..., CliResult], content: bytes
) -> None:
    app_file = tmp_path / "malformed.json"
    app_file.write_bytes(content)
    result = run_cli("totp", "app", "add", "--app", str(app_file), _uri(1))
    if result[0] == 0:  # hypothesis built a valid file: the add must have kept its account
        assert "user1" in app_file.read_text()
        return
    _one_line_error(result)
    _one_line_error(run_cli("totp", "app", "codes", "--app", str(app_file)))
    assert app_file.read_bytes() == content


@pytest.fixture
def file_size_limit() -> Iterator[Callable[[int | None], None]]:
    """Lower RLIMIT_FSIZE (writes past it fail with EFBIG instead of killing the process)."""
    saved = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def limit(size: int | None) -> None:  # None: back to the saved limit
        resource.setrlimit(resource.RLIMIT_FSIZE, saved if size is None else (size, saved[1]))

    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved)
        signal.signal(signal.SIGXFSZ, previous)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(1, 6))
def test_a_failed_write_keeps_the_previous_accounts(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    file_size_limit: Callable[[int | None], None],
    count: int,
) -> None:
    app_file = tmp_path / f"app-{count}.json"
    app_file.unlink(missing_ok=True)
    for index in range(count):
        assert run_cli("totp", "app", "add", "--app", str(app_file), _uri(index))[0] == 0
    before = app_file.read_bytes()
    file_size_limit(len(before))  # the next version is longer: its write fails part-way
    result = run_cli("totp", "app", "add", "--app", str(app_file), _uri(count))
    file_size_limit(None)
    assert "too large" in _one_line_error(result).lower()
    assert app_file.read_bytes() == before
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
