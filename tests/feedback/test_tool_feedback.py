"""Feedback in the shapes tracing tools send: Langfuse's batch ingestion (generations and score events, 207 per
event), Langfuse score lists, Phoenix span annotations. Negative verdicts and scores under the deployment's
threshold flag the answer for SME triage; numeric scores ride along as sample scores."""

from __future__ import annotations

import base64
import json

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from drift_app.models import ApiKey, ProductionSample
from drift_app.services import ingestion_key_create
from feedback.models import DeploymentFeedbackSettings, Flag, PendingToolFeedback
from tests import factories

pytestmark = pytest.mark.django_db

TRACE = "0af7651916cd43dd8448eb211c80319c"
GEN = "b7ad6b7169203331"


@pytest.fixture
def deployment():
    return factories.deployment(current_model_version="v-default")


def _key(deployment, user, scopes=(ApiKey.Scope.INGEST_SAMPLES, ApiKey.Scope.INGEST_FEEDBACK)) -> str:
    return ingestion_key_create(deployment=deployment, user=user, name="langfuse", scopes=list(scopes))[1]


@pytest.fixture
def key(deployment, personas):
    return _key(deployment, personas.erin)


def _client(secret: str, *, basic: bool = False) -> APIClient:
    client = APIClient()
    if basic:
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{secret[:12]}:{secret}".encode()).decode())
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _post(secret, path, body, **kw):
    return _client(secret, **kw).post(path, data=json.dumps(body), content_type="application/json")


def _generation(event_id="e-gen", *, output=True, **body):
    return {"id": event_id, "type": "generation-create", "timestamp": "2026-11-20T10:00:00Z", "body": {
        "id": GEN, "traceId": TRACE, "name": "chat", "model": "support-ft-7",
        "startTime": "2026-11-20T10:00:00Z", "endTime": "2026-11-20T10:00:01Z",
        "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my invoice?"}],
        **({"output": {"role": "assistant", "content": "Under Billing."}} if output else {}), **body}}


def _score(event_id="e-score", **body):
    return {"id": event_id, "type": "score-create", "timestamp": "2026-11-20T10:01:00Z",
            "body": {"id": f"s-{event_id}", "traceId": TRACE, "name": "user_feedback", "value": 0,
                     "dataType": "BOOLEAN", "comment": "not what I asked", **body}}


def test_a_batch_of_trace_generation_and_score_events_fills_a_sample_and_a_flag(deployment, key):
    batch = [{"id": "e-trace", "type": "trace-create", "timestamp": "2026-11-20T10:00:00Z",
              "body": {"id": TRACE, "name": "support"}},
             _generation(output=False),
             {"id": "e-upd", "type": "generation-update", "timestamp": "2026-11-20T10:00:01Z",
              "body": {"id": GEN, "traceId": TRACE, "output": "Under Billing."}},
             _score()]
    r = _post(key, "/api/public/ingestion", {"batch": batch}, basic=True)
    assert r.status_code == 207, r.content
    assert r.json()["errors"] == []
    assert {s["id"] for s in r.json()["successes"]} == {"e-trace", "e-gen", "e-upd", "e-score"}
    sample = ProductionSample.objects.get(deployment=deployment)
    assert (sample.external_id, sample.prompt, sample.prompt_system, sample.response, sample.model_version) == (
        f"{TRACE}:{GEN}", "Where is my invoice?", "Be brief.", "Under Billing.", "support-ft-7")
    flag = Flag.objects.get(sample=sample)
    assert flag.status == Flag.Status.OPEN and "not what I asked" in flag.comment
    assert sample.__class__.objects.get(pk=sample.pk).scores == {"user_feedback": 0.0}
    assert AuditEvent.objects.filter(object_type="feedback.Flag", object_id=str(flag.pk)).exists()


def test_each_bad_event_gets_its_own_status_naming_the_problem(deployment, key):
    no_prompt = _generation("e-empty", id="g2", input=[])
    batch = [_generation(), no_prompt, {"id": "e-odd", "type": "mystery-create", "body": {}},
             _score("e-lost", traceId="ffffffffffffffffffffffffffffffff"), "not an event"]
    r = _post(key, "/api/public/ingestion", {"batch": batch})
    assert r.status_code == 207
    errors = {e["id"]: e for e in r.json()["errors"]}
    assert errors["e-empty"]["status"] == 400 and "prompt" in errors["e-empty"]["message"]
    assert errors["e-odd"]["status"] == 400 and "type" in errors["e-odd"]["message"]
    assert errors[None]["message"].startswith("batch[4]")
    # A score for a trace not seen yet is held (202) until the trace arrives (tests/feedback/test_scores_before_traces.py).
    assert [(s["id"], s["status"]) for s in r.json()["successes"]] == [("e-gen", 201), ("e-lost", 202)]
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1


def test_a_body_that_is_not_a_batch_is_a_400_naming_the_field(key):
    r = _post(key, "/api/public/ingestion", {"events": []})
    assert r.status_code == 400 and "batch" in r.json()["detail"]


def test_a_key_without_the_samples_scope_cannot_send_generations(deployment, personas):
    feedback_only = _key(deployment, personas.erin, scopes=[ApiKey.Scope.INGEST_FEEDBACK])
    r = _post(feedback_only, "/api/public/ingestion", {"batch": [_generation()]})
    assert r.status_code == 207 and r.json()["errors"][0]["status"] == 403
    assert not ProductionSample.objects.exists()


def test_a_key_without_the_feedback_scope_cannot_send_scores(deployment, personas):
    samples_only = _key(deployment, personas.erin, scopes=[ApiKey.Scope.INGEST_SAMPLES])
    r = _post(samples_only, "/api/public/ingestion", {"batch": [_generation(), _score()]})
    assert r.status_code == 207
    assert [e["status"] for e in r.json()["errors"]] == [403]
    assert not Flag.objects.exists()


def test_scores_above_the_threshold_ride_along_and_below_it_flag(deployment, key):
    DeploymentFeedbackSettings.objects.create(deployment=deployment, score_flag_thresholds={"faithfulness": 0.7})
    _post(key, "/api/public/ingestion", {"batch": [_generation()]})
    sample = ProductionSample.objects.get(deployment=deployment)
    r = _post(key, "/api/public/scores", [
        {"name": "faithfulness", "value": 0.92, "traceId": TRACE, "observationId": GEN},
        {"name": "relevance score", "value": 0.1, "traceId": TRACE},  # no threshold for it: a score only
    ])
    assert r.status_code == 202 and r.json() == {"message": "Accepted"}
    sample.refresh_from_db()
    assert sample.scores == {"faithfulness": 0.92, "relevance_score": 0.1}
    assert not Flag.objects.exists()
    r = _post(key, "/api/public/scores", {"name": "faithfulness", "value": 0.4, "traceId": TRACE})
    assert r.status_code == 202
    assert Flag.objects.get(sample=sample).comment.startswith("[langfuse score 'faithfulness': 0.4 below")


def test_refused_scores_are_counted_the_langfuse_way(deployment, key):
    _post(key, "/api/public/ingestion", {"batch": [_generation()]})
    r = _post(key, "/api/public/scores", [{"name": "helpfulness", "value": 1, "traceId": TRACE},
                                          {"name": "helpfulness", "value": {"x": 1}, "traceId": TRACE},
                                          {"name": "helpfulness", "value": 1}])
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert "value" in body["errors"][0]["message"] and "traceId" in body["errors"][1]["message"]


def test_a_categorical_thumbs_down_flags_and_a_thumbs_up_does_not(deployment, key):
    _post(key, "/api/public/ingestion", {"batch": [_generation()]})
    _post(key, "/api/public/scores", {"name": "vote", "value": "thumbs_up", "dataType": "CATEGORICAL",
                                      "traceId": TRACE})
    assert not Flag.objects.exists()
    _post(key, "/api/public/scores", {"name": "vote", "value": "thumbs_down", "dataType": "CATEGORICAL",
                                      "traceId": TRACE})
    assert Flag.objects.count() == 1


def test_phoenix_span_annotations_flag_or_score_and_are_all_or_nothing(deployment, key):
    _post(key, "/api/public/ingestion", {"batch": [_generation()]})
    sample = ProductionSample.objects.get(deployment=deployment)
    r = _post(key, "/v1/span_annotations", {"data": [
        {"span_id": GEN, "name": "correctness", "annotator_kind": "HUMAN", "result": {"label": "correct", "score": 1}},
        {"span_id": "0000000000000000", "name": "correctness", "annotator_kind": "HUMAN",
         "result": {"label": "incorrect", "score": "very"}},
    ]})
    assert r.status_code == 400 and "data[1]" in r.json()["detail"] and "score" in r.json()["detail"]
    sample.refresh_from_db()
    assert sample.scores == {} and not Flag.objects.exists()
    r = _post(key, "/v1/span_annotations", {"data": [
        {"span_id": GEN, "name": "correctness", "annotator_kind": "LLM",
         "result": {"label": "incorrect", "score": 0, "explanation": "cites the wrong menu"}},
    ]})
    assert r.status_code == 200 and r.json()["data"][0]["id"].startswith("flag-")
    flag = Flag.objects.get(sample=sample)
    assert "cites the wrong menu" in flag.comment
    sample.refresh_from_db()
    assert sample.scores == {"correctness": 0.0}
    r = _post(key, "/v1/span_annotations", {"data": [{"span_id": GEN, "result": {"score": "high"}}]})
    assert r.status_code == 400 and "name" in r.json()["detail"]


def test_a_key_never_reaches_another_deployments_samples(deployment, key, personas):
    other = factories.deployment()
    other_key = _key(other, personas.erin)
    _post(other_key, "/api/public/ingestion", {"batch": [_generation()]})
    r = _post(key, "/api/public/scores", {"name": "user_feedback", "value": 0, "dataType": "BOOLEAN",
                                          "traceId": TRACE})
    # Not applied to the other deployment's sample: held for this key's deployment, where no such trace is.
    assert r.status_code == 202
    assert not Flag.objects.exists()
    assert PendingToolFeedback.objects.get().deployment == deployment


def test_personal_tokens_and_anonymous_callers_are_refused(personas):
    assert APIClient().post("/api/public/scores", data="{}", content_type="application/json").status_code == 401
    r = personas.api("erin").post("/api/public/ingestion", data="{}", content_type="application/json")
    assert r.status_code == 403


def test_score_thresholds_must_be_numbers_by_name():
    from django.core.exceptions import ValidationError

    from feedback.models import validate_score_thresholds

    validate_score_thresholds({"helpfulness": 0.5, "faithfulness": 1})
    for bad in ([0.5], {"helpfulness": "high"}, {"helpfulness": True}, {"x": float("nan")}):
        with pytest.raises(ValidationError):
            validate_score_thresholds(bad)
