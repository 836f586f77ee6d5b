"""The published test vectors, through the virtual app and through `tokenbench totp code`.

RFC 4226 appendix D (HOTP, secret "12345678901234567890", counters 0-9) and RFC 6238
appendix B (TOTP, 8 digits, SHA1/SHA256/SHA512 with the RFC's 20/32/64-byte seeds).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tokenbench.emulators.clock import FakeClock
from tokenbench.emulators.totp.app import VirtualTotpApp
from tokenbench.emulators.totp.uri import build_otpauth, parse_otpauth

HOTP_SECRET = b"12345678901234567890"
RFC4226_CODES = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]

RFC6238_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_CODES = {  # time: (SHA1, SHA256, SHA512)
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}
TOTP_VECTORS = [
    (algorithm, when, codes[index])
    for when, codes in RFC6238_CODES.items()
    for index, algorithm in enumerate(RFC6238_SEEDS)
]


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def test_there_are_eighteen_totp_vectors() -> None:
    assert len(TOTP_VECTORS) == 18


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_CODES)))
def test_hotp_vector_through_the_app(counter: int, expected: str) -> None:
    app = VirtualTotpApp(FakeClock(0))
    app.add_uri(f"otpauth://hotp/RFC4226:test?secret={b32(HOTP_SECRET)}&counter={counter}")
    assert app.code("RFC4226:test") == expected


def test_hotp_vectors_by_tapping_next() -> None:
    app = VirtualTotpApp(FakeClock(0))
    account = app.add_secret(b32(HOTP_SECRET).lower(), account="rfc", kind="hotp")
    shown = [app.code(account)] + [app.next_hotp("rfc") for _ in range(9)]
    assert shown == RFC4226_CODES
    assert app.find("rfc").counter == 9


@pytest.mark.parametrize(("algorithm", "when", "expected"), TOTP_VECTORS)
def test_totp_vector_through_the_app(algorithm: str, when: int, expected: str) -> None:
    app = VirtualTotpApp(FakeClock(when))
    uri = (
        f"otpauth://totp/RFC6238:{algorithm}?secret={b32(RFC6238_SEEDS[algorithm])}"
        f"&algorithm={algorithm}&digits=8&period=30"
    )
    account = app.add_uri(uri)
    assert app.code(account) == expected
    # The URI the app would write for it gives the same code again.
    assert parse_otpauth(build_otpauth(account)).code_at(when) == expected


@pytest.mark.parametrize(("algorithm", "when", "expected"), TOTP_VECTORS)
def test_totp_vector_through_the_cli(run_cli, algorithm: str, when: int, expected: str) -> None:
    status, out, err = run_cli(
        "totp",
        "code",
        "--secret",
        b32(RFC6238_SEEDS[algorithm]),
        "--algorithm",
        algorithm.lower(),
        "--digits",
        "8",
        "--at",
        str(when),
    )
    assert (status, out, err) == (0, expected + "\n", "")


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_CODES)))
def test_hotp_vector_through_the_cli(run_cli, counter: int, expected: str) -> None:
    status, out, _ = run_cli(
        "totp", "code", "--secret", b32(HOTP_SECRET), "--counter", str(counter)
    )
    assert (status, out) == (0, expected + "\n")


@pytest.mark.parametrize("algorithm", list(RFC6238_SEEDS))
def test_totp_vector_through_the_installed_command(tokenbench_exe: Path, algorithm: str) -> None:
    when = 1111111109
    result = subprocess.run(
        [
            *(str(tokenbench_exe), "totp", "code", "--secret", b32(RFC6238_SEEDS[algorithm])),
            *("--algorithm", algorithm, "--digits", "8", "--at", str(when)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
    )
    index = list(RFC6238_SEEDS).index(algorithm)
    assert result.returncode == 0, result.stderr
    assert result.stdout == RFC6238_CODES[when][index] + "\n"
    assert result.stderr == ""


def test_a_six_digit_totp_is_the_tail_of_the_eight_digit_one() -> None:
    app = VirtualTotpApp(FakeClock(59))
    app.add_secret(b32(RFC6238_SEEDS["SHA1"]), issuer="X", account="y")
    assert app.code("X:y") == "287082"
