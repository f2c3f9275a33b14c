"""Verdicts on the real PostgreSQL: the class, the stored evidence and the plain-language explanation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from tests.verdicts.helpers import T0, window
from verdicts import selectors, services
from verdicts.models import RetrainingAdvice, Verdict

pytestmark = pytest.mark.django_db

TOPICS = [{"size": 120, "share": 0.24, "keywords": ["nimbus", "functions", "cold"], "representative_texts": ["How do I deploy a Nimbus Function?"], "sample_ids": []},
          {"size": 50, "share": 0.1, "keywords": ["terraform", "provider", "v2"], "representative_texts": ["terraform v2?"], "sample_ids": []}]


def compute(world, i):
    start, end = window(i)
    return services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)


def test_a_window_like_the_baseline_with_a_fresh_evaluation_is_stable(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "stable"
    assert v.prompt_drift is False and v.response_drift is False
    assert v.golden_pass_rate == 0.9 and v.relative_drop_pct == 0 and not v.material_degradation
    assert v.explanation.startswith("Stable: golden pass rate 90% → 90% (+0.0%")


def test_new_topics_with_the_golden_set_stable_are_a_benign_change_naming_the_topics(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, js=0.21, novel=0.34, topics=TOPICS)
    v = compute(world, 0)
    assert v.verdict_class == "benign_change"
    assert "prompt drift: JS 0.21 (threshold 0.18)" in v.explanation
    assert "34% of prompts in 2 new topics: nimbus, functions, cold; terraform, provider, v2" in v.explanation
    assert v.inputs["drift"]["prompts"]["topics"][0]["keywords"][0] == "nimbus"


def test_a_drift_found_by_another_statistic_never_quotes_js_below_its_threshold_as_the_reason(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, js=0.1)  # drifted by MMD² above its calibrated threshold, JS under its 0.18 threshold
    v = compute(world, 0)
    # The reason names the statistic that crossed its own threshold (registry label), with both figures.
    assert "prompt drift: Maximum mean discrepancy" in v.explanation and "(threshold" in v.explanation
    assert "prompt drift: JS" not in v.explanation


def test_new_topics_are_not_announced_in_a_window_without_drift(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=False, novel=0.05, topics=TOPICS)
    v = compute(world, 0)
    assert v.verdict_class == "stable" and "new topic" not in v.explanation


def test_a_significant_golden_drop_is_genuine_degradation_with_regressed_items_by_category(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    run = world.golden(pass_rate=0.7, at=T0 + dt.timedelta(days=1), model_version="v3")
    world.served(0, "v3")
    world.drift(0, responses=True)
    v = compute(world, 0)
    assert v.verdict_class == "genuine_degradation"
    assert v.relative_drop_pct == pytest.approx(22.22, abs=0.01) and v.material_degradation
    g = v.inputs["golden"]
    assert g["run_id"] == run.pk and g["tier"] == "code_red" and g["p_value"] < 1e-9
    assert g["ci_pct"][0] < 22.22 < g["ci_pct"][1]
    assert "golden pass rate 90% → 70% (−22.2%" in v.explanation and "40 items regressed, mostly in billing" in v.explanation
    assert "material degradation" in v.explanation


def test_stale_evidence_is_insufficient_evidence_not_stable(world):
    # Issue 11: the baseline run alone used to be compared with itself for every later window (0% drop).
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(3)
    v = compute(world, 3)
    assert v.verdict_class == "insufficient_evidence"
    golden = v.inputs["golden"]["versions"][0]
    assert golden["reason"] == "stale" and golden["stale_run_id"] == world.baseline_run.pk
    assert "no evaluation of model v1 with answers from" in v.explanation and "maximum age 7 days" in v.explanation


def test_an_evaluation_of_another_model_version_is_not_evidence_for_the_window(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10), model_version="v1")
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1), model_version="v2")
    world.served(0, "v3")
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence"
    assert "model v3 was never evaluated" in v.explanation or "this model version was never evaluated" in v.explanation


def test_a_window_served_by_two_versions_needs_evidence_for_each_and_says_which_is_missing(world):
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1), model_version="v1")
    world.served(0, "v1", n=5)
    world.served(0, "v2", n=2)
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence"
    versions = {g["model_version"]: g for g in v.inputs["golden"]["versions"]}
    assert versions["v1"]["state"] == "ok" and versions["v2"]["state"] == "missing"
    assert versions["v1"]["samples"] == 5 and versions["v2"]["samples"] == 2
    world.golden(pass_rate=0.89, at=T0 + dt.timedelta(days=2), model_version="v2")
    assert compute(world, 0).verdict_class == "stable"


def test_uploaded_answers_produced_in_the_window_count_for_it_even_if_evaluated_later(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=30))
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(weeks=8), produced_at=window(2)[0] + dt.timedelta(days=2))
    world.drift(2)
    v = compute(world, 2)
    assert v.verdict_class == "stable"
    g = v.inputs["golden"]
    assert g["answers_produced_at"].startswith(f"{window(2)[0] + dt.timedelta(days=2):%Y-%m-%d}") and g["finished_at"]


def test_one_item_of_twenty_is_not_degradation_and_twenty_items_are_too_few_to_judge(personas):
    from tests.verdicts.helpers import World

    world = World(personas.bob, items=20)
    world.golden(pass_rate=0.95, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.90, at=T0 + dt.timedelta(days=1))
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence"
    g = v.inputs["golden"]
    assert g["p_value"] == pytest.approx(0.5) and g["tier"] is None and not v.material_degradation
    assert g["items_needed"] > 100 and "items needed" in v.explanation


def test_a_drop_of_exactly_the_tolerance_is_not_beyond_it_and_tier_and_class_agree(world):
    # 160 → 152 passing of 200: exactly 5.0% down. It is significant (8 regressions), not beyond tolerance.
    world.golden(pass_rate=0.80, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.76, at=T0 + dt.timedelta(days=1))
    world.drift(0)
    v = compute(world, 0)
    assert v.inputs["golden"]["relative_drop_pct"] == pytest.approx(5.0)
    assert v.verdict_class == "stable" and v.inputs["golden"]["tier"] is None
    assert "within the 5% tolerance" in v.explanation


def test_errored_items_make_an_evaluation_incomplete_evidence_not_a_pass(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1), errored=40)  # 20% of the items timed out
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence"
    assert "40 of 200 items errored (20%, more than 5%)" in v.explanation


def test_a_few_errored_items_count_as_failures(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1), errored=8)  # 4%: complete, but 8 not passed
    world.drift(0)
    g = compute(world, 0).inputs["golden"]
    assert g["regressed"] == 8 and g["pass_rate"] == pytest.approx(172 / 200)


def test_items_added_or_revised_between_golden_versions_are_reported_apart_not_compared(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    # SMEs revise 10 items and add 50 hard ones that the model fails: the items in common are unchanged.
    world.new_version(250, keep=200, revise=10)
    run = world.golden(pass_rate=0.7, at=T0 + dt.timedelta(days=1))
    from goldenset.models import EvalResult

    EvalResult.objects.filter(run=run).update(outcome="passed")
    EvalResult.objects.filter(run=run, item_id__in=[i.pk for i, _ in world.items[:20]]).update(outcome="failed")
    EvalResult.objects.filter(run=run, item_id__in=[i.pk for i, _ in world.items[200:]]).update(outcome="failed")
    world.drift(0)
    v = compute(world, 0)
    versions = v.inputs["golden"]["versions"][0]
    assert versions["items_added"] == 50 and versions["items_changed"] == 10 and versions["items_retired"] == 0
    assert versions["items_common"] == 190 and versions["relative_drop_pct"] == pytest.approx(0.0)
    assert v.verdict_class == "stable" and "50 added, 10 changed, 0 retired" in v.explanation


def test_a_missing_golden_evaluation_is_queued_once_per_window_when_there_is_an_endpoint(world, django_capture_on_commit_callbacks):
    from goldenset.models import EvalConfig, EvalRun

    EvalConfig.objects.create(deployment=world.deployment, endpoint_base_url="http://127.0.0.1:9/v1", endpoint_model="m")
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=30))
    world.drift(1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        v = compute(world, 1)
        world.drift(1, prompts=True)  # a second drift run: the verdict changes, the request is not repeated
        v2 = compute(world, 1)
    requested = EvalRun.objects.filter(deployment=world.deployment, trigger="schedule")
    assert requested.count() == 1 and requested.get().model_version == "v1"
    assert v.inputs["requested_evaluations"] == [{"model_version": "v1", "run_id": requested.get().pk, "status": "queued"}]
    assert v2.inputs["requested_evaluations"] == v.inputs["requested_evaluations"]
    assert len(callbacks) >= 1 and f"golden evaluation #{requested.get().pk} of model v1 queued" in v.explanation


def test_without_an_endpoint_the_verdict_says_the_evaluation_could_not_be_queued(world):
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "insufficient_evidence" and v.golden_pass_rate is None
    assert "this model version was never evaluated" in v.explanation and "upload answers instead" in v.explanation


def test_a_significant_rise_of_confirmed_bad_flags_is_genuine_degradation(world, personas):
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=2, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=30, user=personas.alice, prefix="now")
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class == "genuine_degradation"
    test = v.inputs["flags"]["test"]
    assert test["count_now"] == 30 and test["total_now"] == 400 and test["count_base"] == 2 and test["increased"]
    assert test["test"] == "fisher_exact_one_sided"
    assert "confirmed-bad rate 0.5% → 7.5% (up significantly, Fisher exact p=" in v.explanation


def test_a_few_flags_in_line_with_the_baseline_period_do_not_count_as_a_rise(world, personas):
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=4, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=5, user=personas.alice, prefix="now")
    world.drift(0, prompts=True)
    v = compute(world, 0)
    assert v.verdict_class == "benign_change" and v.inputs["flags"]["increased"] is False


def test_flags_awaiting_labels_make_the_flag_evidence_pending_not_flat(world, personas):
    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=4, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=3, pending=9, user=personas.alice, prefix="now")
    world.drift(0)
    v = compute(world, 0)
    flags = v.inputs["flags"]
    assert flags["state"] == "pending" and flags["increased"] is None
    assert "flag evidence pending: 9 of 12 flags (75%) still await SME labels" in v.explanation
    source = next(e for e in v.inputs["evidence"] if e["source"] == "flags")
    assert source["state"] == "pending" and source["test"] == "fisher_exact_one_sided"


def test_late_labels_recompute_a_past_window_keeping_the_earlier_verdict_as_superseded(world, personas):
    from feedback.models import Flag

    world.golden(pass_rate=0.9, at=T0 + dt.timedelta(days=1))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=2, user=personas.alice, prefix="before")
    world.traffic(start=window(0)[0], n=400, bad=0, pending=30, user=personas.alice, prefix="now")
    world.drift(0)
    first = compute(world, 0)
    assert first.verdict_class == "stable" and first.inputs["flags"]["state"] == "pending"
    Flag.objects.filter(deployment=world.deployment, status="open").update(
        status="resolved", final_label="confirmed_bad", resolved_at=window(1)[0])
    second = compute(world, 0)
    first.refresh_from_db()
    assert second.pk != first.pk and second.version == 2 and second.verdict_class == "genuine_degradation"
    assert first.superseded_by == second and first.superseded_at is not None
    history = list(selectors.verdict_versions(deployment=world.deployment, start=window(0)[0], end=window(0)[1]))
    assert [v.version for v in history] == [2, 1]
    assert list(selectors.verdict_list(deployment=world.deployment)) == [second]


def test_recomputing_a_window_with_the_same_evidence_changes_nothing(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0)
    first = compute(world, 0)
    second = compute(world, 0)
    assert second.pk == first.pk and Verdict.objects.filter(deployment=world.deployment).count() == 1


def test_every_verdict_lists_its_evidence_sources_with_test_and_what_is_missing(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True)
    v = compute(world, 0)
    sources = {e["source"]: e for e in v.inputs["evidence"]}
    assert list(sources) == ["golden", "flags", "prompt_drift", "response_drift", "quality"]
    assert sources["golden"]["test"] == "mcnemar_exact_one_sided" and sources["golden"]["p_value"] == 1.0
    assert sources["prompt_drift"]["state"] == "drift" and sources["response_drift"]["state"] == "no_drift"
    assert sources["quality"]["state"] == "missing" and sources["quality"]["missing"]


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
    world.golden(pass_rate=0.6, at=window(1)[0] + dt.timedelta(hours=1), model_version="v3")
    world.served(1, "v3")
    world.drift(1, prompts=True, novel=0.34, topics=TOPICS)
    assert not RetrainingAdvice.objects.filter(verdict=compute(world, 1)).exists()


def test_prompt_js_above_threshold_for_k_windows_gives_retraining_advice(world):
    for i in range(3):
        world.golden(pass_rate=0.9, at=window(i)[0] + dt.timedelta(days=1))
        world.drift(i, prompts=True, js=0.3, novel=0.05, topics=TOPICS[:1])
        v = compute(world, i)
        assert RetrainingAdvice.objects.filter(verdict=v).exists() == (i == 2)
    assert "prompt JS above its threshold for 3 consecutive windows" in v.retraining_advice.reason


def test_the_selectors_filter_verdicts_by_period(world):
    for i in range(3):
        world.drift(i)
        compute(world, i)
    got = selectors.verdict_list(deployment=world.deployment, start=window(1)[0], end=window(2)[0])
    assert [v.window_start for v in got] == [window(1)[0]]
