"""Ingestion API: POST /api/v1/deployments/{slug}/samples."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from drift_app.models import ProductionSample
from tests import factories

pytestmark = pytest.mark.django_db


def url(slug: str) -> str:
    return f"/api/v1/deployments/{slug}/samples"


@pytest.fixture
def deployment():
    return factories.deployment()


def post(client, slug, body):
    return client.post(url(slug), data=json.dumps(body), content_type="application/json")


def test_it_stores_one_sample(personas, deployment):
    r = post(personas.api("erin"), deployment.slug, factories.sample_record(1))
    assert r.status_code == 201, r.content
    assert r.json()["created"] == 1
    s = ProductionSample.objects.get(deployment=deployment, external_id="ext-1")
    assert s.model_version == "v1"  # defaulted from the deployment
    assert s.metadata == {"user_tier": "pro"}
    assert r.json()["samples"] == [{"external_id": "ext-1", "id": s.id, "created": True}]


def test_it_stores_a_batch_in_order(personas, deployment):
    records = [factories.sample_record(i, model_version="v2") for i in range(250)]
    r = post(personas.api("erin"), deployment.slug, records)
    assert r.status_code == 201
    body = r.json()
    assert body["created"] == 250
    assert [s["external_id"] for s in body["samples"]] == [f"ext-{i}" for i in range(250)]
    assert ProductionSample.objects.filter(deployment=deployment, model_version="v2").count() == 250


def test_a_retried_batch_creates_no_duplicates_and_returns_the_stored_ids(personas, deployment):
    client = personas.api("erin")
    records = [factories.sample_record(i) for i in range(20)]
    first = post(client, deployment.slug, records[:10]).json()
    second = post(client, deployment.slug, records)
    assert second.status_code == 201
    body = second.json()
    assert body["created"] == 10 and body["existing"] == 10
    first_ids = {s["external_id"]: s["id"] for s in first["samples"]}
    for s in body["samples"][:10]:
        assert s["id"] == first_ids[s["external_id"]] and s["created"] is False
    third = post(client, deployment.slug, records)
    assert third.status_code == 200 and third.json()["created"] == 0
    assert ProductionSample.objects.filter(deployment=deployment).count() == 20


def test_the_same_external_id_may_exist_in_two_deployments(personas, deployment):
    other = factories.deployment()
    client = personas.api("erin")
    assert post(client, deployment.slug, factories.sample_record(1)).status_code == 201
    assert post(client, other.slug, factories.sample_record(1)).status_code == 201


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        ({"prompt": ""}, "prompt", "must not be empty"),
        ({"prompt": "   "}, "prompt", "must not be empty"),
        ({"prompt": 42}, "prompt", "must be a string"),
        ({"response": ["a"]}, "response", "must be a string"),
        ({"external_id": None}, "external_id", "is required"),
        ({"timestamp": "yesterday"}, "timestamp", "not a valid ISO 8601"),
        ({"timestamp": "2026-13-45T00:00:00Z"}, "timestamp", "not a valid ISO 8601"),
        ({"timestamp": "2026-01-01T10:00:00"}, "timestamp", "time zone"),
        ({"timestamp": 1700000000}, "timestamp", "must be an ISO 8601 string"),
        ({"prompt": "bad\x00byte"}, "prompt", "NUL"),
        ({"metadata": {"k": "a\x00b"}}, "metadata", "NUL"),
        ({"metadata": [1, 2]}, "metadata", "must be a JSON object"),
        ({"prompt": "x" * 32_001}, "prompt", "limit is 32000"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(personas, deployment, change, field, fragment):
    good = factories.sample_record(1)
    bad = factories.sample_record(2)
    bad.update(change)
    r = post(personas.api("erin"), deployment.slug, [good, bad])
    assert r.status_code == 400, r.content
    errors = r.json()["errors"]
    assert any(e["index"] == 1 and e["field"] == field and fragment in e["problem"] for e in errors), errors
    # Nothing of a rejected request is stored, not even the good record.
    assert not ProductionSample.objects.filter(deployment=deployment).exists()


def test_a_rejected_request_loses_nothing_already_stored(personas, deployment):
    client = personas.api("erin")
    post(client, deployment.slug, [factories.sample_record(i) for i in range(3)])
    r = post(client, deployment.slug, [factories.sample_record(9, prompt="")])
    assert r.status_code == 400
    assert ProductionSample.objects.filter(deployment=deployment).count() == 3


def test_it_rejects_duplicate_external_ids_within_one_request(personas, deployment):
    r = post(personas.api("erin"), deployment.slug, [factories.sample_record(1), factories.sample_record(1)])
    assert r.status_code == 400
    assert "duplicates" in r.json()["errors"][0]["problem"]


def test_it_rejects_malformed_json(personas, deployment):
    r = personas.api("erin").post(url(deployment.slug), data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert "JSON" in r.json()["detail"]


def test_it_rejects_an_empty_list_and_non_objects(personas, deployment):
    client = personas.api("erin")
    assert post(client, deployment.slug, []).status_code == 400
    assert post(client, deployment.slug, "hello").status_code == 400
    assert post(client, deployment.slug, [1, 2]).status_code == 400


def test_it_rejects_more_than_the_batch_limit(personas, deployment):
    r = post(personas.api("erin"), deployment.slug, [factories.sample_record(i) for i in range(1001)])
    assert r.status_code == 400
    assert "limit is 1000" in r.json()["errors"][0]["problem"]


@override_settings(DRIFTDESK_MAX_BODY_BYTES=2048)
def test_it_answers_413_for_a_body_over_the_size_limit(personas, deployment):
    r = post(personas.api("erin"), deployment.slug, [factories.sample_record(i) for i in range(50)])
    assert r.status_code == 413
    assert "limit is 2048 bytes" in r.json()["detail"]
    assert not ProductionSample.objects.exists()


def test_it_answers_404_for_an_unknown_deployment(personas):
    r = post(personas.api("erin"), "no-such-deployment", factories.sample_record(1))
    assert r.status_code == 404


def test_it_answers_401_without_a_token(personas, deployment):
    r = post(personas.api(None), deployment.slug, factories.sample_record(1))
    assert r.status_code == 401


def test_it_answers_401_for_a_foreign_token(personas, deployment):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert post(client, deployment.slug, factories.sample_record(1)).status_code == 401


@pytest.mark.parametrize("name", ["alice", "bob", "charlie", "mallory"])
def test_it_answers_403_to_roles_that_may_not_ingest(personas, deployment, name):
    r = post(personas.api(name), deployment.slug, factories.sample_record(1))
    assert r.status_code == 403
    assert "roles" in r.json()["detail"]
    assert not ProductionSample.objects.exists()


def test_smes_and_compliance_can_read_samples_but_power_users_cannot(personas, deployment):
    post(personas.api("erin"), deployment.slug, [factories.sample_record(i) for i in range(3)])
    assert personas.api("bob").get(url(deployment.slug)).json()["count"] == 3
    assert personas.api("charlie").get(url(deployment.slug)).status_code == 200
    assert personas.api("alice").get(url(deployment.slug)).status_code == 403


def test_the_openapi_schema_documents_the_ingestion_endpoint(personas):
    client = personas.api("erin")
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    assert "/api/v1/deployments/{slug}/samples" in r.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
