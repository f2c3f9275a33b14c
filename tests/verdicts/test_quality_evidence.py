"""Label-free quality scores in the verdict: a significant drop beyond the band is degradation evidence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from drift_app.stats import verdict_rules as rules
from verdicts import services

from .helpers import T0, window

pytestmark = pytest.mark.django_db


def test_a_quality_drop_alone_makes_genuine_degradation_named_as_such():
    result = rules.classify(golden=rules.OK, flags=rules.OK, prompt_drift=False, response_drift=False,
                            quality=rules.DEGRADED)
    assert result.verdict_class == rules.GENUINE_DEGRADATION
    assert result.reasons == ("quality-score drop beyond the band, significantly",)


def test_steady_quality_scores_change_nothing():
    result = rules.classify(golden=rules.OK, flags=rules.OK, prompt_drift=False, response_drift=False,
                            quality=rules.OK)
    assert result.verdict_class == rules.STABLE


def test_the_quality_source_is_registered_and_missing_without_scores(world):
    start, end = window(1)
    assert services.EVIDENCE_SOURCES["quality"] is services.quality_source
    assert services.quality_source(deployment=world.deployment, window_start=start, window_end=end) is None
    verdict = services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)
    quality = next(e for e in verdict.inputs["evidence"] if e["source"] == "quality")
    assert quality["state"] == rules.MISSING


def _scored(world, start, n, reward, prefix):
    from drift_app.models import ProductionSample

    rng = np.random.default_rng(len(prefix))
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=world.deployment, external_id=f"{prefix}-{k}", prompt=f"{prefix} prompt {k}",
                         response="Open Settings and click Rotate.", model_version="v1",
                         client_timestamp=start + dt.timedelta(minutes=10 * k),
                         scores={"reward": round(float(rng.normal(reward, 0.05)), 4)})
        for k in range(n)
    ])


def test_a_window_with_degraded_quality_scores_queues_one_golden_evaluation_however_often_it_is_recomputed(world):
    from goldenset.models import EvalConfig, EvalRun

    EvalConfig.objects.update_or_create(deployment=world.deployment, defaults={
        "endpoint_base_url": "http://127.0.0.1:9/v1", "endpoint_model": "support-bot"})
    _scored(world, T0 - dt.timedelta(weeks=2), 60, 0.80, "base")
    start, end = window(1)
    _scored(world, start, 60, 0.50, "now")
    world.golden(pass_rate=0.9, at=start + dt.timedelta(days=1))  # fresh golden evidence: no stale request
    first = services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)
    assert next(e for e in first.inputs["evidence"] if e["source"] == "quality")["state"] == rules.DEGRADED
    queued = EvalRun.objects.filter(deployment=world.deployment, trigger=EvalRun.Trigger.QUALITY)
    assert queued.count() == 1
    run_id = queued.get().pk
    # The worker finishes that run (it failed to reach the endpoint); the hourly recomputes go on while the
    # window's scores stay degraded: the window already has its evaluation of this model version.
    queued.update(status=EvalRun.Status.FAILED)
    for _ in range(2):
        last = services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)
    assert queued.count() == 1
    assert (last.inputs.get("quality_evaluation") or {}).get("run_id") == run_id


def test_the_next_window_with_degraded_quality_scores_queues_its_own_evaluation(world):
    from goldenset.models import EvalConfig, EvalRun

    EvalConfig.objects.update_or_create(deployment=world.deployment, defaults={
        "endpoint_base_url": "http://127.0.0.1:9/v1", "endpoint_model": "support-bot"})
    _scored(world, T0 - dt.timedelta(weeks=2), 60, 0.80, "base")
    world.golden(pass_rate=0.9, at=window(1)[0] + dt.timedelta(days=1))
    for i in (1, 2):
        _scored(world, window(i)[0], 60, 0.50, f"now{i}")
        services.verdict_compute(deployment=world.deployment, window_start=window(i)[0], window_end=window(i)[1])
        EvalRun.objects.filter(deployment=world.deployment, trigger=EvalRun.Trigger.QUALITY).update(
            status=EvalRun.Status.FAILED)
    assert EvalRun.objects.filter(deployment=world.deployment, trigger=EvalRun.Trigger.QUALITY).count() == 2


def test_the_dashboard_shows_quality_scores_and_relevance_beside_the_drift_charts(world, personas, client):
    import json as jsonlib

    from django.utils import timezone

    now = timezone.now().replace(microsecond=0)
    _scored(world, now - dt.timedelta(days=2), 30, 0.80, "recent")
    client.force_login(personas.charlie)
    html = client.get(f"/deployments/{world.deployment.slug}/dashboard/").content.decode()
    assert html.index('id="chart-novel"') < html.index('id="quality-panel"')  # after the drift charts
    assert 'id="quality-scores"' in html and 'id="quality-context"' in html and "js/quality_panel.js" in html
    start = html.index('<script id="quality-data" type="application/json">') + len(
        '<script id="quality-data" type="application/json">')
    data = jsonlib.loads(html[start:html.index("</script>", start)])
    reward = [v for v in data["series"]["score:reward"] if v is not None]
    assert len(reward) >= 1 and all(0.6 < v < 1.0 for v in reward)


def test_golden_evidence_scored_by_an_uncalibrated_judge_says_so(world, personas, client):
    from goldenset.models import EvalRun

    baseline = world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    EvalRun.objects.filter(pk=baseline.pk).update(judge_model="judge-large", judge_prompt_version="rubric-v1")
    world.drift(0)
    start, end = window(0)
    verdict = services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)
    [version] = verdict.inputs["golden"]["versions"]
    assert version["judge"]["model"] == "judge-large" and version["judge"]["calibrated"] is False
    assert "at least 30" in version["judge"]["reason"]
    client.force_login(personas.charlie)
    assert "uncalibrated judge" in client.get(f"/verdicts/{verdict.pk}/").content.decode()
