"""Roles are per team: a user's role comes from their membership in the team that owns the object (issue 14).

Dana is an SME in the default team and a power user in the Payments team. Before, roles were
installation-wide groups: an SME anywhere was an SME everywhere her teams reached.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from drift_app.roles import has_role, user_roles
from drift_app.services import personal_token_create
from feedback import services as feedback_services
from feedback.services import NotAllowed
from goldenset import services as golden_services
from tests import factories
from tests.base import join_team

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    _, secret = personal_token_create(user=user, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return api


@pytest.fixture
def dana(personas):
    user = User.objects.create_user("dana")
    join_team(user, "sme")
    payments = factories.team(name="Payments", slug="payments")
    join_team(user, "power_user", payments)
    return user


@pytest.fixture
def worlds(personas, dana):
    ours = factories.deployment(name="Support bot", slug="support-bot")
    theirs = factories.deployment(name="Payments bot", slug="payments-bot", team=dana.team_memberships.get(
        role="power_user").team)
    return {"ours": ours, "theirs": theirs, "our_sample": factories.sample(ours),
            "their_sample": factories.sample(theirs, prompt="Refund status?", response="Refunded.")}


def test_a_role_holds_in_its_team_only(dana, worlds):
    assert has_role(dana, "sme", team=worlds["ours"].team_id)
    assert not has_role(dana, "sme", team=worlds["theirs"].team_id)
    assert has_role(dana, "power_user", team=worlds["theirs"].team_id)
    assert not has_role(dana, "power_user", team=worlds["ours"].team_id)


def test_she_flags_in_the_team_where_she_is_a_power_user_only(dana, worlds):
    assert feedback_services.flag_create(sample=worlds["their_sample"], user=dana, reason="incorrect").pk
    with pytest.raises(NotAllowed):
        feedback_services.flag_create(sample=worlds["our_sample"], user=dana, reason="incorrect")


def test_the_flag_api_refuses_her_in_the_team_where_she_is_an_sme(dana, worlds):
    api = _api(dana)
    assert api.post("/api/v1/flags", {"sample_id": worlds["their_sample"].pk, "reason": "incorrect"},
                    format="json").status_code == 201
    r = api.post("/api/v1/flags", {"sample_id": worlds["our_sample"].pk, "reason": "incorrect"}, format="json")
    assert r.status_code in (403, 404)


def test_she_labels_flags_of_her_sme_team_but_not_of_the_other(personas, dana, worlds):
    ours = feedback_services.flag_create(sample=worlds["our_sample"], user=personas.alice, reason="incorrect")
    assert feedback_services.flag_claim(flag=ours, user=dana).claimed_by == dana
    zoe = User.objects.create_user("zoe")
    join_team(zoe, "power_user", worlds["theirs"].team)
    theirs = feedback_services.flag_create(sample=worlds["their_sample"], user=zoe, reason="incorrect")
    with pytest.raises(NotAllowed):
        feedback_services.flag_claim(flag=theirs, user=dana)


def test_on_an_sme_endpoint_the_team_where_she_is_a_power_user_is_a_404(dana, worlds):
    api = _api(dana)
    assert api.get("/api/v1/deployments/payments-bot/golden/judge-calibration").status_code == 200
    r = api.post("/api/v1/deployments/payments-bot/golden/results/1/calibration-label", {"passed": True}, format="json")
    assert r.status_code == 404 and "Payments bot" not in r.content.decode()


def test_the_calibration_page_offers_labelling_only_in_her_sme_team(client, dana, worlds):
    client.force_login(dana)
    assert client.get("/golden/deployments/support-bot/judge-calibration/").context["is_sme"] is True
    assert client.get("/golden/deployments/payments-bot/judge-calibration/").context["is_sme"] is False


def test_her_golden_items_go_to_her_sme_team_without_naming_it(dana, worlds):
    item = golden_services.golden_item_create(author=dana, prompt="How do I close my account?",
                                              reference_answer="Settings, then Close account.", category="accounts",
                                              reason="test")
    assert item.team_id == worlds["ours"].team_id


def test_an_installation_wide_role_group_without_a_membership_grants_nothing(personas):
    ghost = User.objects.create_user("ghost")
    ghost.groups.add(Group.objects.get(name="sme"))
    assert user_roles(ghost) == set() and not has_role(ghost, "sme")
    assert _api(ghost).get("/api/v1/golden/items").status_code == 403


def test_a_superuser_is_separate_from_teams(personas):
    root = User.objects.create_superuser("root", password="x")
    assert has_role(root, "sme", team=factories.team().pk)
