"""feedback.agreement: kappa, alpha and Wilson intervals against worked examples from the literature. No database."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from drift_app.stats.agreement import (
    cohen_kappa,
    krippendorff_alpha_nominal,
    wilson_interval,
)

N = None


def test_kappa_matches_the_worked_example_of_50_applications():
    # Wikipedia "Cohen's kappa", worked example: a=20 both yes, b=5 (A yes, B no), c=10 (A no, B yes), d=15 both no.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    k = cohen_kappa(a, b)
    assert k.observed == pytest.approx(0.7)
    assert k.expected == pytest.approx(0.5)
    assert k.kappa == pytest.approx(0.4)
    assert k.n_items == 50


def test_kappa_of_the_second_worked_example_with_unbalanced_marginals():
    # Wikipedia, "same agreement, different kappa": 45/15/25/15 -> p_o = 0.60, p_e = 0.54, kappa ~ 0.1304.
    a = ["y"] * 45 + ["y"] * 15 + ["n"] * 25 + ["n"] * 15
    b = ["y"] * 45 + ["n"] * 15 + ["y"] * 25 + ["n"] * 15
    assert cohen_kappa(a, b).kappa == pytest.approx(0.1304, abs=1e-4)


def test_kappa_is_one_for_perfect_agreement_and_negative_for_systematic_disagreement():
    assert cohen_kappa(list("abcab"), list("abcab")).kappa == pytest.approx(1.0)
    assert cohen_kappa(list("abab"), list("baba")).kappa == pytest.approx(-1.0)


def test_kappa_is_undefined_when_both_raters_only_ever_use_one_label():
    assert math.isnan(cohen_kappa(["bad"] * 4, ["bad"] * 4).kappa)


def test_kappa_refuses_label_lists_of_different_length():
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa(["a", "b"], ["a"])


def test_alpha_matches_krippendorffs_nominal_example_with_missing_data():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12 units, nominal.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
    result = krippendorff_alpha_nominal(data)
    assert result.alpha == pytest.approx(0.743, abs=5e-4)
    # Unit 12 has a single value: it is not pairable and carries no information.
    assert result.n_units == 11
    assert result.n_values == 40


def test_alpha_matches_krippendorffs_binary_example_for_two_observers():
    # Krippendorff (2011), section A: two observers, ten units, binary data -> alpha = 0.095.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha_nominal([a, b]).alpha == pytest.approx(0.095, abs=5e-4)


def test_alpha_accepts_string_labels_and_nan_for_missing():
    data = [["bad", "ok", float("nan")], ["bad", "ok", "ok"], ["bad", "bad", "ok"]]
    value = krippendorff_alpha_nominal(data).alpha
    assert -1.0 <= value < 1.0


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert krippendorff_alpha_nominal([["a", "b", "c"], ["a", "b", "c"]]).alpha == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]).alpha)
    assert math.isnan(krippendorff_alpha_nominal([["a", N], [N, "b"]]).alpha)


@pytest.mark.parametrize(
    "count, total, low, high",
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (Wilson).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombes_published_examples(count, total, low, high):
    p = wilson_interval(count, total)
    assert p.rate == pytest.approx(count / total)
    assert p.low == pytest.approx(low, abs=1e-4)
    assert p.high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_reaches_one_when_every_trial_succeeds():
    p = wilson_interval(10, 10)
    assert p.high == 1.0 and p.low == pytest.approx(1 - 0.27753, abs=1e-5)


def test_wilson_interval_of_no_trials_is_the_whole_range_without_a_rate():
    p = wilson_interval(0, 0)
    assert p.rate is None and (p.low, p.high) == (0.0, 1.0)


def test_wilson_interval_refuses_more_successes_than_trials():
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_importing_the_agreement_module_loads_no_django():
    code = "import sys, drift_app.stats.agreement; assert not any(m.startswith('django') for m in sys.modules), 'django loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
