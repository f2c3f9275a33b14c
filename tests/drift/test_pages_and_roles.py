"""Pages, login and the admin check roles."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from drift_app.models import ProductionSample
from tests import factories
from tests.base import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_role_groups_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {"power_user", "sme", "compliance", "ml_engineer"}


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    r = client.get("/")
    assert r.status_code == 302 and r.url.startswith("/login/")


def test_a_persona_logs_in_and_sees_role_aware_navigation(client, personas):
    r = client.post("/login/", {"username": "erin", "password": PASSWORD})
    assert r.status_code == 302
    page = client.get("/").content.decode()
    assert "ML engineer" in page and 'href="/admin/"' in page and "Deployments" in page
    client.post("/logout/")
    client.post("/login/", {"username": "alice", "password": PASSWORD})
    page = client.get("/").content.decode()
    assert "Power user" in page and 'href="/admin/"' not in page


def test_the_login_page_rejects_a_wrong_password(client, personas):
    r = client.post("/login/", {"username": "erin", "password": "nope"})
    assert r.status_code == 200 and "didn't match" in r.content.decode()


@pytest.mark.parametrize("name, status", [("erin", 200), ("bob", 200), ("charlie", 200), ("alice", 403), ("mallory", 403)])
def test_the_deployment_pages_check_the_role(client, personas, name, status):
    deployment = factories.deployment()
    client.force_login(getattr(personas, name))
    assert client.get("/deployments/").status_code == status
    assert client.get(f"/deployments/{deployment.slug}/").status_code == status


def test_power_users_can_open_a_sample_to_flag_it(client, personas):
    deployment = factories.deployment()
    sample = ProductionSample.objects.create(
        deployment=deployment, external_id="s1", prompt="What is the price?", response="$49",
        model_version="v1", client_timestamp="2026-11-01T00:00:00Z",
    )
    client.force_login(personas.alice)
    r = client.get(f"/deployments/{deployment.slug}/samples/{sample.id}/")
    assert r.status_code == 200 and "What is the price?" in r.content.decode()
    client.force_login(personas.mallory)
    assert client.get(f"/deployments/{deployment.slug}/samples/{sample.id}/").status_code == 403


@pytest.mark.parametrize("name, allowed", [("erin", True), ("bob", False), ("charlie", False), ("alice", False)])
def test_only_ml_engineers_use_the_admin(client, personas, name, allowed):
    client.force_login(getattr(personas, name))
    r = client.get("/admin/")
    assert (r.status_code == 200) is allowed
    if allowed:
        for path in ("/admin/drift_app/deployment/", "/admin/drift_app/productionsample/",
                     "/admin/drift_app/driftrun/", "/admin/django_celery_beat/periodictask/"):
            assert client.get(path).status_code == 200, path
