"""Team admins and ML engineers create deployments and change their thresholds through the API (issue 14:
POST /api/v1/deployments and a threshold PATCH answered 405). Every change is audited."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from compliance.models import AuditEvent
from drift_app.models import Deployment
from drift_app.services import personal_token_create
from tests import factories
from tests.base import join_team

pytestmark = pytest.mark.django_db
BODY = {"name": "Billing bot", "slug": "billing-bot", "current_model_version": "v1", "code_red_drop_pct": 20}


def _send(client, method, url, body):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def test_an_ml_engineer_creates_a_deployment_in_their_team(personas):
    r = _send(personas.api("erin"), "post", "/api/v1/deployments", BODY)
    assert r.status_code == 201, r.json()
    assert r.json()["team"] == "default" and r.json()["code_red_drop_pct"] == 20
    deployment = Deployment.objects.get(slug="billing-bot")
    assert AuditEvent.objects.filter(object_type="drift_app.Deployment", object_id=str(deployment.pk),
                                     action="create", actor_username="erin").exists()


def test_a_team_admin_without_a_role_group_creates_one_in_the_team_they_administer(personas):
    other = factories.team(slug="payments")
    tess = User.objects.create_user("tess")
    join_team(tess, "team_admin", other)
    client = personas.api(None)
    _, secret = personal_token_create(user=tess, name="tess")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    r = _send(client, "post", "/api/v1/deployments", BODY)
    assert r.status_code == 201 and r.json()["team"] == "payments"
    # ... but not in a team she does not administer.
    r = _send(client, "post", "/api/v1/deployments", {**BODY, "slug": "b2", "team": "default"})
    assert r.status_code == 400 and "team" in r.json()


@pytest.mark.parametrize("name, status", [("bob", 403), ("charlie", 403), ("alice", 403), ("mallory", 403), (None, 401)])
def test_other_roles_cannot_create_deployments(personas, name, status):
    assert _send(personas.api(name), "post", "/api/v1/deployments", BODY).status_code == status
    assert not Deployment.objects.filter(slug="billing-bot").exists()


@pytest.mark.parametrize("body, field", [
    ({**BODY, "code_red_drop_pct": 150}, "code_red_drop_pct"),
    ({**BODY, "slug": "not a slug"}, "slug"),
    ({**BODY, "review_drop_pct": 30}, "review_drop_pct"),
    ({**BODY, "is_superuser": True}, "is_superuser"),
    ({k: v for k, v in BODY.items() if k != "name"}, "name"),
])
def test_a_bad_deployment_is_a_400_naming_the_field(personas, body, field):
    r = _send(personas.api("erin"), "post", "/api/v1/deployments", body)
    assert r.status_code == 400 and field in json.dumps(r.json())


def test_an_ml_engineer_changes_a_threshold_with_patch_and_it_is_audited(personas):
    deployment = factories.deployment()
    r = _send(personas.api("erin"), "patch", f"/api/v1/deployments/{deployment.slug}", {"code_red_drop_pct": 25})
    assert r.status_code == 200 and r.json()["code_red_drop_pct"] == 25
    event = AuditEvent.objects.filter(object_type="drift_app.Deployment", object_id=str(deployment.pk), action="update").get()
    assert event.after == {"code_red_drop_pct": 25.0} and event.actor_username == "erin"


def test_a_threshold_patch_is_refused_to_an_sme_and_to_another_team(personas):
    deployment = factories.deployment()
    assert _send(personas.api("bob"), "patch", f"/api/v1/deployments/{deployment.slug}",
                 {"code_red_drop_pct": 25}).status_code == 403
    theirs = factories.deployment(team=factories.team())
    assert _send(personas.api("erin"), "patch", f"/api/v1/deployments/{theirs.slug}",
                 {"code_red_drop_pct": 25}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.code_red_drop_pct == 15.0


def test_an_invalid_threshold_patch_is_a_400_and_changes_nothing(personas):
    deployment = factories.deployment()
    r = _send(personas.api("erin"), "patch", f"/api/v1/deployments/{deployment.slug}", {"review_drop_pct": 99})
    assert r.status_code == 400 and "review_drop_pct" in r.json()
    deployment.refresh_from_db()
    assert deployment.review_drop_pct == 5.0
