"""Teams own deployments: another team's deployment, sample, flag or report answers 404, never its data.

Regression tests for issue 14: a power user opened any deployment's production prompts by sequential
sample id, and the home page listed every deployment to any signed-in user.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from compliance.models import AuditEvent
from drift_app.models import Team, TeamMembership
from feedback import services as feedback_services
from tests import factories
from tests.base import join_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(personas):
    """A deployment of another team, with one sample holding a secret, flagged by that team's power user."""
    other = factories.team(name="Payments", slug="payments")
    deployment = factories.deployment(name="Payments bot", slug="payments-bot", team=other)
    sample = factories.sample(deployment)
    zoe = User.objects.create_user("zoe")
    join_team(zoe, "power_user", other)
    flag = feedback_services.flag_create(sample=sample, user=zoe, reason="incorrect", comment="")
    return {"team": other, "deployment": deployment, "sample": sample, "flag": flag, "member": zoe}


def test_existing_deployments_and_role_holders_are_in_the_default_team(personas):
    ours = factories.deployment()
    assert ours.team.slug == "default"
    assert TeamMembership.objects.filter(team=ours.team, user=personas.bob, role="sme").exists()


@pytest.mark.parametrize("name, path", [
    ("erin", "/deployments/payments-bot/"),
    ("alice", "/deployments/payments-bot/samples/{sample}/"),
    ("bob", "/golden/deployments/payments-bot/coverage/"),
    ("bob", "/feedback/flags/{flag}/"),
    ("charlie", "/deployments/payments-bot/dashboard/"),
])
def test_a_page_of_another_team_s_deployment_is_a_404_without_its_data(client, personas, theirs, name, path):
    client.force_login(getattr(personas, name))
    r = client.get(path.format(sample=theirs["sample"].pk, flag=theirs["flag"].pk))
    assert r.status_code == 404
    assert "STAFF-ONLY-42" not in r.content.decode() and "discount code" not in r.content.decode()


@pytest.mark.parametrize("name, path", [
    ("erin", "/api/v1/deployments/payments-bot"),
    ("erin", "/api/v1/deployments/payments-bot/samples"),
    ("erin", "/api/v1/deployments/payments-bot/drift-runs"),
    ("charlie", "/api/v1/deployments/payments-bot/verdicts"),
    ("bob", "/api/v1/flags/{flag}"),
    ("erin", "/api/v1/deployments/payments-bot/golden/config"),
])
def test_an_api_view_of_another_team_s_object_is_a_404(personas, theirs, name, path):
    r = personas.api(name).get(path.format(flag=theirs["flag"].pk))
    assert r.status_code == 404 and "STAFF-ONLY-42" not in r.content.decode()


def test_ingesting_into_another_team_s_deployment_is_a_404_and_stores_nothing(personas, theirs):
    r = personas.api("erin").post("/api/v1/deployments/payments-bot/samples",
                                  data=json.dumps(factories.sample_record(1)), content_type="application/json")
    assert r.status_code == 404
    assert theirs["deployment"].samples.count() == 1


def test_flagging_another_team_s_sample_by_id_is_a_404(personas, theirs):
    r = personas.api("alice").post("/api/v1/flags", data=json.dumps({"sample_id": theirs["sample"].pk, "reason": "incorrect"}),
                                   content_type="application/json")
    assert r.status_code == 404


def test_lists_and_the_home_page_show_only_the_caller_s_deployments(client, personas, theirs):
    ours = factories.deployment(name="Support bot", slug="support-bot")
    slugs = [d["slug"] for d in personas.api("erin").get("/api/v1/deployments").json()["results"]]
    assert ours.slug in slugs and "payments-bot" not in slugs
    client.force_login(personas.erin)
    home = client.get("/").content.decode()
    assert "Support bot" in home and "Payments bot" not in home


def test_a_member_of_the_other_team_sees_its_deployment_and_not_ours(client, personas, theirs):
    ours = factories.deployment(name="Support bot", slug="support-bot")
    sample = factories.sample(ours, prompt="Our own question")
    client.force_login(theirs["member"])
    assert client.get(f"/deployments/payments-bot/samples/{theirs['sample'].pk}/").status_code == 200
    assert client.get(f"/deployments/{ours.slug}/samples/{sample.pk}/").status_code == 404


def test_a_superuser_sees_every_team_s_deployment(client, theirs):
    client.force_login(User.objects.create_superuser("root", "root@example.org", "x"))
    assert client.get("/deployments/payments-bot/").status_code == 200


def test_a_membership_change_leaves_an_audit_event(personas):
    team = factories.team()
    join_team(personas.bob, "sme", team)
    assert AuditEvent.objects.filter(object_type="drift_app.TeamMembership", action="create",
                                     after__user_id=personas.bob.pk, after__team_id=team.pk).exists()
    assert Team.objects.filter(pk=team.pk).exists()
