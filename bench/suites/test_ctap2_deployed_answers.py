"""ctap2 suite: answers where CTAP 2.1 leaves room, checked against what deployed keys do.

A failure here is not a spec violation: it says the key answers differently from the keys
clients are written and tested against (YubiKey 5, OpenSK, SoloKeys, Nitrokey 3), which is
where interoperability bugs come from. Each test names its sources; docs/conformance.md lists
them. Marked `practice` so a report can tell them from the spec's MUSTs.
"""

from __future__ import annotations

import pytest
from fido2.ctap import CtapError
from fido2.ctap2.pin import ClientPin

from tokenbench.bench.suites._ctap import ctap2_of, expect_ctap_error, require_pin_protocol

pytestmark = pytest.mark.practice
ERR = CtapError.ERR
U2F = "U2F_V2"
FIDO_ORDER = ("FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1", "FIDO_2_2", "FIDO_2_3")


def test_versions_list_u2f_first_then_fido_ascending(ctap_device):
    """Every captured deployed key lists U2F_V2 first and the FIDO versions oldest first
    (YubiKey 5: U2F_V2, FIDO_2_0, FIDO_2_1_PRE, FIDO_2_1; libfido2's fido2.1 wiredata)."""
    versions = ctap2_of(ctap_device).get_info().versions
    if U2F in versions:
        assert versions[0] == U2F, f"U2F_V2 is not listed first: {versions}"
    fido = [v for v in versions if v in FIDO_ORDER]
    assert fido == sorted(fido, key=FIDO_ORDER.index), f"FIDO versions not ascending: {fido}"


@pytest.mark.destructive
@pytest.mark.power_cycle
def test_pin_retries_are_not_set_before_a_pin_is(fresh_ctap2):
    """getPINRetries on a key without a PIN: PIN_NOT_SET (YubiKey and OpenSK; python-fido2's
    device suite test_clientpin.py::test_set_and_reset expects it)."""
    protocol = min(fresh_ctap2.info.pin_uv_protocols or [1])
    client = ClientPin(fresh_ctap2, require_pin_protocol(fresh_ctap2, protocol))
    with expect_ctap_error(ERR.PIN_NOT_SET, what="getPINRetries before any PIN is set"):
        client.get_pin_retries()
