"""Verdicts on the real PostgreSQL: the class, the stored inputs and the plain-language explanation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from tests.verdicts.helpers import T0, window
from verdicts import services
from verdicts.models import RetrainingAdvice, Verdict

pytestmark = pytest.mark.django_db

TOPICS = [{"size": 120, "share": 0.24, "keywords": ["nimbus", "functions", "cold"], "representative_texts": ["How do I deploy a Nimbus Function?"], "sample_ids": []},
          {"size": 50, "share": 0.1, "keywords": ["terraform", "provider", "v2"], "representative_texts": ["terraform v2?"], "sample_ids": []}]


def compute(world, i):
    start, end = window(i)
    return services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)


def test_a_window_like_the_baseline_with_a_stable_golden_set_is_stable(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "stable"
    assert v.prompt_drift is False and v.response_drift is False
    assert v.golden_pass_rate == 0.9 and v.relative_drop_pct == 0 and not v.material_degradation
    assert v.explanation.startswith("Stable: golden pass rate 90% → 90%")


def test_new_topics_with_the_golden_set_stable_are_a_benign_change_naming_the_topics(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, js=0.21, novel=0.34, topics=TOPICS)
    v = compute(world, 0)
    assert v.verdict_class == "benign_change"
    assert "prompt drift: JS 0.21 (threshold 0.18)" in v.explanation
    assert "34% of prompts in 2 new topics: nimbus, functions, cold; terraform, provider, v2" in v.explanation
    assert v.inputs["drift"]["prompts"]["topics"][0]["keywords"][0] == "nimbus"


def test_a_golden_drop_is_genuine_degradation_with_regressed_items_by_category(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    run = world.golden(pass_rate=0.7, at=T0 + dt.timedelta(days=1), model_version="v3", regressed=7)
    world.drift(0, responses=True)
    v = compute(world, 0)
    assert v.verdict_class == "genuine_degradation"
    assert v.relative_drop_pct == pytest.approx(22.22, abs=0.01) and v.material_degradation
    assert v.inputs["golden"]["run_id"] == run.pk and v.inputs["golden"]["tier"] == "code_red"
    assert "golden pass rate 90% → 70% (−22%, model v3), 7 items regressed, mostly in billing" in v.explanation
    assert "material degradation" in v.explanation


def test_an_evaluation_finished_after_the_window_is_not_used_for_it(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.5, at=T0 + dt.timedelta(weeks=1, days=1), model_version="v3", regressed=4)
    assert compute(world, 0).verdict_class == "stable"


def test_without_any_golden_evaluation_the_verdict_is_insufficient_evidence(world):
    world.drift(0, prompts=True)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence"
    assert "no golden-set evaluation yet" in v.explanation and v.golden_pass_rate is None


def test_a_significant_rise_of_confirmed_bad_flags_is_genuine_degradation(world, personas):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=2, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=30, user=personas.alice, prefix="now")
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "genuine_degradation"
    test = v.inputs["flags"]["test"]
    assert test["count_now"] == 30 and test["total_now"] == 400 and test["count_base"] == 2 and test["increased"]
    assert "confirmed-bad rate 0.5% → 7.5% (up significantly" in v.explanation


def test_a_few_flags_in_line_with_the_baseline_period_do_not_count_as_a_rise(world, personas):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=4, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=5, user=personas.alice, prefix="now")
    world.drift(0, prompts=True)
    v = compute(world, 0)
    assert v.verdict_class == "benign_change" and v.inputs["flags"]["increased"] is False


def test_recomputing_a_window_updates_the_same_verdict(world):
    world.drift(0)
    first = compute(world, 0)
    assert first.verdict_class == "insufficient_evidence"
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    second = compute(world, 0)
    assert second.pk == first.pk and second.verdict_class == "stable"
    assert Verdict.objects.filter(deployment=world.deployment).count() == 1


def test_a_window_whose_drift_was_not_measured_says_so(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=None, responses=None)
    v = compute(world, 0)
    assert v.prompt_drift is None and "prompt drift not measured (insufficient data)" in v.explanation


def test_a_window_must_be_aware_and_ordered(world):
    start, end = window(0)
    with pytest.raises(ValidationError, match="after window_start"):
        services.verdict_compute(deployment=world.deployment, window_start=end, window_end=start)
    with pytest.raises(ValidationError, match="time zone"):
        services.verdict_compute(deployment=world.deployment, window_start=start.replace(tzinfo=None), window_end=end)


def test_new_topic_share_over_the_threshold_gives_retraining_advice_only_while_the_golden_set_is_stable(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, novel=0.34, topics=TOPICS)
    v = compute(world, 0)
    advice = RetrainingAdvice.objects.get(verdict=v)
    assert "34% of prompts fall in topics unseen" in advice.reason
    assert [t["keywords"][0] for t in advice.topics] == ["nimbus", "terraform"]
    world.golden(pass_rate=0.6, at=window(1)[0] + dt.timedelta(hours=1), model_version="v3", regressed=3)
    world.drift(1, prompts=True, novel=0.34, topics=TOPICS)
    assert not RetrainingAdvice.objects.filter(verdict=compute(world, 1)).exists()


def test_prompt_js_above_threshold_for_k_windows_gives_retraining_advice(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    for i in range(3):
        world.drift(i, prompts=True, js=0.3, novel=0.05, topics=TOPICS[:1])
        v = compute(world, i)
        assert RetrainingAdvice.objects.filter(verdict=v).exists() == (i == 2)
    assert "prompt JS above its threshold for 3 consecutive windows" in v.retraining_advice.reason


def test_the_selectors_filter_verdicts_by_period(world):
    from verdicts.selectors import verdict_list

    for i in range(3):
        world.drift(i)
        compute(world, i)
    got = verdict_list(deployment=world.deployment, start=window(1)[0], end=window(2)[0])
    assert [v.window_start for v in got] == [window(1)[0]]
