"""A figure printed beside its threshold has enough digits that the printed comparison is true (issue 18)."""

from __future__ import annotations

import pytest

from drift_app.formatting import compare_pair, comparison_digits


@pytest.mark.parametrize(("value", "threshold"), [
    (0.0512, 0.0498), (0.0498, 0.0512), (0.05001, 0.05), (0.18, 0.1799999), (1234.5, 1234.49), (0.3, 0.18),
])
def test_the_printed_value_and_threshold_compare_like_the_stored_ones(value, threshold):
    a, b = compare_pair(value, threshold)
    assert a != b
    assert (float(a) > float(b)) == (value > threshold)


def test_two_digits_suffice_when_they_already_tell_the_numbers_apart():
    assert compare_pair(0.3, 0.18) == ("0.30", "0.18")


def test_equal_numbers_print_equal_with_the_minimum_digits():
    assert compare_pair(0.05, 0.05) == ("0.05", "0.05")
    assert comparison_digits(0.05, 0.05) == 2


def test_a_missing_figure_prints_a_dash():
    assert compare_pair(None, 0.18) == ("–", "0.18")


def test_a_drop_just_beyond_the_review_threshold_reads_beyond_it():
    # 5.04% against a 5% threshold: one decimal would print "5.0%" and hide why it counts.
    assert comparison_digits(5.04, 5.0, digits=1) == 2
