"""Rate limits on the tracing-tool endpoints (OTLP, Langfuse, Phoenix): requests per ingestion key from
DRIFTDESK_TRACE_INGEST_RATE; over it, 429 with Retry-After (the OTLP way on the OTLP receiver)."""

from __future__ import annotations

import json

import pytest
from google.rpc.status_pb2 import Status

from drift_app.models import ApiKey, ProductionSample
from drift_app.services import ingestion_key_create
from tests import factories
from tests.drift.test_otlp_receiver import GENAI_CURRENT, _post, _protobuf

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment():
    return factories.deployment(current_model_version="v-default")


def _key(deployment, user) -> str:
    return ingestion_key_create(deployment=deployment, user=user, name="otel",
                                scopes=[ApiKey.Scope.INGEST_SAMPLES, ApiKey.Scope.INGEST_FEEDBACK])[1]


def test_the_otlp_receiver_answers_429_with_retry_after_and_a_status_over_the_keys_rate(deployment, personas, settings):
    settings.DRIFTDESK_TRACE_INGEST_RATE = "2/minute"
    key = _key(deployment, personas.erin)
    body = _protobuf(GENAI_CURRENT)
    assert [_post(body, key).status_code for _ in range(2)] == [200, 200]
    r = _post(_protobuf(GENAI_CURRENT), key)
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    status = Status.FromString(r.content)
    assert status.code == 8 and "2/minute" in status.message
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1  # the third export was not read


def test_otlp_json_clients_get_the_429_status_as_json(deployment, personas, settings):
    settings.DRIFTDESK_TRACE_INGEST_RATE = "1/minute"
    key = _key(deployment, personas.erin)
    from tests.drift.test_otlp_receiver import _spans, otlp_json

    body = otlp_json(_spans(GENAI_CURRENT))
    assert _post(body, key, content_type="application/json").status_code == 200
    r = _post(body, key, content_type="application/json")
    assert r.status_code == 429 and r["Retry-After"]
    assert json.loads(r.content)["code"] == 8


def test_the_limit_counts_per_key_not_per_deployment(deployment, personas, settings):
    settings.DRIFTDESK_TRACE_INGEST_RATE = "1/minute"
    first, second = _key(deployment, personas.erin), _key(deployment, personas.erin)
    body = _protobuf(GENAI_CURRENT)
    assert _post(body, first).status_code == 200
    assert _post(body, first).status_code == 429
    assert _post(body, second).status_code == 200


@pytest.mark.parametrize("path, payload", [
    ("/api/public/ingestion", {"batch": []}),
    ("/api/public/scores", {"name": "helpfulness", "value": 1, "traceId": "0af7651916cd43dd8448eb211c80319c"}),
    ("/v1/span_annotations", {"data": [{"span_id": "b7ad6b7169203331", "name": "x", "result": {"score": 1}}]}),
])
def test_the_langfuse_and_phoenix_endpoints_answer_429_with_retry_after(deployment, personas, settings, path, payload):
    settings.DRIFTDESK_TRACE_INGEST_RATE = "1/minute"
    key = _key(deployment, personas.erin)
    first = _post(json.dumps(payload).encode(), key, path=path, content_type="application/json")
    assert first.status_code < 400, first.content
    r = _post(json.dumps(payload).encode(), key, path=path, content_type="application/json")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert "throttled" in r.json()["detail"].lower() or "request" in r.json()["detail"].lower()
