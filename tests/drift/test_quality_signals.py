"""Label-free quality signals: scores ride along with samples and drift per window against the baseline."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from django.utils import timezone

from drift_app import selectors, services
from drift_app.embeddings import encode
from drift_app.models import Baseline, ProductionSample
from drift_app.validation import parse_samples
from tests import factories

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - dt.timedelta(days=10)


def post(client, slug, body):
    return client.post(f"/api/v1/deployments/{slug}/samples", data=json.dumps(body), content_type="application/json")


def test_scores_are_stored_with_the_sample(personas):
    deployment = factories.deployment()
    record = factories.sample_record(1, scores={"reward": 0.82, "judge": 0.7, "user_rating": 4, "thumbs": -1})
    r = post(personas.api("erin"), deployment.slug, record)
    assert r.status_code == 201, r.content
    assert ProductionSample.objects.get(deployment=deployment).scores == {
        "reward": 0.82, "judge": 0.7, "user_rating": 4, "thumbs": -1}


def test_a_sample_without_scores_stores_none():
    deployment = factories.deployment()
    records, _ = parse_samples(factories.sample_record(1), default_model_version="v1", max_batch=10,
                               max_prompt_chars=1000, max_response_chars=1000)
    services.samples_ingest(deployment=deployment, records=records)
    assert ProductionSample.objects.get(deployment=deployment).scores == {}


@pytest.mark.parametrize("scores, field, words", [
    ({"reward": "high"}, "scores.reward", "must be a number, got str"),
    ({"reward": True}, "scores.reward", "must be a number, got bool"),
    ({"reward": None}, "scores.reward", "must be a number, got NoneType"),
    ([0.8], "scores", "must be a JSON object"),
    ({"1bad name": 1}, "scores", "must start with a letter"),
])
def test_bad_scores_are_refused_naming_the_field(personas, scores, field, words):
    deployment = factories.deployment()
    r = post(personas.api("erin"), deployment.slug, [factories.sample_record(1, scores=scores)])
    assert r.status_code == 400
    problem = r.json()["errors"][0] if "errors" in r.json() else r.json()
    assert problem["field"] == field and words in problem["problem"], r.json()
    assert not ProductionSample.objects.filter(deployment=deployment).exists()


def _ingest(deployment, start, n, reward_mean, *, prefix, response="Open Settings and click Rotate.", seed=0):
    rng = np.random.default_rng(seed)
    records = [factories.sample_record(
        i, when=start + dt.timedelta(minutes=i), external_id=f"{prefix}-{i}", response=response,
        prompt=f"How do I rotate the API key for project {i % 7}?",
        scores={"reward": round(float(rng.normal(reward_mean, 0.08)), 4)},
    ) for i in range(n)]
    parsed, _ = parse_samples(records, default_model_version="v1", max_batch=1000, max_prompt_chars=10_000,
                              max_response_chars=10_000)
    result = services.samples_ingest(deployment=deployment, records=parsed)
    # Stored on this connection (samples_embed writes from a second one, which cannot see this test's rows).
    vectors = encode([r.prompt for r in parsed] + [r.response for r in parsed])
    services.samples_store_vectors(ids=np.array([s.id for s in result.samples]), prompt_vectors=vectors[:n],
                                   response_vectors=vectors[n:])


@pytest.fixture
def monitored():
    deployment = factories.deployment(quality_drift_pct=15.0)
    _ingest(deployment, T0, 60, 0.80, prefix="base", seed=1)
    Baseline.objects.create(deployment=deployment, period_start=T0, period_end=T0 + dt.timedelta(days=1),
                            status="ready", is_active=True)
    return deployment


def test_a_reward_drop_beyond_the_band_is_degradation_evidence_and_relevance_is_context(monitored):
    start = T0 + dt.timedelta(days=3)
    _ingest(monitored, start, 60, 0.62, prefix="late", seed=2,
            response="Open Settings, pick the project, click Rotate and confirm; the old key stops working at once.")
    evidence = selectors.quality_evidence(deployment=monitored, start=start, end=start + dt.timedelta(days=1))
    reward = next(s for s in evidence["scores"] if s["name"] == "reward")
    assert reward["baseline_n"] == 60 and reward["window_n"] == 60
    assert reward["relative_change_pct"] < -15 and reward["ci_high_pct"] < 0 and reward["p_value"] < 0.001
    assert reward["beyond_band"] and reward["degraded"]
    assert evidence["degraded"] and evidence["degraded_scores"] == ["reward"]
    length = evidence["context"]["response_tokens"]
    assert length["relative_change_pct"] > 100  # the style change is visible as such
    assert {"relevance", "response_tokens"} == set(evidence["context"])
    assert evidence["context"]["relevance"]["window_n"] == 60


def test_an_unchanged_reward_is_not_degradation(monitored):
    start = T0 + dt.timedelta(days=3)
    _ingest(monitored, start, 60, 0.80, prefix="same", seed=3)
    evidence = selectors.quality_evidence(deployment=monitored, start=start, end=start + dt.timedelta(days=1))
    assert not evidence["degraded"]
    assert not next(s for s in evidence["scores"] if s["name"] == "reward")["beyond_band"]


def test_the_quality_endpoint_answers_the_evidence_and_refuses_a_bad_window(personas, monitored):
    start = T0 + dt.timedelta(days=3)
    _ingest(monitored, start, 30, 0.60, prefix="api", seed=4)
    client = personas.api("charlie")
    url = f"/api/v1/deployments/{monitored.slug}/quality"
    r = client.get(url, {"window_start": start.isoformat(), "window_end": (start + dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 200 and r.json()["degraded_scores"] == ["reward"]
    bad = client.get(url, {"window_start": "yesterday", "window_end": start.isoformat()})
    assert bad.status_code == 400 and "window_start" in bad.json()
    assert personas.api("mallory").get(url, {"window_start": start.isoformat(),
                                             "window_end": start.isoformat()}).status_code == 403


def test_without_an_active_baseline_the_evidence_says_so():
    deployment = factories.deployment()
    evidence = selectors.quality_evidence(deployment=deployment, start=T0, end=T0 + dt.timedelta(days=1))
    assert not evidence["degraded"] and "no active baseline" in evidence["note"]


def test_the_deployment_page_shows_the_quality_and_relevance_series(monitored, personas, client):
    start = timezone.now() - dt.timedelta(days=1)
    _ingest(monitored, start, 25, 0.7, prefix="recent", seed=5)
    series = selectors.quality_series(deployment=monitored)
    assert "score:reward" in series["series"] and "relevance" in series["series"]
    assert sum(series["counts"]["score:reward"]) == 60 + 25  # the baseline's 60 (10 days ago) and today's 25
    client.force_login(personas.erin)
    page = client.get(f"/deployments/{monitored.slug}/").content.decode()
    assert "Quality signals" in page and "score:reward" in page
