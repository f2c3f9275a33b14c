"""The verdict rules are pure functions: plain pytest, no database."""

from __future__ import annotations

import math

import pytest

from drift_app.stats import verdict_rules as rules


def test_the_two_proportion_test_matches_a_hand_computed_z():
    # 30/1000 now vs 10/1000 before: pooled p = 0.02, se = sqrt(0.02*0.98*(2/1000)) = 0.0062610
    r = rules.two_proportion_test(count_now=30, total_now=1000, count_base=10, total_base=1000)
    assert r.z == pytest.approx(0.02 / math.sqrt(0.02 * 0.98 * 0.002), rel=1e-9)
    assert r.p_value == pytest.approx(0.5 * math.erfc(r.z / math.sqrt(2)))
    assert r.increased and r.p_value < 0.001


def test_a_lower_rate_now_is_not_an_increase():
    r = rules.two_proportion_test(count_now=5, total_now=1000, count_base=20, total_base=1000)
    assert r.z < 0 and r.p_value > 0.99 and not r.increased


def test_no_events_on_either_side_gives_a_neutral_result():
    r = rules.two_proportion_test(count_now=0, total_now=500, count_base=0, total_base=800)
    assert r.z == 0 and r.p_value == 0.5 and not r.increased


def test_an_empty_side_gives_no_test_and_bad_counts_are_rejected():
    assert rules.two_proportion_test(count_now=1, total_now=10, count_base=0, total_base=0) is None
    with pytest.raises(ValueError, match="count must be within"):
        rules.two_proportion_test(count_now=11, total_now=10, count_base=0, total_base=5)


def test_one_bad_answer_against_none_in_the_baseline_is_not_an_increase():
    result = rules.two_proportion_test(count_now=1, total_now=500, count_base=0, total_base=1500)
    assert result.p_value < 0.05  # the z-test alone would call it significant
    assert not result.increased
    assert rules.two_proportion_test(count_now=6, total_now=500, count_base=0, total_base=1500).increased


def test_a_small_rise_on_few_samples_is_not_significant():
    assert not rules.two_proportion_test(count_now=2, total_now=50, count_base=1, total_base=50).increased


@pytest.mark.parametrize("drop, tier", [(None, None), (-3.0, None), (5.0, None), (5.01, "review"), (15.0, "review"), (15.1, "code_red")])
def test_the_tier_follows_the_relative_drop(drop, tier):
    assert rules.golden_tier(drop, code_red_pct=15, review_pct=5) == tier


def test_relative_drop_is_in_percent_of_the_baseline():
    assert rules.relative_drop_pct(0.91, 0.72) == pytest.approx(20.879, abs=1e-3)
    assert rules.relative_drop_pct(0.8, 0.9) < 0


def _classify(**kw):
    base = dict(golden_drop_pct=0.0, tolerance_pct=5.0, flags_increased=False, prompt_drift=False, response_drift=False)
    base.update(kw)
    return rules.classify(**base).verdict_class


def test_a_golden_drop_beyond_tolerance_is_genuine_degradation_even_without_drift():
    assert _classify(golden_drop_pct=21.0) == rules.GENUINE_DEGRADATION


def test_drift_with_a_stable_golden_set_and_flat_flags_is_benign():
    assert _classify(prompt_drift=True, golden_drop_pct=2.0) == rules.BENIGN_CHANGE
    assert _classify(response_drift=True) == rules.BENIGN_CHANGE


def test_drift_with_rising_confirmed_bad_flags_is_genuine_degradation():
    assert _classify(prompt_drift=True, flags_increased=True) == rules.GENUINE_DEGRADATION


def test_no_drift_and_a_stable_golden_set_is_stable():
    assert _classify() == rules.STABLE
    assert _classify(prompt_drift=None, response_drift=None) == rules.STABLE


def test_without_a_golden_evaluation_drift_alone_is_insufficient_evidence():
    assert _classify(golden_drop_pct=None, prompt_drift=True) == rules.INSUFFICIENT_EVIDENCE
    assert _classify(golden_drop_pct=None, flags_increased=True) == rules.GENUINE_DEGRADATION


def test_an_alert_opens_only_after_n_consecutive_breaches():
    assert not rules.hysteresis([False, True], is_open=False, open_after=2, close_after=2).open
    d = rules.hysteresis([False, True, True], is_open=False, open_after=2, close_after=2)
    assert d.open and d.breaches == 2


def test_a_single_breach_opens_when_n_is_one():
    assert rules.hysteresis([True], is_open=False, open_after=1, close_after=2).open


def test_an_open_alert_never_opens_again_and_closes_after_m_clean_windows():
    assert not rules.hysteresis([True, True, True], is_open=True, open_after=1, close_after=2).open
    assert not rules.hysteresis([True, False], is_open=True, open_after=1, close_after=2).close
    d = rules.hysteresis([True, False, False], is_open=True, open_after=1, close_after=2)
    assert d.close and d.clean == 2


def test_a_window_without_evidence_breaks_both_runs():
    assert not rules.hysteresis([True, None, True], is_open=False, open_after=2, close_after=2).open
    assert not rules.hysteresis([False, None, False], is_open=True, open_after=1, close_after=2).close


def test_hysteresis_rejects_zero_windows():
    with pytest.raises(ValueError):
        rules.hysteresis([True], is_open=False, open_after=0, close_after=1)


def test_js_above_threshold_must_last_k_windows():
    hist = [(0.1, 0.18), (0.2, 0.18), (0.25, 0.18), (0.3, 0.18)]
    assert rules.js_above_for(hist, 3)
    assert not rules.js_above_for(hist, 4)
    assert not rules.js_above_for([(0.3, 0.18), (None, None)], 1)


def test_the_rules_module_imports_no_django():
    import subprocess
    import sys

    code = "import sys, drift_app.stats.verdict_rules; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
