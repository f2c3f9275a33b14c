"""Personal API tokens and per-deployment ingestion keys: shown once, stored hashed, scoped, expiring, revocable.

Regression tests for issue 14: every user's API token was readable in the admin, and ingestion clients
held ML-engineer tokens (with all of that role's powers) instead of a key that can only ingest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.db import connection
from django.utils import timezone

from compliance.models import AuditEvent
from drift_app.models import ApiKey
from drift_app.services import api_key_revoke, ingestion_key_create, personal_token_create
from tests import factories

pytestmark = pytest.mark.django_db


def _client(personas, secret: str):
    client = personas.api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_a_personal_token_is_shown_once_and_stored_only_as_its_hash(personas):
    r = _post(personas.api("erin"), "/api/v1/tokens", {"name": "laptop"})
    assert r.status_code == 201
    secret = r.json()["secret"]
    key = ApiKey.objects.get(prefix=r.json()["prefix"])
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM drift_app_apikey k WHERE id = %s", [key.pk])
        assert secret not in cursor.fetchone()[0]
    listed = personas.api("erin").get("/api/v1/tokens").content.decode()
    assert secret not in listed and key.secret_hash not in listed and key.prefix in listed


def test_a_revoked_or_expired_token_is_a_401(personas):
    key, secret = personal_token_create(user=personas.bob, name="old")
    assert _client(personas, secret).get("/api/v1/golden/items").status_code == 200
    api_key_revoke(key=key, user=personas.bob)
    assert _client(personas, secret).get("/api/v1/golden/items").status_code == 401
    key, secret = personal_token_create(user=personas.bob, name="short", expires_at=timezone.now() + dt.timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert _client(personas, secret).get("/api/v1/golden/items").status_code == 401


def test_a_read_only_token_cannot_write(personas):
    _, secret = personal_token_create(user=personas.erin, name="dashboards", scopes=["read"])
    client = _client(personas, secret)
    assert client.get("/api/v1/deployments").status_code == 200
    assert _post(client, "/api/v1/deployments", {"name": "x", "slug": "x", "current_model_version": "v1"}).status_code == 403


def test_nobody_revokes_another_user_s_token(personas):
    key, _ = personal_token_create(user=personas.bob, name="bob's")
    assert _post(personas.api("carol"), f"/api/v1/tokens/{key.prefix}/revoke", {}).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("body, field", [
    ({}, "name"), ({"name": "x", "scopes": ["admin"]}, "scopes"),
    ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"), ({"name": "x", "user": 1}, "user"),
])
def test_a_bad_token_request_is_a_400_naming_the_field(personas, body, field):
    r = _post(personas.api("erin"), "/api/v1/tokens", body)
    assert r.status_code == 400 and field in r.json()


def test_an_ml_engineer_makes_an_ingestion_key_that_ingests_into_its_deployment_only(personas):
    ours, other = factories.deployment(), factories.deployment()
    r = _post(personas.api("erin"), f"/api/v1/deployments/{ours.slug}/ingestion-keys", {"name": "chat backend"})
    assert r.status_code == 201 and r.json()["scopes"] == ["ingest:samples"]
    key = _client(personas, r.json()["secret"])
    assert _post(key, f"/api/v1/deployments/{ours.slug}/samples", factories.sample_record(1)).status_code == 201
    assert _post(key, f"/api/v1/deployments/{other.slug}/samples", factories.sample_record(2)).status_code in (401, 403)
    # It is not a user: it reads nothing and does nothing else.
    for url in (f"/api/v1/deployments/{ours.slug}/samples", "/api/v1/deployments", "/api/v1/golden/items", "/api/v1/tokens"):
        assert key.get(url).status_code in (401, 403), url
    assert other.samples.count() == 0 and ours.samples.count() == 1
    listed = personas.api("erin").get(f"/api/v1/deployments/{ours.slug}/ingestion-keys").content.decode()
    assert r.json()["secret"] not in listed and r.json()["prefix"] in listed


def test_a_feedback_only_ingestion_key_cannot_ingest_samples(personas):
    deployment = factories.deployment()
    _, secret = ingestion_key_create(deployment=deployment, user=personas.erin, name="f", scopes=["ingest:feedback"])
    r = _post(_client(personas, secret), f"/api/v1/deployments/{deployment.slug}/samples", factories.sample_record(1))
    assert r.status_code in (401, 403) and deployment.samples.count() == 0


def test_a_revoked_ingestion_key_is_refused(personas):
    deployment = factories.deployment()
    key, secret = ingestion_key_create(deployment=deployment, user=personas.erin, name="k", scopes=["ingest:samples"])
    r = _post(personas.api("erin"), f"/api/v1/deployments/{deployment.slug}/ingestion-keys/{key.prefix}/revoke", {})
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert _post(_client(personas, secret), f"/api/v1/deployments/{deployment.slug}/samples",
                 factories.sample_record(1)).status_code == 401


def test_only_the_team_s_ml_engineers_and_admins_manage_ingestion_keys(personas):
    ours = factories.deployment()
    theirs = factories.deployment(team=factories.team())
    for name in ("bob", "charlie", "alice"):
        assert _post(personas.api(name), f"/api/v1/deployments/{ours.slug}/ingestion-keys", {"name": "x"}).status_code == 403
    assert _post(personas.api("erin"), f"/api/v1/deployments/{theirs.slug}/ingestion-keys", {"name": "x"}).status_code == 404
    assert not ApiKey.objects.filter(kind="ingestion").exists()


def test_key_creation_and_revocation_are_audited_without_the_secret_or_its_hash(personas):
    key, secret = personal_token_create(user=personas.bob, name="ci")
    api_key_revoke(key=key, user=personas.bob)
    events = AuditEvent.objects.filter(object_type="drift_app.ApiKey", object_id=str(key.pk)).order_by("id")
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].changed_fields == ["revoked_at", "revoked_by_id"]
    dumped = json.dumps([[e.before, e.after] for e in events])
    assert secret not in dumped and key.secret_hash not in dumped
