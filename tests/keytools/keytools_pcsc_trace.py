"""Run inside scripts/pcsc/with-emulated-card.sh: a UDP client -> trace -> the card via pcscd.

Prints one JSON object: what the client got and which commands the trace logged. Used by
test_keytools_pcsc.py (the namespace's loopback is private, so client and trace run here).
"""

from __future__ import annotations

import io
import json
import sys

from fido2.ctap2 import Ctap2
from keytools_udp import serve_and_connect

from tokenbench.bench.keytools.trace import TraceFrontEnd, TraceLog
from tokenbench.bench.targets import parse_target
from tokenbench.emulators.clock import MonotonicClock


def main() -> None:
    target = parse_target(sys.argv[1])
    clock = MonotonicClock()
    log = TraceLog(io.StringIO(), None, clock)
    front = TraceFrontEnd(target.device(), log, clock)
    server, device = serve_and_connect(front, timeout=10.0)
    try:
        ctap = Ctap2(device)
        made = ctap.make_credential(
            b"p" * 32,
            {"id": "nfc.example", "name": "NFC"},
            {"id": b"n", "name": "n"},
            [{"type": "public-key", "alg": -7}],
        )
        result = {
            "versions": ctap.info.versions,
            "fmt": made.fmt,
            "commands": [r["summary"].get("command") for r in log.records if r["cmd"] == "CBOR"],
        }
    finally:
        device.close()
        server.close()
        front.close()
        target.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
