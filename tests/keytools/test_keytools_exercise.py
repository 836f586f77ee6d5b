"""`tokenbench key make-credential|get-assertion` against persistent `emu:` keys.

The outputs are checked for what they mean, not only their shape: an assertion's signature
verifies with the public key make-credential printed, hmac-secret outputs are a function of
(credential, salt, UV), the credBlob and the large blob come back as stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_capture import run_main
from fido2 import cbor
from fido2.cose import CoseKey

PIN = "4711-otter"
SALT_A = "a1" * 32
SALT_B = "b2" * 32


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"emu:state={tmp_path / 'key.json'}"


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run_main(capsys, *argv, "--json", keep_warnings=True)
    assert code == 0, err
    assert out.count("\n") == 1
    assert PIN not in out + err
    return dict(json.loads(out))


def failure(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run_main(capsys, *argv, keep_warnings=True)
    assert code != 0 and out == "", out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("tokenbench"), err
    return lines[0]


def verify(made: dict, assertion: dict) -> None:
    """The assertion is signed by the credential make-credential reported (fido2-assert's check)."""
    key = CoseKey.parse(cbor.decode(bytes.fromhex(made["public_key_cose"])))
    signed = bytes.fromhex(assertion["authenticator_data"] + assertion["client_data_hash"])
    key.verify(signed, bytes.fromhex(assertion["signature"]))  # raises InvalidSignature


def make(capsys: pytest.CaptureFixture[str], uri: str, *extra: str) -> dict:
    return ok_json(
        capsys, "key", "make-credential", "--target", uri, "--rp-id", "a.example", *extra
    )


def get(capsys: pytest.CaptureFixture[str], uri: str, *extra: str) -> list[dict]:
    args = ("key", "get-assertion", "--target", uri, "--rp-id", "a.example", *extra)
    result = ok_json(capsys, *args)
    assert result["rp_id"] == "a.example" and result["target"] == uri
    return list(result["assertions"])


@pytest.fixture
def with_pin(capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TOKENBENCH_NEW_PIN", PIN)
    assert run_main(capsys, "key", "pin", "set", "--target", uri)[0] == 0
    monkeypatch.delenv("TOKENBENCH_NEW_PIN")
    return uri


def test_a_server_side_credential_with_hmac_secret_and_cred_blob(
    capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    made = make(capsys, uri, "--hmac-secret", "--cred-blob", "c0ffee", "--user", "ann")
    assert made["resident"] is False and made["hmac_secret"] is True
    assert made["cred_blob_stored"] is True
    assert made["aaguid"] == "7b6e6b65-6e62-656e-6368-2d656d756c00"
    assert made["attestation_format"] == "packed" and made["algorithm"] == -7
    assert made["flags"]["up"] is True and made["flags"]["uv"] is False
    assert made["user"]["name"] == "ann" and len(bytes.fromhex(made["user"]["id"])) == 16
    cid = made["credential_id"]

    # a non-resident credential is found only through its id
    line = failure(capsys, "key", "get-assertion", "--target", uri, "--rp-id", "a.example")
    assert "NO_CREDENTIALS" in line
    both = get(capsys, uri, "--credential-id", cid, "--hmac-salt", SALT_A, "--hmac-salt", SALT_B)
    assert [a["credential_id"] for a in both] == [cid]
    verify(made, both[0])
    out1, out2 = both[0]["hmac_secret"]["output1"], both[0]["hmac_secret"]["output2"]
    assert len(bytes.fromhex(out1)) == len(bytes.fromhex(out2)) == 32 and out1 != out2
    # the same (credential, salt) gives the same secret; it is not the salt echoed back
    (one,) = get(capsys, uri, "--credential-id", cid, "--hmac-salt", SALT_A, "--cred-blob")
    assert one["hmac_secret"] == {"output1": out1, "output2": None}
    assert out1 not in (SALT_A, SALT_B)
    assert one["cred_blob"] == "c0ffee"
    assert one["sign_count"] > both[0]["sign_count"] > made["sign_count"]

    # another credential derives another secret from the same salt
    other = make(capsys, uri, "--hmac-secret")["credential_id"]
    (third,) = get(capsys, uri, "--credential-id", other, "--hmac-salt", SALT_A)
    assert third["hmac_secret"]["output1"] != out1


def test_a_resident_credential_with_a_large_blob(
    capsys: pytest.CaptureFixture[str], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make(capsys, uri, "--resident", "--large-blob", "--user", "bea", "--user-id", "0b0b")
    assert made["resident"] is True and made["large_blob_supported"] is True
    (found,) = get(capsys, uri)
    assert found["credential_id"] == made["credential_id"]
    assert found["user"]["id"] == "0b0b"
    verify(made, found)
    (empty,) = get(capsys, uri, "--large-blob-read")
    assert empty["large_blob"] is None
    (written,) = get(capsys, uri, "--large-blob-write", "5ca1ab1e" * 8)
    assert written["large_blob_written"] is True
    (read,) = get(capsys, uri, "--large-blob-read")
    assert read["large_blob"] == "5ca1ab1e" * 8


def test_a_pin_protected_key_asks_for_the_pin_and_verifies_the_user(
    capsys: pytest.CaptureFixture[str], with_pin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("key", "make-credential", "--target", with_pin, "--rp-id", "a.example", "--resident")
    assert "the key wants its PIN" in failure(capsys, *args)
    monkeypatch.setenv("TOKENBENCH_PIN", "0000-wrong")
    line = failure(capsys, *args)
    assert "wrong PIN (CTAP error PIN_INVALID, 7 retries left)" in line
    assert "0000-wrong" not in line
    monkeypatch.setenv("TOKENBENCH_PIN", PIN)
    made = make(capsys, with_pin, "--resident", "--hmac-secret", "--uv", "required")
    assert made["flags"]["uv"] is True
    (plain,) = get(capsys, with_pin, "--hmac-salt", SALT_A, "--uv", "discouraged")
    (verified,) = get(capsys, with_pin, "--hmac-salt", SALT_A, "--uv", "required")
    assert plain["flags"]["uv"] is False and verified["flags"]["uv"] is True
    # CTAP 2.1 §12.5: with and without UV the key uses different CredRandoms
    assert plain["hmac_secret"]["output1"] != verified["hmac_secret"]["output1"]
    assert plain["user"]["name"] is None  # a key returns user details only after UV


def test_text_output_without_json(capsys: pytest.CaptureFixture[str], uri: str) -> None:
    code, out, err = run_main(
        capsys, "key", "make-credential", "--target", uri, "--rp-id", "a.example", "--resident"
    )
    assert code == 0, err
    assert "resident: True" in out and "flags.up: True" in out
    code, out, err = run_main(
        capsys, "key", "get-assertion", "--target", uri, "--rp-id", "a.example"
    )
    assert code == 0, err
    assert out.startswith("rp_id: a.example\n") and "assertion 1: credential_id: " in out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--hmac-salt", "ab" * 16), "one or two salts of 32 bytes"),
        (("--hmac-salt", SALT_A, "--hmac-salt", SALT_A, "--hmac-salt", SALT_A), "one or two"),
        (("--hmac-salt", "zz"), "not hexadecimal"),
        (("--large-blob-read", "--large-blob-write", "00"), "not allowed with"),
        (("--credential-id", ""), "empty credential id"),
        (("--credential-id", "00" * 16), "NO_CREDENTIALS"),
    ],
)
def test_bad_assertion_requests_are_one_line(
    capsys: pytest.CaptureFixture[str], uri: str, extra: tuple[str, ...], expected: str
) -> None:
    line = failure(capsys, "key", "get-assertion", "--target", uri, "--rp-id", "a.example", *extra)
    assert expected in line


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--large-blob",), "needs --resident"),
        (("--cred-blob", "00" * 33), "this key keeps 32"),
        (("--rp-id", "https://a.example/"), "is not an RP ID"),
        (("--alg", "dsa"), "invalid choice"),
        (("--user", "ann\udcff"), "not UTF-8 text"),
        (("--rp-id", "a\udcff.example"), "not UTF-8 text"),
        (("--uv", "always"), "invalid choice"),
    ],
)
def test_bad_credential_requests_are_one_line(
    capsys: pytest.CaptureFixture[str], uri: str, extra: tuple[str, ...], expected: str
) -> None:
    line = failure(
        capsys, "key", "make-credential", "--target", uri, "--rp-id", "a.example", *extra
    )
    assert expected in line


def test_a_ctap20_key_without_cred_blob(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("key", "make-credential", "--target", "emu:profile=ctap20", "--rp-id", "a.example")
    assert "no credBlob extension" in failure(capsys, *args, "--cred-blob", "00")
    made = ok_json(capsys, *args, "--hmac-secret")
    assert made["hmac_secret"] is True


@pytest.mark.parametrize("fault", ["malformed-cbor", "bad-length", "drop-packet"])
@pytest.mark.parametrize(
    "verb",
    [
        ("pin", "retries"),
        ("config", "enterprise-attestation"),
        ("make-credential", "--rp-id", "a.example"),
        ("get-assertion", "--rp-id", "a.example"),
    ],
)
def test_a_broken_key_is_one_line_naming_the_target(
    capsys: pytest.CaptureFixture[str], fault: str, verb: tuple[str, ...]
) -> None:
    """A key that garbles CBOR or drops a packet: the person learns which key, not a crash."""
    target = f"emu:fault={fault}"
    line = failure(capsys, "key", *verb, "--target", target)
    assert target in line and "internal error" not in line
