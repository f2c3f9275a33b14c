"""Label-free quality signals per window: relative change with a CI, a two-sample test, the band."""

from __future__ import annotations

import numpy as np

from drift_app.stats import quality


def test_a_twenty_percent_drop_of_the_reward_is_degradation_beyond_a_fifteen_percent_band():
    rng = np.random.default_rng(1)
    baseline, window = rng.normal(0.80, 0.1, 800), rng.normal(0.64, 0.1, 400)
    shift = quality.score_shift("reward", baseline, window, band_pct=15.0)
    assert shift.relative_change_pct == pytest_approx(-20.0, 2.0)
    assert shift.ci_low_pct < shift.relative_change_pct < shift.ci_high_pct < 0
    assert shift.p_value < 1e-6 and shift.beyond_band and shift.degraded


def test_a_five_percent_drop_is_significant_but_inside_the_band():
    rng = np.random.default_rng(2)
    shift = quality.score_shift("reward", rng.normal(0.80, 0.1, 2000), rng.normal(0.76, 0.1, 2000), band_pct=15.0)
    assert shift.significant and not shift.beyond_band and not shift.degraded


def test_a_rise_beyond_the_band_is_not_degradation():
    rng = np.random.default_rng(3)
    shift = quality.score_shift("reward", rng.normal(0.5, 0.1, 500), rng.normal(0.7, 0.1, 500))
    assert shift.beyond_band and shift.significant and not shift.degraded


def test_the_same_distribution_is_neither_significant_nor_beyond_the_band_most_of_the_time():
    rng = np.random.default_rng(4)
    flagged = sum(quality.score_shift("r", rng.normal(0.8, 0.1, 300), rng.normal(0.8, 0.1, 300)).significant
                  for _ in range(40))
    assert flagged <= 6  # about 5% expected at alpha 0.05


def test_too_few_values_give_no_verdict_and_say_why():
    shift = quality.score_shift("thumbs", np.ones(5), np.ones(100))
    assert shift.relative_change_pct is None and not shift.degraded and "at least 20" in shift.note


def test_a_zero_baseline_mean_has_no_relative_change():
    shift = quality.score_shift("thumbs", np.tile([-1.0, 1.0], 50), np.tile([-1.0, 1.0], 50))
    assert shift.relative_change_pct is None and "undefined" in shift.note


def pytest_approx(value, tol):
    import pytest

    return pytest.approx(value, abs=tol)
