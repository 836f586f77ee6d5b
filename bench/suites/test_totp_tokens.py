"""totp suite: hardware TOTP tokens against the seeds their vendor shipped (RFC 6238, RFC 6030).

Each token's displayed code must be the code of its own PSKC seed at true time plus a small
clock offset; the offset's growth (the crystal's drift) must stay within what a verifier's
resync window can follow; the display must light on a press, go blank again, and move to
the next code each period.
"""

from __future__ import annotations

import pytest

from tokenbench.bench.suites._totp import find_step_offset, read_seeds, refine_offset

MAX_DRIFT_PPM = 50.0  # crystal tolerance a TOTP verifier's resync can follow for years
DRIFT_SPAN_SECONDS = 30 * 86400.0  # emulated tokens: a month between the two readings
MANUAL_SPAN_SECONDS = 60.0
MAX_OFFSET_STEPS = 20  # a token further off than this needs a resync before any use
DISPLAY_OFF_WITHIN = 60.0


def _tokens_with_seeds(totp_target):
    seeds = read_seeds(totp_target.pskc())
    tokens = totp_target.tokens()
    missing = [t.serial for t in tokens if t.serial not in seeds]
    assert not missing, f"tokens without a seed in the PSKC file: {missing}"
    return [(t, seeds[t.serial]) for t in tokens]


def test_every_token_has_a_seed(totp_target):
    pairs = _tokens_with_seeds(totp_target)
    for _token, seed in pairs:
        assert seed.digits in (6, 7, 8), f"{seed.serial}: {seed.digits} digits"
        assert seed.period > 0, f"{seed.serial}: period {seed.period}"
        assert len(seed.secret) >= 16, f"{seed.serial}: seed shorter than 128 bits"


def test_codes_match_the_seed(totp_target):
    for token, seed in _tokens_with_seeds(totp_target):
        code = token.read_code()
        assert code is not None, f"{token.serial}: the display stayed blank after a press"
        assert code.isdigit() and len(code) == seed.digits, f"{token.serial}: shows {code!r}"
        k = find_step_offset(seed, code, token.now())
        assert k is not None, f"{token.serial}: code matches no step of its PSKC seed"
        assert abs(k) <= MAX_OFFSET_STEPS, f"{token.serial}: clock {k} steps off true time"


def test_drift_within_tolerance(totp_target):
    for token, seed in _tokens_with_seeds(totp_target):
        if token.manual:
            first = token.read_code()
            k1 = find_step_offset(seed, first or "", token.now())
            token.wait(MANUAL_SPAN_SECONDS)
            second = token.read_code()
            k2 = find_step_offset(seed, second or "", token.now())
            assert k1 is not None and k2 is not None, f"{token.serial}: codes do not match"
            assert abs(k2 - k1) <= 1, f"{token.serial}: offset moved {k2 - k1} steps in a minute"
            continue
        before = refine_offset(token, seed, max_reads=seed.period + 1)
        assert before is not None, f"{token.serial}: could not measure its clock offset"
        token.wait(DRIFT_SPAN_SECONDS)
        after = refine_offset(token, seed, max_reads=seed.period + 1)
        assert after is not None, f"{token.serial}: could not measure its clock offset later"
        ppm = (after - before) / DRIFT_SPAN_SECONDS * 1e6
        assert abs(ppm) <= MAX_DRIFT_PPM, f"{token.serial}: drifts {ppm:+.1f} ppm"


def test_display_lights_and_goes_blank(totp_target):
    for token, _seed in _tokens_with_seeds(totp_target):
        if token.manual:
            pytest.skip("not permitted: watching a real display go blank needs a stopwatch")
        code = token.read_code()
        assert code is not None, f"{token.serial}: nothing lit after a press"
        assert token.display() == code, f"{token.serial}: display changed right after a press"
        token.wait(DISPLAY_OFF_WITHIN)
        assert token.display() is None, (
            f"{token.serial}: still lit {DISPLAY_OFF_WITHIN:.0f} s after the press"
        )


def test_next_period_shows_the_next_code(totp_target):
    for token, seed in _tokens_with_seeds(totp_target):
        code = token.read_code()
        k = find_step_offset(seed, code or "", token.now())
        assert k is not None, f"{token.serial}: code matches no step of its seed"
        step = int(token.now() // seed.period) + k
        token.wait(seed.period)
        following = token.read_code()
        assert following is not None, f"{token.serial}: blank on the second press"
        expected = {seed.code_at_step(step + 1), seed.code_at_step(step + 2)}
        assert following in expected, f"{token.serial}: next period did not show the next code"
