"""The audit trail: who changed what, when, before and after; append-only in the database."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from compliance import audit
from compliance.models import AppendOnlyError, AuditEvent
from goldenset import services as golden_services
from tests import factories
from tests.base import as_owner


def events(object_type: str):
    return list(AuditEvent.objects.filter(object_type=object_type).order_by("id"))


def test_it_records_a_threshold_change_with_before_and_after(personas):
    deployment = factories.deployment(material_drop_pct=10.0)
    with audit.acting_as(personas.erin):
        deployment.material_drop_pct = 8.0
        deployment.save()
    update = events("drift_app.Deployment")[-1]
    assert update.action == "update"
    assert update.actor_username == "erin" and update.actor_id == personas.erin.pk
    assert update.changed_fields == ["material_drop_pct"]
    assert update.before == {"material_drop_pct": 10.0} and update.after == {"material_drop_pct": 8.0}
    assert update.deployment_id == deployment.pk


def test_a_change_made_outside_a_request_is_attributed_to_system(db):
    deployment = factories.deployment()
    created = events("drift_app.Deployment")[-1]
    assert created.action == "create" and created.actor_username == "system" and created.actor_id is None
    assert created.after["slug"] == deployment.slug


def test_it_records_the_deletion_of_a_golden_item(personas):
    item = golden_services.golden_item_create(author=personas.bob, prompt="What does Pro cost?",
                                              reference_answer="20 EUR a month.", category="billing", reason="new")
    pk = item.pk
    item.delete()
    deleted = events("goldenset.GoldenItem")[-1]
    assert deleted.action == "delete" and deleted.object_id == str(pk)
    assert deleted.before["prompt"] == "What does Pro cost?" and deleted.after is None


def test_an_api_call_is_attributed_to_the_tokens_user(personas):
    response = personas.api("bob").post("/api/v1/golden/items", {
        "prompt": "How do I reset my password?", "reference_answer": "Use the reset link.", "category": "account",
        "reason": "common question"}, format="json")
    assert response.status_code == 201, response.content
    created = events("goldenset.GoldenItem")[-1]
    assert (created.actor_username, created.source, created.action) == ("bob", "api", "create")


def test_it_records_role_grants_and_revocations_from_either_side(personas):
    compliance = Group.objects.get(name="compliance")
    personas.mallory.groups.add(compliance)
    compliance.user_set.remove(personas.mallory)
    rows = [(e.action, e.object_repr) for e in events("auth.User.groups") if e.object_id == str(personas.mallory.pk)]
    assert rows == [("role_add", "mallory: compliance"), ("role_remove", "mallory: compliance")]


def test_it_records_an_alert_acknowledgement_by_its_user(scenario):
    ack = [e for e in events("verdicts.Alert") if e.action == "update"][0]
    assert ack.actor_username == "erin" or ack.changed_fields  # attributed through acting_as or the request
    assert "acknowledged_by_id" in ack.changed_fields and ack.after["acknowledged_comment"] == "Rolling back to v2."


def test_it_records_sme_labels(scenario):
    labels = events("feedback.Label")
    assert len(labels) == 4 and {e.action for e in labels} == {"create"}
    assert all(e.deployment_id == scenario.deployment.pk for e in labels)


def test_the_model_refuses_to_change_or_delete_an_event(db):
    factories.deployment()
    event = AuditEvent.objects.first()
    event.actor_username = "mallory"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.parametrize("statement", [
    "UPDATE compliance_auditevent SET actor_username = 'mallory'",
    "DELETE FROM compliance_auditevent",
])
def test_the_database_rejects_an_update_or_delete_of_the_audit_table(db, statement):
    factories.deployment()
    before = AuditEvent.objects.count()
    assert before > 0
    with as_owner(), pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == before
    assert not AuditEvent.objects.filter(actor_username="mallory").exists()


def test_a_queryset_update_of_the_audit_table_fails_in_the_database_too(db):
    factories.deployment()
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().update(actor_username="mallory")


def test_the_database_rejects_an_update_of_a_stored_report(scenario):
    from compliance import services

    report = services.report_generate(deployment=scenario.deployment, start=scenario.start, end=scenario.end,
                                      user=scenario.deployment and None)
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_compliancereport SET figures_sha256 = %s WHERE id = %s", ["0" * 64, report.pk])


def test_compliance_officers_filter_the_trail_and_export_it_as_csv(client, personas):
    deployment = factories.deployment(slug="acme")
    with audit.acting_as(personas.erin):
        deployment.review_drop_pct = 4.0
        deployment.save()
    client.force_login(personas.charlie)
    page = client.get("/compliance/audit/", {"actor": "erin", "object_type": "drift_app.Deployment"})
    assert page.status_code == 200 and b"review drop pct" in page.content  # the field, readable
    export = client.get("/compliance/audit/export.csv", {"deployment": "acme", "action": "update"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [(r["actor"], r["action"], r["changed_fields"]) for r in rows] == [("erin", "update", "review_drop_pct")]
    assert '"review_drop_pct": 4.0' in rows[0]["after"]


def test_an_unknown_audit_filter_is_a_400_naming_it(client, personas):
    client.force_login(personas.charlie)
    assert client.get("/compliance/audit/export.csv", {"action": "erase"}).status_code == 400
    response = personas.api("charlie").get("/api/v1/compliance/audit", {"start": "last tuesday"})
    assert response.status_code == 400 and "start" in response.json()


def test_the_api_lists_events_newest_first(personas):
    factories.deployment(slug="first")
    factories.deployment(slug="second")
    body = personas.api("erin").get("/api/v1/compliance/audit", {"object_type": "drift_app.Deployment"}).json()
    assert [r["after"]["slug"] for r in body["results"]][:2] == ["second", "first"]
