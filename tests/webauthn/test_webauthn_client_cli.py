"""`tokenbench webauthn create/get`: a server's options file in, a response it accepts out.

The key lives in `emu:state=FILE` between invocations, as it would between two shell commands;
py_webauthn and our verifier judge what the command prints. Bad input is one line on stderr.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cli_capture import run_main
from webauthn_client_servers import ORIGIN, PyWebauthn, Rejected, RelyingParty, Tokenbench

from tokenbench.bench.webauthn.faults import EXPECTED, SERVERS, UV_OFF, WEBAUTHN_FAULTS

EXIT_FAILURE, EXIT_USAGE = 1, 2


def ceremony(capsys, tmp_path: Path, name: str, options: str, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / f"{name}-options.json"
    path.write_text(options)
    target = f"emu:state={tmp_path / 'key.json'}"
    return run_main(
        capsys,
        "webauthn",
        name,
        "--options",
        str(path),
        "--origin",
        ORIGIN,
        "--target",
        target,
        *extra,
    )


def register(capsys, tmp_path: Path, rp: RelyingParty) -> None:
    status, out, err = ceremony(capsys, tmp_path, "create", rp.registration_options())
    assert (status, err) == (0, "")
    rp.finish_registration(json.loads(out))


@pytest.mark.parametrize("server", [PyWebauthn, Tokenbench], ids=["py_webauthn", "tokenbench"])
def test_create_then_get_from_stdin_are_accepted(capsys, tmp_path, monkeypatch, server):
    rp = server(uv_required=False)
    register(capsys, tmp_path, rp)
    monkeypatch.setattr("sys.stdin", io.StringIO(rp.authentication_options()))
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(rp.authentication_options()))
        status, out, err = run_main(
            capsys,
            "webauthn",
            "get",
            "--options",
            "-",
            "--origin",
            ORIGIN,
            "--target",
            f"emu:state={tmp_path / 'key.json'}",
        )
        assert (status, err) == (0, "")
        assert rp.finish_authentication(json.loads(out)).sign_count > 0


@pytest.mark.parametrize("fault", ["bad-signature", "wrong-rpid-hash", "counter-rollback"])
def test_a_fault_on_get_is_refused_as_documented(capsys, tmp_path, fault):
    """Each `get` is a new process with the key's state from FILE: the counter faults must
    still be caught at the documented sign-in (the rolled-back counter restarts as high)."""
    rp = PyWebauthn(uv_required=False)
    register(capsys, tmp_path, rp)
    expected = EXPECTED[fault]["py_webauthn"]
    for number in range(1, expected.sign_in_number + 1):
        status, out, err = ceremony(
            capsys, tmp_path, "get", rp.authentication_options(), "--fault", fault
        )
        assert (status, err) == (0, "")
        if number < expected.sign_in_number:
            rp.finish_authentication(json.loads(out))
    with pytest.raises(Rejected, match=expected.sign_in):
        rp.finish_authentication(json.loads(out))


def test_uv_off_is_refused_by_a_server_that_requires_uv(capsys, tmp_path):
    rp = Tokenbench(uv_required=True)
    status, out, _ = ceremony(capsys, tmp_path, "create", rp.registration_options(), "--uv", "off")
    assert status == 0
    with pytest.raises(Rejected, match=EXPECTED[UV_OFF]["tokenbench"].registration):
        rp.finish_registration(json.loads(out))


def test_uv_on_with_a_pin_from_a_private_file(capsys, tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text("4831-cli\n")
    pin_file.chmod(0o600)
    rp = Tokenbench(uv_required=True)
    status, out, err = ceremony(
        capsys,
        tmp_path,
        "create",
        rp.registration_options(),
        "--uv",
        "on",
        "--pin-file",
        str(pin_file),
    )
    assert (status, err) == (0, "")
    assert rp.finish_registration(json.loads(out)).user_verified
    assert "4831-cli" not in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{", "creation options are not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"challenge": "AAAAAAAAAAAAAAAAAAAAAA"}', "lack rp, user, pubKeyCredParams"),
        (
            '{"rp": {"id": "shop.example", "name": "S"}, "user": {"id": "!!", "name": "a", '
            '"displayName": "a"}, "challenge": "AAAA", "pubKeyCredParams": []}',
            "user.id must be a non-empty base64url string",
        ),
    ],
)
def test_bad_options_are_one_line(capsys, tmp_path, options, message):
    status, out, err = ceremony(capsys, tmp_path, "create", options)
    assert status == EXIT_FAILURE and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_refusals_are_one_line(capsys, tmp_path):
    rp = Tokenbench(uv_required=False)
    options = rp.registration_options()
    wrong_origin = run_main(
        capsys,
        "webauthn",
        "create",
        "--options",
        str(_write(tmp_path, options)),
        "--origin",
        "https://elsewhere.example",
    )
    no_credential = ceremony(capsys, tmp_path, "get", _request_for_unknown_credential())
    real_key_fault = run_main(
        capsys,
        "webauthn",
        "get",
        "--options",
        "x",
        "--origin",
        ORIGIN,
        "--target",
        "hid:auto",
        "--fault",
        "clone",
    )
    unknown_fault = run_main(
        capsys, "webauthn", "get", "--options", "x", "--origin", ORIGIN, "--fault", "nope"
    )
    assert wrong_origin[0] == EXIT_FAILURE and "BAD_REQUEST" in wrong_origin[2]
    assert no_credential[0] == EXIT_FAILURE and "emu:state=FILE" in no_credential[2]
    assert real_key_fault[0] == EXIT_FAILURE and "need an emulated key" in real_key_fault[2]
    assert unknown_fault[0] == EXIT_USAGE and "invalid choice" in unknown_fault[2]
    for _status, out, err in (wrong_origin, no_credential, real_key_fault, unknown_fault):
        assert out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_options_and_pin_cannot_share_stdin(capsys):
    status, _, err = run_main(
        capsys, "webauthn", "get", "--options", "-", "--pin", "-", "--origin", ORIGIN
    )
    assert status == EXIT_FAILURE and "cannot both read stdin" in err


def test_faults_lists_every_option_and_server(capsys):
    status, out, _ = run_main(capsys, "webauthn", "faults")
    assert status == 0
    for name in [*WEBAUTHN_FAULTS, UV_OFF]:
        assert f"{name}: " in out
    assert out.count("py_webauthn:") == len(EXPECTED) == out.count(f"{SERVERS[-1]}:")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "options.json"
    path.write_text(text)
    return path


def _request_for_unknown_credential() -> str:
    return json.dumps(
        {
            "challenge": "AAAAAAAAAAAAAAAAAAAAAA",
            "rpId": "shop.example",
            "allowCredentials": [{"type": "public-key", "id": "AAAAAAAAAAAAAAAAAAAAAA"}],
        }
    )


def test_a_pin_the_key_cannot_take_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENBENCH_PIN", "12")
    rp = Tokenbench(uv_required=True)
    status, out, err = ceremony(capsys, tmp_path, "create", rp.registration_options(), "--uv", "on")
    assert (status, out) == (EXIT_FAILURE, "")
    assert err.count("\n") == 1 and "PIN must be >= 4" in err and "12" not in err
