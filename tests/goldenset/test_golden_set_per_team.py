"""Each team has its own golden set: items, versions, runs, reviews and calibration labels of one team are never
seen or evaluated by another (issue 14). Before, there was one golden set for the installation: any SME
approved any item and every deployment was evaluated against every team's items.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from drift_app.models import default_team_id
from goldenset import selectors, services
from goldenset.models import GoldenItem
from tests import factories
from tests.base import join_team

from .conftest import approve, make_item

pytestmark = pytest.mark.django_db

SECRET_PROMPT = "What is the payments team's settlement cut-off?"


@pytest.fixture
def payments(personas):
    """Another team with two SMEs (zoe, yann), one approved item, and its deployment."""
    team = factories.team(name="Payments", slug="payments")
    zoe, yann = User.objects.create_user("zoe"), User.objects.create_user("yann")
    join_team(zoe, "sme", team)
    join_team(yann, "sme", team)
    item = make_item(zoe, SECRET_PROMPT, "Settlement closes at 16:00 CET.", "payments")
    approve(item, author=zoe, approver=yann)
    deployment = factories.deployment(name="Payments bot", slug="payments-bot", team=team)
    return {"team": team, "zoe": zoe, "yann": yann, "item": item, "deployment": deployment}


def test_an_item_joins_the_golden_set_of_its_author_s_team(personas, payments):
    ours = make_item(personas.bob)
    assert ours.team_id == default_team_id()
    assert payments["item"].team == payments["team"]


def test_an_sme_of_several_teams_must_name_the_team_of_a_new_item(personas, payments):
    join_team(personas.bob, "sme", payments["team"])
    with pytest.raises(ValidationError) as exc:
        make_item(personas.bob)
    assert "team" in exc.value.message_dict
    assert make_item(personas.bob, team=payments["team"]).team == payments["team"]


def test_nobody_adds_an_item_to_a_team_where_they_are_not_an_sme(personas, payments):
    with pytest.raises(PermissionDenied):
        make_item(personas.bob, team=payments["team"])


def test_another_team_s_items_are_absent_from_the_list_and_a_404_by_id(personas, payments):
    api = personas.api("bob")
    listed = api.get("/api/v1/golden/items").json()
    assert SECRET_PROMPT not in str(listed)
    pk = payments["item"].pk
    for path in (f"/api/v1/golden/items/{pk}", f"/api/v1/golden/items/{pk}/history"):
        r = api.get(path)
        assert r.status_code == 404 and SECRET_PROMPT not in r.content.decode()


@pytest.mark.parametrize("action", ["submit", "approve", "reject", "retire", "acknowledge-pii"])
def test_an_sme_of_another_team_cannot_act_on_an_item(personas, payments, action):
    r = personas.api("bob").post(f"/api/v1/golden/items/{payments['item'].pk}/{action}", {"reason": "mine now"},
                                 format="json")
    assert r.status_code == 404
    payments["item"].refresh_from_db()
    assert payments["item"].status == GoldenItem.Status.APPROVED


def test_an_sme_of_another_team_cannot_edit_or_approve_through_the_service(personas, payments):
    draft = make_item(payments["zoe"], "How do refunds settle?", "Refunds settle in two days.", "payments")
    services.golden_item_submit(item=draft, user=payments["zoe"], reason="ready")
    with pytest.raises(PermissionDenied):
        services.golden_item_approve(item=draft, user=personas.carol, reason="looks fine")
    with pytest.raises(PermissionDenied):
        services.golden_item_update(item=draft, user=personas.carol, reason="edit", prompt="Changed?")


def test_bulk_approval_does_not_reach_another_team_s_items(personas, payments):
    draft = make_item(payments["zoe"], "How do refunds settle?", "Refunds settle in two days.", "payments")
    services.golden_item_submit(item=draft, user=payments["zoe"], reason="ready")
    r = personas.api("carol").post("/api/v1/golden/items/approve", {"ids": [draft.pk], "reason": "ok"}, format="json")
    assert r.status_code == 400 and "ids" in r.json()["errors"]
    draft.refresh_from_db()
    assert draft.status == GoldenItem.Status.IN_REVIEW


def test_versions_are_numbered_per_team_and_hold_only_the_team_s_items(personas, payments):
    ours = make_item(personas.bob)
    approve(ours, author=personas.bob, approver=personas.carol)
    mine = selectors.golden_version_latest(team=default_team_id())
    theirs = selectors.golden_version_latest(team=payments["team"])
    assert mine.number == 1 and theirs.number == 1
    assert [vi.item_id for vi in mine.items.all()] == [ours.pk]
    assert [vi.item_id for vi in theirs.items.all()] == [payments["item"].pk]
    body = personas.api("bob").get("/api/v1/golden/versions/1").json()
    assert body["team"] == "default" and SECRET_PROMPT not in str(body)
    assert personas.api("bob").get("/api/v1/golden/versions?team=payments").status_code == 404


def test_a_deployment_is_evaluated_against_its_own_team_s_golden_set_only(personas, payments):
    ours = make_item(personas.bob)
    approve(ours, author=personas.bob, approver=personas.carol)
    deployment = factories.deployment()
    run = services.eval_run_create(deployment=deployment, user=personas.erin, answers={ours.pk: "$49 a month"},
                                   queue=False)
    assert run.golden_version.team_id == deployment.team_id
    assert set(run.results.values_list("item_id", flat=True)) == {ours.pk}
    with pytest.raises(ValidationError):
        services.eval_run_create(deployment=deployment, user=personas.erin,
                                 answers={payments["item"].pk: "16:00"}, queue=False)


def test_a_team_without_approved_items_cannot_evaluate_with_another_team_s_set(personas, payments):
    empty = factories.team(name="Search", slug="search")
    deployment = factories.deployment(team=empty)
    with pytest.raises(ValidationError, match="golden set has no approved items"):
        services.eval_run_create(deployment=deployment, answers={}, queue=False)


def test_golden_pages_of_another_team_are_404(client, personas, payments):
    client.force_login(personas.bob)
    r = client.get(f"/golden/items/{payments['item'].pk}/")
    assert r.status_code == 404
    assert SECRET_PROMPT not in client.get("/golden/").content.decode()
    assert SECRET_PROMPT not in client.get("/golden/export.jsonl").content.decode()
    assert client.get("/golden/versions/1/?team=payments").status_code == 404


def test_another_team_s_calibration_labels_and_runs_are_out_of_reach(personas, payments):
    run = services.eval_run_create(deployment=payments["deployment"], user=payments["zoe"],
                                   answers={payments["item"].pk: "16:00"}, queue=False)
    result = run.results.get()
    api = personas.api("bob")
    assert api.get(f"/api/v1/golden/runs/{run.pk}").status_code == 404
    r = api.post(f"/api/v1/deployments/payments-bot/golden/results/{result.pk}/calibration-label",
                 {"passed": True}, format="json")
    assert r.status_code == 404
    with pytest.raises(PermissionDenied):
        services.judge_calibration_label(result=result, user=personas.bob, passed=True)

