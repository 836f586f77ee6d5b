"""Measure APDU and CTAP round trips to a FIDO card in a PC/SC reader (python-fido2 + pyscard).

Run it against the emulated card with a private PC/SC stack:
    scripts/pcsc/with-emulated-card.sh .venv/bin/python scripts/pcsc/apdu_roundtrip.py
or against any reader: .venv/bin/python scripts/pcsc/apdu_roundtrip.py "READER NAME".
Prints medians; asserts nothing (speed is measured, not asserted).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from fido2.ctap2 import Ctap2
from fido2.pcsc import CtapPcscDevice
from fido2.utils import sha256

SELECT = bytes.fromhex("00A4040008A0000006472F0001")
ROUNDS = 200


def median_ms(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> int:
    reader = sys.argv[1] if len(sys.argv) > 1 else ""
    devices = list(CtapPcscDevice.list_devices(reader))
    if not devices:
        print(f"no FIDO card in a reader matching {reader!r}", file=sys.stderr)
        return 1
    device = devices[0]
    ctap2 = Ctap2(device)
    rp, user = {"id": "example.com", "name": "Example"}, {"id": b"u", "name": "u"}
    params = [{"type": "public-key", "alg": -7}]
    print(f"reader: {device}")
    select_ms = median_ms(lambda: device.apdu_exchange(SELECT), ROUNDS)
    print(f"SELECT (1 short APDU):            {select_ms:8.3f} ms")
    print(f"getInfo (NFCCTAP_MSG + 61XX):      {median_ms(ctap2.get_info, ROUNDS):8.3f} ms")
    make = lambda: ctap2.make_credential(sha256(b"c"), rp, user, params)  # noqa: E731
    print(f"makeCredential (ES256, packed):    {median_ms(make, 20):8.3f} ms")
    device.close(release=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
