"""Judge calibration: SMEs mark judged items; agreement per judge model and rubric; uncalibrated judges flagged."""

from __future__ import annotations

import json

import pytest

from goldenset import selectors, services

from .test_eval_runs import GOOD, configure, run_uploaded

pytestmark = pytest.mark.django_db


def label(client, deployment, result, passed):
    return client.post(f"/api/v1/deployments/{deployment.slug}/golden/results/{result.pk}/calibration-label",
                       data=json.dumps({"passed": passed}), content_type="application/json")


def test_an_sme_labels_a_judged_item_and_the_agreement_is_reported_per_judge_series(deployment, golden, model_server, personas):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run = run_uploaded(deployment, golden, GOOD, "v1")
    results = list(run.results.order_by("item_id"))
    assert label(personas.api("bob"), deployment, results[0], True).status_code == 201
    assert label(personas.api("bob"), deployment, results[1], False).status_code == 201
    again = label(personas.api("bob"), deployment, results[0], False)
    assert again.status_code == 400 and "already labelled" in again.json()["detail"]
    body = personas.api("charlie").get(f"/api/v1/deployments/{deployment.slug}/golden/judge-calibration").json()
    [series] = body["series"]
    assert (series["judge_model"], series["judge_prompt_version"]) == ("judge-large", "rubric-v1")
    agreement = series["agreement"]
    assert agreement["n"] == 2 and agreement["confusion"] == {"pass/pass": 1, "pass/fail": 1, "fail/pass": 0, "fail/fail": 0}
    assert not agreement["calibrated"] and "at least 30" in agreement["reason"]


def test_only_smes_label_and_a_bad_label_names_the_field(deployment, golden, model_server, personas):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    result = run_uploaded(deployment, golden, GOOD, "v1").results.first()
    assert label(personas.api("charlie"), deployment, result, True).status_code == 403
    bad = label(personas.api("bob"), deployment, result, "yes")
    assert bad.status_code == 400 and "passed" in bad.json()["detail"]


def test_a_result_of_another_deployment_is_not_found(deployment, golden, model_server, personas):
    from tests import factories

    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    result = run_uploaded(deployment, golden, GOOD, "v1").results.first()
    other = factories.deployment()
    assert label(personas.api("bob"), other, result, True).status_code == 404


def test_an_uncalibrated_judges_verdicts_are_flagged_in_the_evidence(deployment, golden, model_server):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run = run_uploaded(deployment, golden, GOOD, "v1")
    judge = run.results.first().scorer_outcomes["judge"]
    assert judge["details"]["calibration"]["calibrated"] is False
    assert "uncalibrated judge" in judge["reason"]


def test_items_the_judge_did_not_grade_cannot_be_labelled(deployment, golden, personas):
    from django.core.exceptions import ValidationError

    result = run_uploaded(deployment, golden, GOOD, "v1").results.first()
    with pytest.raises(ValidationError, match="did not grade"):
        services.judge_calibration_label(result=result, user=personas.bob, passed=True)
    assert selectors.judge_calibration(deployment=deployment) == []


def test_the_calibration_page_shows_the_series_and_lets_an_sme_mark_an_item(deployment, golden, model_server, personas, client):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run = run_uploaded(deployment, golden, GOOD, "v1")
    client.force_login(personas.bob)
    url = f"/golden/deployments/{deployment.slug}/judge-calibration/"
    page = client.get(url)
    assert page.status_code == 200 and "Nothing left to mark" not in page.content.decode()
    result = run.results.order_by("item_id").first()
    client.post(url, {"result": result.pk, "passed": "fail", "note": "misses the limit"})
    page = client.get(url).content.decode()
    assert "judge-large" in page and "uncalibrated" in page and "pass/fail: 1" in page


def _flagged(deployment, prompt, response, final_label, user):
    from django.utils import timezone

    from drift_app.models import ProductionSample
    from feedback.models import Flag

    sample = ProductionSample.objects.create(deployment=deployment, external_id=f"cal-{ProductionSample.objects.count()}",
                                             prompt=prompt, response=response, model_version="v1",
                                             client_timestamp=timezone.now())
    return Flag.objects.create(sample=sample, deployment=deployment, flagged_by=user, reason="incorrect",
                               status=Flag.Status.RESOLVED, final_label=final_label)


def test_flag_labels_on_answers_the_judge_graded_count_in_its_calibration(deployment, golden, model_server, personas):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run_uploaded(deployment, golden, GOOD, "v1")
    run_uploaded(deployment, golden, GOOD, "v1")  # the same answers graded again are not new judgements
    # SMEs resolved flags on the very answers the judge passed: two wrong, one fine (its words re-spaced
    # and re-cased, the same text once normalised); a flag on another answer to the same prompt says
    # nothing about what the judge graded.
    _flagged(deployment, golden[0].prompt, GOOD[0], "confirmed_bad", personas.alice)
    _flagged(deployment, golden[1].prompt, GOOD[1], "policy_violation", personas.alice)
    _flagged(deployment, golden[2].prompt, "  click forgot password on the sign-in page ", "not_a_problem", personas.alice)
    _flagged(deployment, golden[0].prompt, "The Pro plan is free.", "confirmed_bad", personas.alice)
    [series] = selectors.judge_calibration(deployment=deployment)
    assert series["sources"] == {"flag labels": 3}
    assert series["agreement"]["n"] == 3
    assert series["agreement"]["confusion"] == {"pass/pass": 1, "pass/fail": 2, "fail/pass": 0, "fail/fail": 0}


def test_flags_and_calibration_page_labels_on_one_item_count_it_once_by_majority(deployment, golden, model_server, personas):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    result = run_uploaded(deployment, golden, GOOD, "v1").results.get(item=golden[0])
    services.judge_calibration_label(result=result, user=personas.bob, passed=False)
    _flagged(deployment, golden[0].prompt, GOOD[0], "confirmed_bad", personas.alice)
    [series] = selectors.judge_calibration(deployment=deployment)
    assert series["agreement"]["n"] == 1 and series["agreement"]["confusion"]["pass/fail"] == 1
    assert series["sources"] == {"calibration page": 1, "flag labels": 1}


def test_flag_labels_of_another_deployment_do_not_calibrate_this_judge(deployment, golden, model_server, personas):
    from tests import factories

    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run_uploaded(deployment, golden, GOOD, "v1")
    _flagged(factories.deployment(), golden[0].prompt, GOOD[0], "confirmed_bad", personas.alice)
    assert selectors.judge_calibration(deployment=deployment) == []


def test_the_run_page_says_its_judge_is_uncalibrated(deployment, golden, model_server, personas, client):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run = run_uploaded(deployment, golden, GOOD, "v1")
    client.force_login(personas.erin)
    html = client.get(f"/golden/runs/{run.pk}/").content.decode()
    assert "uncalibrated judge" in html and "at least 30" in html
