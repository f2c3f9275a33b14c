"""Team management pages: team admins change members and roles; team admins and ML engineers make ingestion keys
(the secret shown once) and revoke them after a confirmation; every change is audited (issue 14)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from compliance.models import AuditEvent
from drift_app.models import ApiKey, TeamMembership
from tests import factories
from tests.base import join_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(personas):
    """The default team's admin."""
    user = User.objects.create_user("ada")
    join_team(user, "team_admin")
    return user


@pytest.fixture
def bot(personas):
    return factories.deployment(name="Support bot", slug="support-bot")


def test_a_team_admin_gives_a_role_and_the_change_is_audited_with_her_name(client, ada, personas):
    client.force_login(ada)
    r = client.post("/teams/default/", {"action": "add_member", "username": "mallory", "role": "sme"})
    assert r.status_code == 302
    membership = TeamMembership.objects.get(user=personas.mallory, role="sme")
    event = AuditEvent.objects.get(object_type="drift_app.TeamMembership", object_id=str(membership.pk), action="create")
    assert event.actor_username == "ada" and event.source == "web"


def test_a_team_admin_removes_a_role_and_the_removal_is_audited(client, ada, personas):
    client.force_login(ada)
    membership = TeamMembership.objects.get(user=personas.alice, role="power_user")
    assert client.post("/teams/default/", {"action": "remove_member", "membership": membership.pk}).status_code == 302
    assert not TeamMembership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.get(object_type="drift_app.TeamMembership", object_id=str(membership.pk), action="delete")
    assert event.actor_username == "ada" and event.before["role"] == "power_user"


def test_the_last_team_admin_cannot_be_removed(client, ada):
    client.force_login(ada)
    own = TeamMembership.objects.get(user=ada, role="team_admin")
    client.post("/teams/default/", {"action": "remove_member", "membership": own.pk})
    assert TeamMembership.objects.filter(pk=own.pk).exists()


def test_an_unknown_user_name_is_refused_naming_the_field(client, ada):
    client.force_login(ada)
    r = client.post("/teams/default/", {"action": "add_member", "username": "nobody-here", "role": "sme"}, follow=True)
    assert "username: no active user has this user name" in r.content.decode()


def test_an_unknown_action_is_a_400_naming_it(client, ada):
    client.force_login(ada)
    r = client.post("/teams/default/", {"action": "make_me_superuser"})
    assert r.status_code == 400 and "action" in r.content.decode()


def test_an_ml_engineer_cannot_change_members(client, personas):
    client.force_login(personas.erin)
    r = client.post("/teams/default/", {"action": "add_member", "username": "mallory", "role": "ml_engineer"})
    assert r.status_code == 403
    assert not TeamMembership.objects.filter(user=personas.mallory).exists()


def test_other_roles_and_other_teams_do_not_open_the_page(client, personas, ada):
    client.force_login(personas.bob)
    assert client.get("/teams/default/").status_code == 403
    factories.team(name="Payments", slug="payments")
    client.force_login(ada)
    assert client.get("/teams/payments/").status_code == 404


def test_a_new_key_s_secret_is_shown_once_and_stored_only_hashed(client, personas, bot):
    client.force_login(personas.erin)
    r = client.post("/teams/default/", {"action": "create_key", "deployment": "support-bot", "name": "ingest",
                                        "scopes": ["ingest:samples"]})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(deployment=bot, name="ingest")
    secret = r.context["new_secret"]
    assert secret.startswith(key.prefix) and secret in r.content.decode()
    assert secret not in client.get("/teams/default/").content.decode()
    assert secret not in str(list(ApiKey.objects.values()))
    api = client.__class__()
    ingest = api.post("/api/v1/deployments/support-bot/samples", data=factories.sample_record(1),
                      content_type="application/json", HTTP_AUTHORIZATION=f"Token {secret}")
    assert ingest.status_code in (201, 202), ingest.content


def test_revoking_a_key_needs_its_prefix_typed_as_confirmation(client, personas, bot):
    from drift_app.services import ingestion_key_create

    key, _ = ingestion_key_create(deployment=bot, user=personas.erin, name="old", scopes=["ingest:samples"])
    client.force_login(personas.erin)
    assert key.prefix in client.get(f"/teams/default/?revoke={key.prefix}").content.decode()
    client.post("/teams/default/", {"action": "revoke_key", "prefix": key.prefix, "confirm": "yes"})
    key.refresh_from_db()
    assert key.revoked_at is None
    client.post("/teams/default/", {"action": "revoke_key", "prefix": key.prefix, "confirm": key.prefix})
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == personas.erin
    event = AuditEvent.objects.filter(object_type="drift_app.ApiKey", object_id=str(key.pk), action="update").last()
    assert "revoked_at" in event.changed_fields and event.actor_username == "erin"
