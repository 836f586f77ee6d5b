"""Report names: other parameters stay visible, the target (shown per section) does not."""

import pytest

from tokenbench.bench.plugin import display_name


@pytest.mark.parametrize(
    ("item_name", "target", "expected"),
    [
        ("test_pin[emu:-2]", "emu:", "test_pin[2]"),
        ("test_pin[emu:-pinUvAuthProtocol1]", "emu:", "test_pin[pinUvAuthProtocol1]"),
        ("test_info[emu:]", "emu:", "test_info"),
        ("test_info", "emu:", "test_info"),
        ("test_ping[udp:127.0.0.1:8111-57]", "udp:127.0.0.1:8111", "test_ping[57]"),
    ],
)
def test_display_name(item_name: str, target: str, expected: str) -> None:
    assert display_name(item_name, target) == expected
