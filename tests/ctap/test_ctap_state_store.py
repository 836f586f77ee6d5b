"""Persistent key state: survives restarts and crashes, refuses files that are not ours."""

from __future__ import annotations

import json
import os

import pytest
from ctap_testkit import RP_ID, DirectDevice, client_for, creation_options, request_options
from fido2.ctap2 import Ctap2

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.errors import StateError
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.ctap.state import FileStore, KeyState, MemoryStore, StateManager


def file_key(path, seed: int = 0) -> Authenticator:
    return Authenticator(Env.for_tests(seed, store=FileStore(path)), get_profile("default"))


def test_state_persists_across_a_new_authenticator(tmp_path) -> None:
    path = tmp_path / "key.json"
    key = file_key(path)
    reg = client_for(key).make_credential(creation_options(resident="required"))
    cred = reg.response.attestation_object.auth_data.credential_data
    nonres = client_for(key).make_credential(creation_options(user_id=b"n"))
    nonres_id = nonres.response.attestation_object.auth_data.credential_data.credential_id
    last = Ctap2(DirectDevice(key)).get_assertion(RP_ID, b"\0" * 32).auth_data.counter

    again = file_key(path, seed=1)  # another RNG: nothing may depend on it
    r = Ctap2(DirectDevice(again)).get_assertion(RP_ID, b"\0" * 32)
    assert r.credential["id"] == cred.credential_id
    assert r.auth_data.counter > last
    resp = client_for(again).get_assertion(request_options([nonres_id])).get_response(0)
    nonres.response.attestation_object.auth_data.credential_data.public_key.verify(
        resp.response.authenticator_data + resp.response.client_data.hash,
        resp.response.signature,
    )


def test_counter_never_goes_back_after_a_crash(tmp_path) -> None:
    path = tmp_path / "key.json"
    key = file_key(path)
    cred_id = (
        client_for(key)
        .make_credential(creation_options())
        .response.attestation_object.auth_data.credential_data.credential_id
    )
    ctap2 = Ctap2(DirectDevice(key))
    allow = [{"type": "public-key", "id": cred_id}]
    counters = [ctap2.get_assertion(RP_ID, b"\0" * 32, allow).auth_data.counter for _ in range(5)]
    # simulated crash: the process dies mid-save, leaving a temp file behind
    (tmp_path / ".key.json.tmp-1-2-3").write_bytes(b'{"format": "tokenbench-ctap-st')
    again = file_key(path)
    after = Ctap2(DirectDevice(again)).get_assertion(RP_ID, b"\0" * 32, allow).auth_data.counter
    assert after > max(counters)


def test_counter_writes_are_batched(tmp_path) -> None:
    store = MemoryStore()
    manager = StateManager(store, os.urandom)
    writes = store.writes
    values = [manager.next_counter("c") for _ in range(200)]
    assert values == list(range(1, 201))
    assert store.writes - writes <= 200 // manager.state.counter_block + 1
    reloaded = StateManager(MemoryStore(store.data), os.urandom)
    assert reloaded.next_counter("c") > 200


def test_atomic_save_leaves_old_or_new(tmp_path) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path)
    store.save(b"old")
    store.save(b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage",
        b"[]",
        b'{"format": "something-else", "version": 1}',
        b'{"format": "tokenbench-ctap-state", "version": 99}',
        b'{"format": "tokenbench-ctap-state", "version": 1, "master_secret": "AAAA"}',
        b'{"format": "tokenbench-ctap-state", "version": 1}',
    ],
)
def test_bad_state_files_raise_state_error(tmp_path, content: bytes) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(content)
    with pytest.raises(StateError):
        file_key(path)


def test_state_file_is_compact_json_without_private_keys(tmp_path) -> None:
    path = tmp_path / "key.json"
    key = file_key(path)
    client_for(key).make_credential(creation_options(resident="required"))
    doc = json.loads(path.read_bytes())
    assert doc["format"] == "tokenbench-ctap-state" and doc["version"] == 1
    assert b" " not in path.read_bytes().split(b'"rp_id"')[0]
    assert set(doc["residents"][0]) >= {"id", "rp_id", "user_id", "created"}
    assert not any("private" in k for k in doc["residents"][0])
    assert KeyState.from_json(path.read_bytes()).residents[0].rp_id == RP_ID


def test_clone_of_shares_credentials_but_not_counters() -> None:
    from ctap_testkit import make_key

    key = make_key()
    cred_id = (
        client_for(key)
        .make_credential(creation_options())
        .response.attestation_object.auth_data.credential_data.credential_id
    )
    twin = Authenticator.clone_of(key)
    allow = [{"type": "public-key", "id": cred_id}]
    a = Ctap2(DirectDevice(key)).get_assertion(RP_ID, b"\0" * 32, allow).auth_data.counter
    b = Ctap2(DirectDevice(twin)).get_assertion(RP_ID, b"\0" * 32, allow).auth_data.counter
    assert a == b  # the relying party sees a counter that did not increase


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "key.json"
    key = file_key(path)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    out = key.process(
        b"\x01"
        + __import__("fido2").cbor.encode(
            {
                1: b"\0" * 32,
                2: {"id": RP_ID},
                3: {"id": b"u"},
                4: [{"type": "public-key", "alg": -7}],
                7: {"rk": True},
            }
        )
    )
    assert len(out) == 1 and out[0] != 0  # a status byte, no exception
    assert key.state.residents == []  # memory agrees with the store
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["key.json"]
    file_key(path)  # still loads
