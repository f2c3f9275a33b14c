"""The verdict rules are pure functions: plain pytest, no database."""

from __future__ import annotations

import pytest

from drift_app.stats import verdict_rules as rules


# The pooled z-test these replace was anti-conservative on small counts (issue 11): the flag rise is
# now a one-sided Fisher exact test, checked here against values computed by hand and by R.


def test_the_flag_test_is_fishers_exact_test_one_sided():
    # 30/1000 vs 10/1000: P(X >= 30), X hypergeometric (2000 answers, 40 bad, 1000 drawn now).
    from scipy.stats import hypergeom

    r = rules.flag_rate_test(count_now=30, total_now=1000, count_base=10, total_base=1000)
    assert r.test == "fisher_exact_one_sided" and r.increased
    assert r.p_value == pytest.approx(hypergeom.sf(29, 2000, 40, 1000), rel=1e-9) and r.p_value < 0.002


def test_five_in_a_thousand_against_five_in_three_thousand_is_not_significant():
    # The example: the z-test gave p = 0.034; the exact test gives p = 0.078.
    r = rules.flag_rate_test(count_now=5, total_now=1000, count_base=5, total_base=3000)
    assert r.p_value == pytest.approx(0.0779, abs=0.001) and not r.increased


def test_a_lower_rate_now_is_not_an_increase():
    r = rules.flag_rate_test(count_now=5, total_now=1000, count_base=20, total_base=1000)
    assert r.p_value > 0.99 and not r.increased


def test_no_events_on_either_side_gives_p_one():
    r = rules.flag_rate_test(count_now=0, total_now=500, count_base=0, total_base=800)
    assert r.p_value == 1.0 and not r.increased


def test_an_empty_side_gives_no_test_and_bad_counts_are_rejected():
    assert rules.flag_rate_test(count_now=1, total_now=10, count_base=0, total_base=0) is None
    with pytest.raises(ValueError, match="count must be within"):
        rules.flag_rate_test(count_now=11, total_now=10, count_base=0, total_base=5)


def test_one_bad_answer_against_none_in_the_baseline_is_not_an_increase():
    # P(the single bad answer falls in the 500 of 2000) = 0.25.
    assert rules.flag_rate_test(count_now=1, total_now=500, count_base=0, total_base=1500).p_value == pytest.approx(0.25)
    assert rules.flag_rate_test(count_now=6, total_now=500, count_base=0, total_base=1500).increased


def test_a_small_rise_on_few_samples_is_not_significant():
    assert not rules.flag_rate_test(count_now=2, total_now=50, count_base=1, total_base=50).increased


def test_flag_evidence_is_pending_while_too_many_flags_await_labels_unless_already_up():
    flat = rules.flag_rate_test(count_now=1, total_now=500, count_base=3, total_base=1500)
    up = rules.flag_rate_test(count_now=30, total_now=500, count_base=3, total_base=1500)
    assert rules.flag_state(flat, flags=10, pending=3, max_pending_share=0.2) == rules.PENDING
    assert rules.flag_state(flat, flags=10, pending=2, max_pending_share=0.2) == rules.OK  # exactly 20%: not over
    assert rules.flag_state(up, flags=40, pending=30, max_pending_share=0.2) == rules.DEGRADED
    assert rules.flag_state(None, flags=0, pending=0, max_pending_share=0.2) == rules.MISSING


@pytest.mark.parametrize("drop, tier", [(None, None), (-3.0, None), (5.0, None), (5.01, "review"), (15.0, "review"), (15.1, "code_red")])
def test_the_tier_follows_the_relative_drop(drop, tier):
    assert rules.golden_tier(drop, code_red_pct=15, review_pct=5) == tier


def test_relative_drop_is_in_percent_of_the_baseline():
    assert rules.relative_drop_pct(0.91, 0.72) == pytest.approx(20.879, abs=1e-3)
    assert rules.relative_drop_pct(0.8, 0.9) < 0


def _classify(**kw):
    base = dict(golden=rules.OK, flags=rules.OK, prompt_drift=False, response_drift=False)
    base.update(kw)
    return rules.classify(**base).verdict_class


def test_a_significant_golden_drop_beyond_tolerance_is_genuine_degradation_even_without_drift():
    assert _classify(golden=rules.DEGRADED) == rules.GENUINE_DEGRADATION


def test_drift_with_a_stable_golden_set_and_flat_flags_is_benign():
    assert _classify(prompt_drift=True) == rules.BENIGN_CHANGE
    assert _classify(response_drift=True) == rules.BENIGN_CHANGE


def test_drift_with_rising_confirmed_bad_flags_is_genuine_degradation():
    assert _classify(prompt_drift=True, flags=rules.DEGRADED) == rules.GENUINE_DEGRADATION


def test_no_drift_and_a_stable_golden_set_is_stable_whatever_the_flags_wait_for():
    assert _classify() == rules.STABLE
    assert _classify(prompt_drift=None, response_drift=None) == rules.STABLE
    assert _classify(flags=rules.PENDING) == rules.STABLE


def test_without_usable_golden_evidence_drift_alone_is_insufficient_evidence():
    assert _classify(golden=rules.MISSING, prompt_drift=True) == rules.INSUFFICIENT_EVIDENCE
    assert _classify(golden=rules.MISSING, flags=rules.DEGRADED) == rules.GENUINE_DEGRADATION
    result = rules.classify(golden=rules.MISSING, flags=rules.OK, prompt_drift=False, response_drift=False,
                            golden_missing="no evaluation of model v2")
    assert result.reasons == ("no evaluation of model v2",)


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
