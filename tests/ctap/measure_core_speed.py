"""Measure the authenticator core's speed (not a test: run it by hand).

    .venv/bin/python tests/ctap/measure_core_speed.py

Prints getAssertion/s through `Authenticator.process` (memory store and a durable file store)
next to the named peer "raw ECDSA P-256 sign" measured in the same run, plus the cost of one
durable state write. Numbers, not assertions: the machine's load decides them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ctap_testkit import RP_ID, DirectDevice, make_key
from fido2 import cbor
from fido2.ctap2 import Ctap2

from tokenbench.emulators.ctap.authenticator import Authenticator
from tokenbench.emulators.ctap.env import Env
from tokenbench.emulators.ctap.profiles import get_profile
from tokenbench.emulators.ctap.state import FileStore

ROUNDS = 3000


def best_rate(fn, rounds: int = ROUNDS, repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = max(best, rounds / (time.perf_counter() - start))
    return best


def assertion_rate(key: Authenticator) -> float:
    made = Ctap2(DirectDevice(key)).make_credential(
        b"\0" * 32, {"id": RP_ID}, {"id": b"u"}, [{"type": "public-key", "alg": -7}]
    )
    cred_id = made.auth_data.credential_data.credential_id
    request = b"\x02" + cbor.encode(
        {1: RP_ID, 2: b"\1" * 32, 3: [{"type": "public-key", "id": cred_id}]}
    )
    assert key.process(request)[0] == 0
    return best_rate(lambda: key.process(request))


def main() -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    algorithm = ec.ECDSA(hashes.SHA256())
    sign = best_rate(lambda: signer.sign(b"x" * 69, algorithm))
    memory = assertion_rate(make_key())
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        store = FileStore(os.path.join(tmp, "key.json"))
        on_disk = assertion_rate(Authenticator(Env.for_tests(store=store), get_profile("default")))
        data = b"x" * 4096
        start = time.perf_counter()
        for _ in range(100):
            store.save(data)
        write_us = (time.perf_counter() - start) / 100 * 1e6
    print(f"raw ECDSA P-256 sign (peer):           {sign:8.0f}/s")
    print(f"getAssertion, memory store:            {memory:8.0f}/s  ({memory / sign:.2f}x peer)")
    print(f"getAssertion, durable file store:      {on_disk:8.0f}/s  ({on_disk / sign:.2f}x peer)")
    print(f"core overhead per assertion above sign: {1e6 / memory - 1e6 / sign:6.0f} us")
    print(f"one durable state write (4 KiB):        {write_us:6.0f} us")


if __name__ == "__main__":
    main()
