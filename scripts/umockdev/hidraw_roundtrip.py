r"""Measure CTAPHID round trips over the fake /dev/hidraw0, beside an in-process key.

    .venv/bin/python scripts/umockdev/with_emulated_key.py -- \
        .venv/bin/python scripts/umockdev/hidraw_roundtrip.py

Both columns use python-fido2's CtapHidDevice: one through its Linux backend on the umockdev
node (each report crosses the preload's socket, the gi helper and the bridge's socketpair),
one on a fresh in-process key. Prints medians and their ratio; asserts nothing (speed is
measured, not asserted).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from fido2.ctap2 import Ctap2
from fido2.hid import CTAPHID, CtapHidDevice

from tokenbench.emulators.key import EmulatedKey

ROUNDS = 200
PING_PAYLOAD = bytes(57)  # fills exactly one initialisation packet


def median_ms(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def measure(device: CtapHidDevice, rounds: int) -> dict[str, float]:
    ctap2 = Ctap2(device)
    return {
        "ping (1 report each way)": median_ms(
            lambda: device.call(CTAPHID.PING, PING_PAYLOAD), rounds
        ),
        "getInfo (CBOR)": median_ms(ctap2.get_info, rounds),
    }


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    devices = [d for d in CtapHidDevice.list_devices() if d.descriptor.path == "/dev/hidraw0"]
    if not devices:
        print("no /dev/hidraw0 FIDO device: run under with_emulated_key.py", file=sys.stderr)
        return 1
    fake = measure(devices[0], rounds)
    with EmulatedKey.create(seed=1) as key:
        local = measure(key.hid_device(), rounds)
    print(f"{'median over ' + str(rounds):28} {'umockdev':>10} {'in-process':>11} {'ratio':>7}")
    for name, value in fake.items():
        print(f"{name:28} {value:8.3f}ms {local[name]:9.3f}ms {value / local[name]:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
