"""Scorer primitives on strings and arrays with known answers: sentences, alignment, facts, polarity."""

from __future__ import annotations

import numpy as np
import pytest

from drift_app.stats import scoring


def test_sentences_split_at_ends_and_list_items_but_not_inside_numbers_or_abbreviations():
    text = "The plan costs $4.50 per month. It includes e.g. backups.\n- First step\n- Second step"
    assert scoring.split_sentences(text) == [
        "The plan costs $4.50 per month.", "It includes e.g. backups.", "First step", "Second step"]


def _onehot(*rows: int, dim: int = 4) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    out[np.arange(len(rows)), rows] = 1.0
    return out


def test_a_shorter_answer_keeps_its_support_and_loses_coverage():
    reference, answer = _onehot(0, 1, 2), _onehot(0)
    al = scoring.align_sentences(reference, answer)
    assert al.support == 1.0 and al.coverage == pytest.approx(1 / 3, abs=1e-4)
    assert scoring.alignment_passes(al, 0.7)


def test_a_longer_answer_keeps_its_coverage_and_loses_support():
    al = scoring.align_sentences(_onehot(0, 1), _onehot(0, 1, 2, 3))
    assert al.coverage == 1.0 and al.support == 0.5
    assert al.answer_best[:2] == (0, 1)


def test_an_answer_about_something_else_fails_the_alignment_rule():
    al = scoring.align_sentences(_onehot(0, 1), _onehot(2, 3))
    assert al.coverage == 0.0 and al.support == 0.0 and not scoring.alignment_passes(al, 0.7)


def test_an_empty_side_aligns_to_nothing():
    assert scoring.align_sentences(_onehot(0), np.zeros((0, 4), dtype=np.float32)).coverage == 0.0


@pytest.mark.parametrize("sentence, kind, key, value", [
    ("The Pro plan costs $49 per month.", "money", "USD", 49.0),
    ("Fees are €1,200 a year.", "money", "EUR", 1200.0),
    ("Annual billing saves 15%.", "percent", "", 15.0),
    ("The link is valid for 24 hours.", "duration", "", 86400.0),
    ("The link is valid for one day.", "duration", "", 86400.0),
    ("It ships on 14 March 2025.", "date", "", "2025-03-14"),
    ("Use version 2024-06 of the API.", "date", "", "2024-06"),
    ("Teams have up to 25 members.", "quantity", "member", 25.0),
])
def test_facts_carry_their_kind_unit_and_value(sentence, kind, key, value):
    facts = scoring.extract_facts(sentence)
    assert (kind, key, value) in {(f.kind, f.key, f.value) for f in facts}


def test_a_duration_in_other_units_is_the_same_fact():
    a = scoring.extract_facts("Valid for 24 hours.")[0]
    b = scoring.extract_facts("Valid for 1 day.")[0]
    assert a.value == b.value


def test_polarity_counts_negation_words():
    assert scoring.negated("Your data is not encrypted at rest.")
    assert scoring.negated("Refunds are never issued.")
    assert not scoring.negated("Your data is encrypted at rest.")
    assert not scoring.negated("It is not true that we never refund.")  # two negations


def _aligned(ref: list[str], ans: list[str], pairs: list[tuple[int, float]]) -> scoring.Alignment:
    """An alignment where answer sentence j's best reference sentence is pairs[j]."""
    return scoring.Alignment(1.0, 1.0, (), (), tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def test_a_changed_amount_in_an_aligned_sentence_is_a_contradiction_quoting_both_sides():
    ref = ["The Pro plan costs $49 per month.", "Annual billing saves 15%."]
    ans = ["The Pro plan costs $99 per month.", "Annual billing saves 15%."]
    found = scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.95), (1, 1.0)]))
    assert [(c.kind, c.reference_value, c.answer_value) for c in found] == [("money", "$49", "$99")]
    assert "'$99'" in found[0].describe() and "'$49'" in found[0].describe()


def test_a_flipped_polarity_of_a_close_pair_is_a_contradiction():
    ref, ans = ["Your data is encrypted at rest."], ["Your data is not encrypted at rest."]
    found = scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.93)]))
    assert [c.kind for c in found] == ["negation"]


def test_facts_of_a_sentence_the_reference_does_not_talk_about_are_not_contradictions():
    ref, ans = ["Reset links expire after 1 hour."], ["Reset links expire after 1 hour.", "Call us on 5 days a week."]
    found = scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 1.0), (0, 0.3)]))
    assert found == []


def test_a_value_the_reference_states_elsewhere_is_not_a_contradiction():
    ref = ["Starter costs $9 per month.", "Pro costs $49 per month."]
    ans = ["Starter costs $49 per month."]  # wrong pairing, but a value the reference has: left to alignment
    assert scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.9)])) == []


def test_a_name_in_place_of_the_references_name_is_a_contradiction():
    ref, ans = ["Data is stored in Frankfurt."], ["Data is stored in Virginia."]
    found = scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.8)]))
    assert [(c.kind, c.reference_value, c.answer_value) for c in found] == [("entity", "Frankfurt", "Virginia")]


def test_an_acceptance_regex_runs_on_re2_and_refuses_backreferences():
    assert scoring.check_acceptance("Order ABC-123 shipped", {"regex": r"abc-\d+"}) == (True, [])
    problems = scoring.validate_acceptance({"regex": r"(a)\1"})
    assert problems and problems[0][0] == "acceptance.regex" and "RE2" in problems[0][1]


def test_a_catastrophic_pattern_stays_linear():
    import time

    started = time.perf_counter()
    ok, _ = scoring.check_acceptance("a" * 50_000 + "!", {"regex": r"^(a+)+$"})
    assert ok is False and time.perf_counter() - started < 1.0


def test_a_judge_that_agrees_with_smes_on_enough_items_is_calibrated():
    judge = [True] * 20 + [False] * 20
    sme = [True] * 18 + [False] * 2 + [False] * 19 + [True]
    agreement = scoring.judge_agreement(judge, sme)
    assert agreement.n == 40 and agreement.confusion == {"pass/pass": 18, "pass/fail": 2, "fail/pass": 1, "fail/fail": 19}
    assert agreement.kappa == pytest.approx(0.85, abs=1e-9)  # p_o 0.925, p_e 0.5
    assert agreement.low < agreement.kappa < agreement.high and agreement.calibrated


def test_a_judge_measured_on_fewer_than_thirty_items_is_uncalibrated_whatever_its_kappa():
    agreement = scoring.judge_agreement([True, False] * 10, [True, False] * 10)
    assert agreement.kappa == pytest.approx(1.0) and not agreement.calibrated and "at least 30" in agreement.reason


def test_a_judge_below_the_minimum_kappa_is_uncalibrated():
    judge = [True] * 40
    sme = [True] * 30 + [False] * 10
    agreement = scoring.judge_agreement(judge, sme, min_kappa=0.6)
    assert agreement.kappa == pytest.approx(0.0) and not agreement.calibrated and "below the minimum" in agreement.reason


def test_names_reordered_are_the_same_names_not_a_swap():
    ref = ["Install the official Acme SDK for Python from its package registry and initialise it with your API key."]
    ans = ["Add the official Acme Python SDK from the package registry, then initialise it with an API key."]
    assert scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.9)])) == []


def _matrix(sims: list[list[float]]) -> scoring.Alignment:
    """An alignment from a full (reference x answer) similarity matrix."""
    m = np.array(sims, dtype=float)
    return scoring.Alignment(1.0, 1.0, tuple(m.argmax(1)), tuple(m.max(1)), tuple(int(i) for i in m.argmax(0)),
                             tuple(float(x) for x in m.max(0)), tuple(tuple(r) for r in sims))


def test_list_numbers_are_neither_sentences_nor_facts():
    text = "Some tips:\n1. Sleep at the same time every day.\n2. Avoid screens. 3. Keep the room cool.\n3.5 percent is fine."
    assert scoring.split_sentences(text) == [
        "Some tips:", "Sleep at the same time every day.", "Avoid screens.", "Keep the room cool.", "3.5 percent is fine."]


def test_half_an_hour_is_thirty_minutes():
    [fact] = scoring.extract_facts("An appointment takes half an hour.")
    assert fact.kind == "duration" and fact.value == 1800.0


def test_a_figure_given_as_an_example_contradicts_nothing():
    ref = ["Exercise regularly, for example a 30-minute walk most days."]
    ans = ["Any exercise helps, even 15 minutes of cycling."]
    assert scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.8)])) == []


def test_a_number_about_another_part_of_an_estimate_is_not_a_contradiction():
    ref = ["A tuner can do about 4 tunings a day and works 250 days a year."]
    ans = ["Most pianos are tuned every year, so there are about 9,000 tunings a year in the city."]
    assert scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.7)])) == []


def test_other_names_in_another_example_are_not_a_swap():
    ref = ["Another must-see attraction in Hawaii is Waikiki Beach."]
    ans = ["With its clear water and golden sand, Wailea Beach was the perfect spot to relax."]
    assert scoring.fact_contradictions(ref, ans, _aligned(ref, ans, [(0, 0.7)])) == []


def test_a_negation_of_another_predicate_is_not_a_flip():
    assert scoring.polarity_flips("Single-use bottles contribute to plastic pollution.",
                                  "Single-use bottles are not biodegradable.") == []
    assert scoring.polarity_flips("Duplicate charges are refunded within 5 business days.",
                                  "Duplicate charges are never refunded.") != []


def test_a_thousands_separator_does_not_split_a_clause():
    ref = "That gives approximately 13,017,543 messages sent in a minute."
    ans = "It is impossible to tell how many messages are sent in a minute, I cannot provide a number."
    assert scoring.polarity_flips(ref, ans) == []


def test_an_answer_merging_two_reference_sentences_is_checked_against_both():
    ref = ["Premium members get free shipping on every order.", "Standard members pay $4.99 per order, or nothing over $50."]
    ans = ["Premium members pay $4.99 per order for shipping, and Standard members pay $9.99."]
    found = scoring.fact_contradictions(ref, ans, _matrix([[0.78], [0.76]]))
    assert [(c.kind, c.answer_value) for c in found] == [("money", "$9.99")]
    assert found[0].reference_sentence == ref[1]
