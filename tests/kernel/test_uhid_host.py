"""uhid on a machine without /dev/uhid: one clear error, no traceback, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenbench.emulators.transport.uhid import CREATE2, EVENT_SIZE, UhidDevice, UhidUnavailable


def test_missing_uhid_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UhidUnavailable, match="cannot open"):
        UhidDevice(lambda report: None, path=str(tmp_path / "no-uhid"))


def test_event_layout_matches_linux_uhid_h() -> None:
    # sizeof(struct uhid_event) on Linux: 4-byte type + 4372-byte uhid_create2_req.
    assert CREATE2.size == EVENT_SIZE == 4376
