"""PostgreSQL restarted during ingestion: clients get 503 with Retry-After, a retry succeeds, nothing is duplicated."""

from __future__ import annotations

import json

import pytest
from django.db import connections

from drift_app.models import ProductionSample
from tests import factories

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_postgres_restart_answers_503_and_the_retried_batch_is_stored_once(personas, embedded_postgres, redis_server, client):
    import redis

    client_page = client
    client_page.force_login(personas.erin)
    deployment = factories.deployment()
    client = personas.api("erin")
    url = f"/api/v1/deployments/{deployment.slug}/samples"
    first = [factories.sample_record(i) for i in range(50)]
    second = [factories.sample_record(i) for i in range(25, 100)]  # overlaps the first batch
    assert client.post(url, data=json.dumps(first), content_type="application/json").status_code == 201

    embedded_postgres.stop()
    try:
        down = client.post(url, data=json.dumps(second), content_type="application/json")
        page = client_page.get(f"/deployments/{deployment.slug}/", HTTP_ACCEPT="text/html")
    finally:
        embedded_postgres.start()
        connections.close_all()

    assert down.status_code == 503, down.content
    assert int(down["Retry-After"]) > 0
    assert "database" in down.json()["detail"]
    assert page.status_code == 503 and "Retry-After" in page
    retried = client.post(url, data=json.dumps(second), content_type="application/json")
    assert retried.status_code == 201, retried.content
    assert retried.json()["created"] == 50 and retried.json()["existing"] == 25
    assert ProductionSample.objects.filter(deployment=deployment).count() == 100
    redis.Redis.from_url(redis_server).delete("embeddings")
