"""The confirmed-bad flag rate as evidence: a real rise counts, one unlucky answer does not."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.verdicts.helpers import T0, window
from verdicts import services


def _week(world, personas, *, bad_now: int):
    world.golden(pass_rate=0.9, at=window(1)[0] + dt.timedelta(days=1))
    world.drift(1, prompts=True)
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=300, bad=0, user=personas.alice, prefix="base")
    world.traffic(start=window(1)[0], n=100, bad=bad_now, user=personas.alice, prefix="now")
    return services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])


def test_one_confirmed_bad_answer_against_a_clean_baseline_leaves_a_drifted_week_benign(world, personas):
    # The z-test called this significant (p < 0.05) and needed a minimum-count patch; the exact test
    # gives P(the one bad answer falls among the 100 of 400) = 0.25.
    verdict = _week(world, personas, bad_now=1)
    assert verdict.verdict_class == "benign_change"
    assert verdict.inputs["flags"]["test"]["p_value"] == pytest.approx(0.25)
    assert "not up, Fisher exact p=0.250" in verdict.explanation


def test_a_clear_rise_of_confirmed_bad_answers_is_genuine_degradation_with_the_golden_set_stable(world, personas):
    verdict = _week(world, personas, bad_now=8)
    assert verdict.verdict_class == "genuine_degradation"
    assert "up significantly" in verdict.explanation
