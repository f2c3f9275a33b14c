"""/healthz, /readyz and /metrics: open where load balancers need them, closed where they must be."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from drift_app import ops
from drift_app.services import samples_ingest
from drift_app.validation import parse_samples
from tests import factories


@pytest.fixture
def client():
    return Client()


def _metric(text: str, name: str, labels: str = "") -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{labels} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in metrics:\n{text[:2000]}")


def test_healthz_answers_anyone_without_touching_data(client):
    # No django_db mark: any database access in this request would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


@pytest.mark.django_db
def test_readyz_is_ready_when_the_database_the_broker_and_every_migration_are_there(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_cannot_be_reached(client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:9/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["broker"]}


@pytest.mark.django_db
def test_readyz_names_unapplied_migrations(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("drift_app", "9999_pending")])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["migrations"]


@pytest.mark.django_db
def test_metrics_are_refused_to_a_caller_outside_the_allowed_networks(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert "driftdesk" not in response.content.decode().replace("METRICS", "")


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="scrape-token-123")
def test_metrics_are_served_to_an_outside_caller_with_the_token_and_not_with_a_wrong_one(client):
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer scrape-token-12")
    right = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert (wrong.status_code, right.status_code) == (403, 200)


@pytest.mark.django_db(transaction=True)
def test_metrics_report_ingestion_backlog_queues_tasks_verdicts_and_alerts(client, redis_server):
    import redis

    deployment = factories.deployment()
    before = _metric(client.get("/metrics").content.decode(), "driftdesk_samples_ingested_total")
    records, _ = parse_samples([factories.sample_record(i) for i in range(7)], default_model_version="v1",
                               max_batch=100, max_prompt_chars=1000, max_response_chars=1000)
    # The broker is the suite's Redis: the embedding tasks queue there (no worker in this test).
    broker = redis.Redis.from_url(redis_server)
    broker.delete("embeddings", ops.TASK_METRICS_KEY)
    samples_ingest(deployment=deployment, records=records)
    ops.record_task(name="drift_app.tasks.embed_samples_task", seconds=1.5, failed=False)
    ops.record_task(name="drift_app.tasks.embed_samples_task", seconds=None, failed=True)
    text = client.get("/metrics").content.decode()
    assert _metric(text, "driftdesk_samples_ingested_total") - before == 7
    assert _metric(text, "driftdesk_embedding_backlog") == 7
    assert _metric(text, "driftdesk_queue_length", '{queue="embeddings"}') == 1
    assert _metric(text, "driftdesk_task_seconds_sum", '{task="drift_app.tasks.embed_samples_task"}') == 1.5
    assert _metric(text, "driftdesk_task_failures_total", '{task="drift_app.tasks.embed_samples_task"}') == 1
    assert _metric(text, "driftdesk_verdicts", '{verdict_class="stable"}') == 0
    assert _metric(text, "driftdesk_open_alerts", '{tier="code_red"}') == 0
    broker.delete("embeddings", ops.TASK_METRICS_KEY)


def test_every_response_carries_a_request_id_and_keeps_a_plain_one_from_the_caller(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42")
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID="x\" injected=1")
    fresh = client.get("/healthz")
    assert given["X-Request-ID"] == "lb-7f3a.42"
    assert hostile["X-Request-ID"] != "x\" injected=1" and len(hostile["X-Request-ID"]) == 32
    assert fresh["X-Request-ID"] != hostile["X-Request-ID"]


def test_a_json_log_line_written_during_a_request_carries_its_request_id(settings):
    import io
    import logging.config

    stream = io.StringIO()
    config = {
        "version": 1, "disable_existing_loggers": False,
        "filters": settings.LOGGING["filters"], "formatters": settings.LOGGING["formatters"],
        "handlers": {"s": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json",
                           "filters": ["request_id"]}},
        "loggers": {"driftdesk.test": {"handlers": ["s"], "level": "INFO", "propagate": False}},
    }
    logging.config.dictConfig(config)

    def view(request):
        logging.getLogger("driftdesk.test").info("ingested %d samples", 3)
        from django.http import HttpResponse

        return HttpResponse("ok")

    from django.test import RequestFactory

    response = ops.RequestIdMiddleware(view)(RequestFactory().get("/x", HTTP_X_REQUEST_ID="req-abc"))
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert response["X-Request-ID"] == "req-abc"
    assert line["request_id"] == "req-abc" and line["message"] == "ingested 3 samples" and line["level"] == "INFO"
    logging.getLogger("driftdesk.test").handlers.clear()
