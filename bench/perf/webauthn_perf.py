"""WebAuthn assertion verification (ES256): tokenbench's verifier against named peers.

Run: `.venv/bin/python -m tokenbench.bench.perf.webauthn_perf [--seconds S] [--rounds N]`

Three contestants verify the same signed assertion, measured side by side in one run:
  - tokenbench: `tokenbench.verifier.webauthn.verify_assertion` (all RP checks + signature)
  - py_webauthn: `webauthn.verify_authentication_response` (same checks; its credential is
    parsed once up front, so only its verification is timed)
  - raw cryptography: one P-256 ECDSA verify of the same message (the floor: no checks)
Rounds alternate between contestants so load from other processes hits all of them alike;
the best round of each is reported. Speed is printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.cose import ES256
from fido2.utils import websafe_encode
from fido2.webauthn import AuthenticatorData

from tokenbench.verifier.webauthn import RelyingPartyPolicy, StoredCredential, verify_assertion

RP_ID = "example.com"
ORIGIN = "https://example.com"
TARGET_VS_PY_WEBAUTHN = 1.3  # aim: at least this many times py_webauthn's rate
TARGET_VS_RAW = 0.75  # aim: at least this share of a bare P-256 verify


class Fixture:
    """One ES256 credential and one signed assertion over a fixed challenge."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.public = self.private.public_key()
        self.credential_id = sha256(b"perf credential").digest()
        # fido2's ES256 override is unannotated, and mypy's untyped_calls_exclude does not
        # reach a classmethod called on its class
        cose_key = ES256.from_cryptography_key(self.public)  # type: ignore[no-untyped-call]
        self.cose = cbor.encode(cose_key)
        self.challenge = sha256(b"perf challenge").digest()
        body = {
            "type": "webauthn.get",
            "challenge": websafe_encode(self.challenge),
            "origin": ORIGIN,
        }
        self.client_data_json = json.dumps(body, separators=(",", ":")).encode()
        flags = AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV
        self.auth_data = sha256(RP_ID.encode()).digest() + bytes([flags]) + (7).to_bytes(4, "big")
        self.message = self.auth_data + sha256(self.client_data_json).digest()
        self.signature = self.private.sign(self.message, ec.ECDSA(hashes.SHA256()))


def tokenbench_verify(fx: Fixture) -> Callable[[], object]:
    policy = RelyingPartyPolicy(RP_ID, frozenset({ORIGIN}))
    stored = StoredCredential(fx.credential_id, fx.cose, 6, False, None)
    args = (fx.credential_id, fx.client_data_json, fx.auth_data, fx.signature, None)
    return lambda: verify_assertion(policy, fx.challenge, stored, *args)


def py_webauthn_verify(fx: Fixture) -> Callable[[], object]:
    from webauthn import verify_authentication_response
    from webauthn.helpers import parse_authentication_credential_json

    credential = parse_authentication_credential_json(
        {
            "id": websafe_encode(fx.credential_id),
            "rawId": websafe_encode(fx.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(fx.client_data_json),
                "authenticatorData": websafe_encode(fx.auth_data),
                "signature": websafe_encode(fx.signature),
            },
        }
    )
    return lambda: verify_authentication_response(
        credential=credential,
        expected_challenge=fx.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=fx.cose,
        credential_current_sign_count=6,
    )


def raw_verify(fx: Fixture) -> Callable[[], object]:
    algorithm = ec.ECDSA(hashes.SHA256())
    return lambda: fx.public.verify(fx.signature, fx.message, algorithm)


def measure(
    contestants: dict[str, Callable[[], object]], seconds: float, rounds: int
) -> dict[str, float]:
    """Best ops/s of each contestant over alternating rounds of about `seconds` each."""
    for fn in contestants.values():
        fn()  # warm caches and prove the input verifies before timing it
    sizes = {}
    for name, fn in contestants.items():
        timer = timeit.Timer(fn)
        number, elapsed = timer.autorange()
        sizes[name] = max(1, int(number * seconds / max(elapsed, 1e-9)))
    best = dict.fromkeys(contestants, 0.0)
    for _ in range(rounds):
        for name, fn in contestants.items():
            elapsed = timeit.Timer(fn).timeit(sizes[name])
            best[name] = max(best[name], sizes[name] / elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per contestant")
    args = parser.parse_args(argv)
    fx = Fixture()
    rates = measure(
        {
            "tokenbench verify_assertion": tokenbench_verify(fx),
            "py_webauthn verify_authentication_response": py_webauthn_verify(fx),
            "cryptography P-256 ECDSA verify (raw)": raw_verify(fx),
        },
        args.seconds,
        args.rounds,
    )
    ours, peer, raw = rates.values()
    width = max(map(len, rates))
    print(f"WebAuthn assertion verification, ES256 (best of {args.rounds} rounds)")
    for name, rate in rates.items():
        print(f"  {name:<{width}}  {rate:>10,.0f} ops/s  {1e6 / rate:8.1f} µs/op")
    print(f"  tokenbench / py_webauthn: {ours / peer:.2f}x (aim >= {TARGET_VS_PY_WEBAUTHN}x)")
    print(f"  tokenbench / raw verify:  {ours / raw:.0%} (aim >= {TARGET_VS_RAW:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
