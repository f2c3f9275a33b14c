"""Scores that arrive before their trace (SDKs flush scores and spans on separate queues): held per deployment,
bounded in time and count, and applied when a sample of the trace is stored, by any ingestion path."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from feedback.models import DeploymentFeedbackSettings, Flag, PendingToolFeedback
from drift_app.models import ProductionSample
from tests import factories
from tests.drift.test_otlp_receiver import GENAI_CURRENT, _post as _post_otlp
from tests.drift.test_otlp_receiver import _spans
from tests.feedback.test_tool_feedback import GEN, TRACE, _generation, _key, _post, _score

pytestmark = pytest.mark.django_db


@pytest.fixture
def land(django_capture_on_commit_callbacks):
    """Post a trace and run its commit hooks: held scores are applied once the samples' transaction commits,
    and these tests run inside one transaction that never does."""

    def post(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return post


@pytest.fixture
def deployment():
    return factories.deployment(current_model_version="v-default")


@pytest.fixture
def key(deployment, personas):
    return _key(deployment, personas.erin)


def test_a_thumbs_down_sent_before_its_trace_flags_the_sample_when_the_trace_lands(deployment, key, land):
    r = _post(key, "/api/public/ingestion", {"batch": [_score()]})
    assert r.json()["successes"] == [{"id": "e-score", "status": 202}] and not r.json()["errors"]
    assert not Flag.objects.exists() and PendingToolFeedback.objects.count() == 1

    land(_post, key, "/api/public/ingestion", {"batch": [_generation()]})
    sample = ProductionSample.objects.get(deployment=deployment)
    flag = Flag.objects.get(sample=sample)
    assert flag.status == Flag.Status.OPEN and "not what I asked" in flag.comment
    assert ProductionSample.objects.get(pk=sample.pk).scores == {"user_feedback": 0.0}
    assert not PendingToolFeedback.objects.exists()


def test_a_held_score_reaches_a_trace_that_arrives_over_otlp(deployment, key, land):
    spans = _spans(GENAI_CURRENT)
    trace_id = format(spans[0].context.trace_id, "032x")
    DeploymentFeedbackSettings.objects.create(deployment=deployment, score_flag_thresholds={"helpfulness": 0.5})
    r = _post(key, "/api/public/scores", {"name": "helpfulness", "value": 0.8, "traceId": trace_id})
    assert r.status_code == 202
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    assert land(_post_otlp, encode_spans(spans).SerializeToString(), key).status_code == 200
    sample = ProductionSample.objects.get(deployment=deployment)
    assert sample.scores == {"helpfulness": 0.8}
    assert not Flag.objects.exists() and not PendingToolFeedback.objects.exists()


def test_a_score_for_one_span_waits_for_that_span_not_just_its_trace(deployment, key, land):
    later = "c7ad6b7169203332"
    _post(key, "/api/public/ingestion", {"batch": [_score(observationId=later)]})
    land(_post, key, "/api/public/ingestion", {"batch": [_generation()]})  # another LLM call of the same trace
    assert not Flag.objects.exists() and PendingToolFeedback.objects.count() == 1
    land(_post, key, "/api/public/ingestion", {"batch": [_generation("e-gen-2", id=later)]})
    assert Flag.objects.get().sample.external_id == f"{TRACE}:{later}"
    assert not PendingToolFeedback.objects.exists()


def test_a_held_score_is_never_applied_to_another_deployments_trace(deployment, key, land, personas):
    other = factories.deployment()
    _post(key, "/api/public/ingestion", {"batch": [_score()]})
    land(_post, _key(other, personas.erin), "/api/public/ingestion", {"batch": [_generation()]})
    assert not Flag.objects.exists()
    assert PendingToolFeedback.objects.get().deployment == deployment


def test_an_expired_held_score_is_dropped_not_applied(deployment, key, land):
    _post(key, "/api/public/ingestion", {"batch": [_score()]})
    PendingToolFeedback.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    land(_post, key, "/api/public/ingestion", {"batch": [_generation()]})
    assert not Flag.objects.exists() and not PendingToolFeedback.objects.exists()


def test_holding_is_bounded_per_deployment_and_the_404_says_why(deployment, key, settings):
    settings.DRIFTDESK_PENDING_FEEDBACK_MAX = 1
    assert _post(key, "/api/public/scores", {"name": "a", "value": 1, "traceId": TRACE}).status_code == 202
    r = _post(key, "/api/public/scores", {"name": "b", "value": 1, "traceId": TRACE})
    assert r.status_code == 207
    error = r.json()["errors"][0]
    assert error["status"] == 404 and "DRIFTDESK_PENDING_FEEDBACK_MAX" in error["message"]
    assert PendingToolFeedback.objects.count() == 1


def test_with_holding_off_a_score_before_its_trace_is_a_404_naming_the_trace(deployment, key, settings):
    settings.DRIFTDESK_PENDING_FEEDBACK_SECONDS = 0
    r = _post(key, "/api/public/ingestion", {"batch": [_score()]})
    error = r.json()["errors"][0]
    assert error["status"] == 404 and TRACE in error["message"]
    assert not PendingToolFeedback.objects.exists()


def test_a_phoenix_annotation_before_its_span_is_held_and_applied(deployment, key, land):
    r = _post(key, "/v1/span_annotations", {"data": [
        {"span_id": GEN, "name": "correctness", "result": {"label": "incorrect", "explanation": "wrong menu"}}]})
    assert r.status_code == 200 and r.json()["data"][0]["id"].startswith("pending-")
    land(_post, key, "/api/public/ingestion", {"batch": [_generation()]})
    assert "wrong menu" in Flag.objects.get().comment
