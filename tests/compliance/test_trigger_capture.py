"""Database triggers capture every change of a tracked table, whatever made it (issue 14).

Before, Django signals recorded only save() and delete(): QuerySet.update(), bulk_create(), raw SQL and a
rewrite of a flagged sample's answer left no event.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from compliance import audit, chain
from compliance.models import AuditEvent
from drift_app.models import Deployment, TeamMembership
from goldenset.models import GoldenItem
from tests import factories
from tests.base import as_owner
from tests.goldenset.conftest import make_item

pytestmark = pytest.mark.django_db


def _events(object_type: str, object_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("id"))


def test_a_queryset_update_is_recorded_with_the_acting_user(personas):
    item = make_item(personas.bob)
    with audit.acting_as(personas.carol, source="api"):
        GoldenItem.objects.filter(pk=item.pk).update(reference_answer="The Pro plan is free.")
    event = _events("goldenset.GoldenItem", item.pk)[-1]
    assert (event.action, event.actor_username, event.actor_id, event.source) == ("update", "carol", personas.carol.pk, "api")
    assert event.changed_fields == ["reference_answer"]
    assert event.before == {"reference_answer": "The Pro plan costs $49 per month."}
    assert event.after == {"reference_answer": "The Pro plan is free."}


def test_bulk_create_is_recorded_row_by_row(personas):
    team = factories.team()
    TeamMembership.objects.bulk_create([TeamMembership(team=team, user=personas.mallory, role=r)
                                        for r in ("sme", "team_admin")])
    rows = AuditEvent.objects.filter(object_type="drift_app.TeamMembership", action="create",
                                     after__team_id=team.pk)
    assert sorted(e.after["role"] for e in rows) == ["sme", "team_admin"]


def test_raw_sql_rewriting_a_sample_s_answer_is_recorded_with_the_database_role(personas):
    sample = factories.sample(factories.deployment())
    with connection.cursor() as cursor:
        cursor.execute("UPDATE drift_app_productionsample SET response = 'It is nothing.' WHERE id = %s", [sample.pk])
    event = _events("drift_app.ProductionSample", sample.pk)[-1]
    assert event.action == "update" and event.after == {"response": "It is nothing."}
    assert event.before == {"response": "It is STAFF-ONLY-42."}
    assert event.actor_username == "system" and event.request_path.startswith("db:")
    assert event.deployment_id == sample.deployment_id


def test_embedding_a_sample_is_not_an_event(personas):
    sample = factories.sample(factories.deployment())
    with connection.cursor() as cursor:
        cursor.execute("UPDATE drift_app_productionsample SET embedding_model = 'm', embedded_at = now() WHERE id = %s",
                       [sample.pk])
    assert _events("drift_app.ProductionSample", sample.pk) == []


def test_an_update_that_changes_no_tracked_column_is_not_an_event(personas):
    deployment = factories.deployment()
    before = len(_events("drift_app.Deployment", deployment.pk))
    Deployment.objects.filter(pk=deployment.pk).update(updated_at=deployment.updated_at)
    assert len(_events("drift_app.Deployment", deployment.pk)) == before


def test_secrets_and_password_hashes_never_reach_the_trail(personas):
    personas.token("erin")
    personas.mallory.set_password("another long passphrase")
    personas.mallory.save()
    for event in AuditEvent.objects.filter(object_type__in=["drift_app.ApiKey", "auth.User"]):
        assert "secret_hash" not in (event.after or {}) and "password" not in (event.after or {})
        assert "password" not in (event.before or {})


def test_an_admin_edit_is_recorded_with_the_admin_as_actor(client, personas):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(root)
    team = factories.team(name="Payments", slug="payments")
    r = client.post(f"/admin/drift_app/team/{team.pk}/change/", {"name": "Payments and refunds", "slug": "payments"})
    assert r.status_code == 302
    event = _events("drift_app.Team", team.pk)[-1]
    assert (event.action, event.after, event.actor_username, event.source) == (
        "update", {"name": "Payments and refunds"}, "root", "web")


def test_every_tracked_table_has_a_capture_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%%\\_audit' "
                       "AND NOT tgisinternal")
        with_trigger = {r[0] for r in cursor.fetchall()}
    for app_label, model_name, _how, _exclude in audit.TRACKED:
        assert apps.get_model(app_label, model_name)._meta.db_table in with_trigger, model_name


def test_events_from_python_and_from_triggers_form_one_chain_that_verifies(personas):
    make_item(personas.bob)
    audit.record(action="export", object_type="compliance.AuditEvent", object_id="")
    GoldenItem.objects.update(category="billing-2")
    rows = list(AuditEvent.objects.order_by("id").values("prev_hash", "hash", "chain_version"))
    assert len(rows) >= 3 and {r["chain_version"] for r in rows} == {2}
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    assert chain.verify().ok


def test_altering_a_trigger_written_event_as_the_owner_breaks_the_chain(personas):
    item = make_item(personas.bob)
    GoldenItem.objects.filter(pk=item.pk).update(category="other")
    victim = _events("goldenset.GoldenItem", item.pk)[-1].pk
    with as_owner(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER compliance_auditevent_no_update_delete")
        cursor.execute("UPDATE compliance_auditevent SET after = '{\"category\": \"billing\"}' WHERE id = %s", [victim])
        cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER compliance_auditevent_no_update_delete")
    result = chain.verify()
    assert not result.ok and result.first_broken_id == victim
