"""credProtect, hmac-secret (both PIN protocols), credBlob, largeBlobKey and minPinLength."""

from __future__ import annotations

import pytest
from ctap_testkit import (
    PIN,
    RP_ID,
    DirectDevice,
    client_for,
    creation_options,
    make_key,
    request_options,
    with_pin,
)
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.extensions import HmacSecretExtension

from tokenbench.emulators.ctap.constants import CtapStatus

CDH = b"\x22" * 32


def cred_id_of(reg) -> bytes:
    return reg.response.attestation_object.auth_data.credential_data.credential_id


def ext_out(reg) -> dict:
    return reg.response.attestation_object.auth_data.extensions or {}


@pytest.mark.parametrize(
    ("policy", "level"),
    [
        ("userVerificationOptional", 1),
        ("userVerificationOptionalWithCredentialIDList", 2),
        ("userVerificationRequired", 3),
    ],
)
def test_cred_protect_levels(policy: str, level: int) -> None:
    key = with_pin(make_key())
    reg = client_for(key, PIN).make_credential(
        creation_options(
            resident="required", uv="required", extensions={"credentialProtectionPolicy": policy}
        )
    )
    assert ext_out(reg)["credProtect"] == level
    cred_id = cred_id_of(reg)
    ctap2 = Ctap2(DirectDevice(key))
    allow = [{"type": "public-key", "id": cred_id}]
    # without UV: level 1 is discoverable, level 2 only with its ID, level 3 never
    for allow_list, visible in [(None, level == 1), (allow, level < 3)]:
        if visible:
            assert ctap2.get_assertion(RP_ID, CDH, allow_list).credential["id"] == cred_id
        else:
            with pytest.raises(CtapError) as e:
                ctap2.get_assertion(RP_ID, CDH, allow_list)
            assert e.value.code == CtapStatus.NO_CREDENTIALS
    # with UV (PIN) every level is usable
    got = client_for(key, PIN).get_assertion(request_options(uv="required")).get_response(0)
    assert got.raw_id == cred_id and got.response.authenticator_data.is_user_verified()


def test_level3_excluded_credential_invisible_without_uv() -> None:
    key = with_pin(make_key())
    reg = client_for(key, PIN).make_credential(
        creation_options(
            uv="required", extensions={"credentialProtectionPolicy": "userVerificationRequired"}
        )
    )
    key.profile = key.profile.with_(options={**key.profile.options, "makeCredUvNotRqd": True})
    # without a token (makeCredUvNotRqd, non-resident) the level-3 credential is not "found"
    Ctap2(DirectDevice(key)).make_credential(
        CDH,
        {"id": RP_ID},
        {"id": b"x"},
        [{"type": "public-key", "alg": -7}],
        exclude_list=[{"type": "public-key", "id": cred_id_of(reg)}],
    )


def hmac_client(key, pin=None) -> Fido2Client:
    from ctap_testkit import PinInteraction

    return Fido2Client(
        DirectDevice(key),
        client_data_collector=DefaultClientDataCollector("https://example.com"),
        user_interaction=PinInteraction(pin),
        extensions=[HmacSecretExtension(allow_hmac_secret=True)],
    )


@pytest.mark.parametrize("profile", ["default", "ctap20"], ids=["protocol2", "protocol1"])
def test_hmac_secret_both_protocols_and_cred_random_with_and_without_uv(profile: str) -> None:
    key = make_key(profile)
    reg = hmac_client(key).make_credential(creation_options(extensions={"hmacCreateSecret": True}))
    assert reg.client_extension_results["hmacCreateSecret"] is True
    cred_id = cred_id_of(reg)
    salts = {"salt1": b"\x01" * 32, "salt2": b"\x02" * 32}

    def secret(pin=None, uv="discouraged"):
        result = hmac_client(key, pin).get_assertion(
            request_options([cred_id], uv=uv, extensions={"hmacGetSecret": salts})
        )
        return result.get_response(0).client_extension_results["hmacGetSecret"]

    no_uv_1, no_uv_2 = secret(), secret()
    assert no_uv_1["output1"] == no_uv_2["output1"] and no_uv_1["output1"] != no_uv_1["output2"]
    with_pin(key)
    with_uv = secret(PIN, "required")
    assert with_uv["output1"] != no_uv_1["output1"]  # CredRandomWithUV differs
    assert secret(PIN, "required")["output1"] == with_uv["output1"]


def test_prf_through_default_client() -> None:
    key = make_key()
    client = client_for(key)
    reg = client.make_credential(creation_options(extensions={"prf": {}}))
    assert reg.client_extension_results["prf"]["enabled"] is True
    r = client.get_assertion(
        request_options([cred_id_of(reg)], extensions={"prf": {"eval": {"first": b"a" * 32}}})
    ).get_response(0)
    from fido2.utils import websafe_decode

    first = r.client_extension_results["prf"]["results"]["first"]
    assert len(websafe_decode(first) if isinstance(first, str) else first) == 32


def test_hmac_secret_bad_salt_auth() -> None:
    from fido2 import cbor

    key = make_key()
    reg = hmac_client(key).make_credential(creation_options(extensions={"hmacCreateSecret": True}))
    proto = key.client_pin.protocol(2)
    req = {
        1: RP_ID,
        2: CDH,
        3: [{"type": "public-key", "id": cred_id_of(reg)}],
        4: {"hmac-secret": {1: proto.key_agreement_cose(), 2: b"\0" * 48, 3: b"\0" * 32, 4: 2}},
    }
    out = key.process(b"\x02" + cbor.encode(req))
    assert out[0] != 0


def test_cred_blob_resident_and_non_resident() -> None:
    key = make_key()
    client = client_for(key)
    for resident in ("required", "discouraged"):
        reg = client.make_credential(
            creation_options(
                user_id=resident.encode(),
                resident=resident,
                extensions={"credBlob": b"blob-" + resident.encode()},
            )
        )
        assert ext_out(reg)["credBlob"] is True
        r = client.get_assertion(
            request_options([cred_id_of(reg)], extensions={"getCredBlob": True})
        ).get_response(0)
        blob = r.response.authenticator_data.extensions["credBlob"]
        assert blob == b"blob-" + resident.encode()
    too_big = Ctap2(DirectDevice(key)).make_credential(
        CDH,
        {"id": RP_ID},
        {"id": b"big"},
        [{"type": "public-key", "alg": -7}],
        extensions={"credBlob": b"x" * 33},
    )
    assert too_big.auth_data.extensions["credBlob"] is False


def test_large_blob_key_needs_resident_key() -> None:
    key = make_key()
    ctap2 = Ctap2(DirectDevice(key))
    args = (CDH, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}])
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*args, extensions={"largeBlobKey": True})
    assert e.value.code == CtapStatus.INVALID_OPTION
    att = ctap2.make_credential(*args, extensions={"largeBlobKey": True}, options={"rk": True})
    assert len(att.large_blob_key) == 32
    r = ctap2.get_assertion(RP_ID, CDH, extensions={"largeBlobKey": True})
    assert r.large_blob_key == att.large_blob_key


def test_min_pin_length_extension_only_for_configured_rp_ids() -> None:
    from ctap_testkit import token
    from fido2.ctap2 import Config
    from fido2.ctap2.pin import ClientPin

    key = with_pin(make_key())
    client = client_for(key, PIN)
    opts = creation_options(uv="required", extensions={"minPinLength": True})
    assert "minPinLength" not in ext_out(client.make_credential(opts))
    cp, tok = token(key, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(Ctap2(DirectDevice(key)), cp.protocol, tok).set_min_pin_length(rp_ids=[RP_ID])
    assert ext_out(client.make_credential(opts))["minPinLength"] == 4


def test_unlisted_extensions_are_ignored() -> None:
    key = make_key("ctap20")  # lists hmac-secret only
    att = Ctap2(DirectDevice(key)).make_credential(
        CDH,
        {"id": RP_ID},
        {"id": b"u"},
        [{"type": "public-key", "alg": -7}],
        extensions={"credProtect": 3, "credBlob": b"x"},
    )
    assert att.auth_data.extensions is None


def test_pin_set_requires_token_for_make_credential() -> None:
    key = with_pin(make_key())
    ctap2 = Ctap2(DirectDevice(key))
    args = (CDH, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}])
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*args, options={"rk": True})
    assert e.value.code == CtapStatus.PUAT_REQUIRED
    ctap2.make_credential(*args)  # makeCredUvNotRqd: non-resident without UV is fine
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*args, pin_uv_param=b"", pin_uv_protocol=2)
    assert e.value.code == CtapStatus.PIN_INVALID
    with pytest.raises(CtapError) as e:
        ctap2.make_credential(*args, pin_uv_param=b"\0" * 32, pin_uv_protocol=2)
    assert e.value.code == CtapStatus.PIN_AUTH_INVALID
    with pytest.raises(ClientError):
        client_for(key, "wrong-pin").make_credential(creation_options(uv="required"))


def test_ctap20_pin_always_required_for_make_credential() -> None:
    key = make_key("ctap20")
    from ctap_testkit import pin_client

    pin_client(key, 1).set_pin(PIN)
    with pytest.raises(CtapError) as e:
        Ctap2(DirectDevice(key)).make_credential(
            CDH, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}]
        )
    assert e.value.code == CtapStatus.PUAT_REQUIRED
    reg = client_for(key, PIN).make_credential(creation_options(uv="required"))
    assert reg.response.attestation_object.auth_data.is_user_verified()
