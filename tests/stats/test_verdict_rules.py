"""The golden-set comparison behind a verdict: paired, exact, with an interval and a stated power."""

from __future__ import annotations

import pytest

from drift_app.stats import verdict_rules as rules


def _runs(both: int, regressed: int, improved: int, neither: int) -> tuple[list[bool], list[bool]]:
    base = [True] * both + [True] * regressed + [False] * improved + [False] * neither
    cur = [True] * both + [False] * regressed + [True] * improved + [False] * neither
    return base, cur


def test_one_item_of_twenty_is_a_five_percent_drop_with_p_one_half():
    # 19/20 → 18/20: one discordant pair; under H0 it regresses with probability 1/2.
    cmp = rules.paired_golden_comparison(*_runs(18, 1, 0, 1))
    assert cmp.relative_drop_pct == pytest.approx(100 / 19) and cmp.p_value == pytest.approx(0.5)
    assert not cmp.significant and cmp.ci_low_pct < 0 < cmp.ci_high_pct


def test_the_exact_mcnemar_p_value_is_the_binomial_tail_of_the_discordant_pairs():
    # 12 regressed, 2 improved: P(B >= 12), B ~ Bin(14, 1/2) = (C(14,12) + C(14,13) + C(14,14)) / 2^14.
    cmp = rules.paired_golden_comparison(*_runs(150, 12, 2, 36))
    assert cmp.p_value == pytest.approx((91 + 14 + 1) / 2 ** 14)
    assert cmp.regressed == 12 and cmp.improved == 2 and cmp.items == 200
    assert cmp.relative_drop_pct == pytest.approx((162 - 152) / 162 * 100)
    assert cmp.ci_low_pct > 0 and cmp.ci_low_pct < cmp.relative_drop_pct < cmp.ci_high_pct


def test_improvements_cancel_regressions_in_the_test():
    cmp = rules.paired_golden_comparison(*_runs(150, 10, 10, 30))
    assert cmp.relative_drop_pct == 0 and cmp.p_value > 0.5


def test_runs_must_be_aligned_and_an_empty_comparison_is_none():
    assert rules.paired_golden_comparison([], []) is None
    with pytest.raises(ValueError, match="aligned"):
        rules.paired_golden_comparison([True], [True, False])


def test_five_regressions_are_the_fewest_significant_at_five_percent():
    assert rules.paired_golden_comparison(*_runs(100, 5, 0, 0)).significant
    assert not rules.paired_golden_comparison(*_runs(100, 4, 0, 0)).significant


def test_twenty_items_cannot_detect_the_review_threshold_and_say_how_many_are_needed():
    mdd = rules.min_detectable_drop_pct(20, 0.95)
    assert mdd > 25
    needed = rules.items_needed(0.95, 5.0)
    assert 100 < needed < 200
    # The answer is consistent with itself: that many items detect 5% at 80% power, 10% fewer do not.
    assert rules.min_detectable_drop_pct(needed, 0.95) <= 5.0
    assert rules.min_detectable_drop_pct(int(needed * 0.9), 0.95) > 5.0


def test_the_detectable_drop_shrinks_with_more_items():
    drops = [rules.min_detectable_drop_pct(n, 0.8) for n in (50, 200, 1000)]
    assert drops[0] > drops[1] > drops[2]
    assert rules.min_detectable_drop_pct(3, 0.8) is None


def test_a_drop_of_exactly_the_tolerance_is_computed_from_counts_without_float_residue():
    cmp = rules.paired_golden_comparison(*_runs(152, 8, 0, 40))
    assert cmp.relative_drop_pct == 5.0
    assert rules.golden_tier(cmp.relative_drop_pct, code_red_pct=15, review_pct=5) is None
