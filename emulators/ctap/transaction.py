"""What a transport and the authenticator core share while one command runs.

The core runs a command on the transport's worker thread. While it waits for the user it
sets `status` to UPNEEDED so the transport's keepalives say so; a CTAPHID CANCEL (or an NFC
deselect) sets `cancelled`, and the core then answers CTAP2_ERR_KEEPALIVE_CANCEL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import IntEnum


class KeepaliveStatus(IntEnum):
    """CTAPHID_KEEPALIVE status byte (CTAP 2.1, 11.2.9.2.2)."""

    PROCESSING = 1
    UPNEEDED = 2


@dataclass
class Transaction:
    cancelled: threading.Event = field(default_factory=threading.Event)
    status: KeepaliveStatus = KeepaliveStatus.PROCESSING

    def cancel(self) -> None:
        self.cancelled.set()
