"""The audit trail: who changed what and when, with before/after JSON, append-only in the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from compliance import audit
from compliance.models import AppendOnlyError, AuditEvent
from tests import factories
from tests.base import as_owner


def events(object_type: str, **kw):
    return list(AuditEvent.objects.filter(object_type=object_type, **kw).order_by("id"))


def test_creating_a_deployment_records_a_create_event_with_its_thresholds(db):
    deployment = factories.deployment()
    [event] = events("drift_app.Deployment", object_id=str(deployment.pk))
    assert event.action == "create"
    assert event.actor_username == "system" and event.actor_id is None
    assert event.deployment_id == deployment.pk
    assert event.after["material_drop_pct"] == 10.0 and event.before is None


def test_changing_a_threshold_records_only_the_changed_fields_before_and_after(db, personas):
    deployment = factories.deployment()
    deployment.material_drop_pct = 8.0
    with audit.acting_as(personas.erin):
        deployment.save()
    event = events("drift_app.Deployment", action="update")[-1]
    assert event.changed_fields == ["material_drop_pct"]
    assert event.before == {"material_drop_pct": 10.0} and event.after == {"material_drop_pct": 8.0}
    assert (event.actor_username, event.actor_id) == ("erin", personas.erin.pk)


def test_a_save_that_changes_nothing_records_no_event(db):
    deployment = factories.deployment()
    deployment.save()
    assert [e.action for e in events("drift_app.Deployment", object_id=str(deployment.pk))] == ["create"]


def test_deleting_a_deployment_records_its_last_state(db):
    deployment = factories.deployment(slug="short-lived")
    pk = deployment.pk
    deployment.delete()
    event = events("drift_app.Deployment", object_id=str(pk))[-1]
    assert event.action == "delete" and event.before["slug"] == "short-lived" and event.after is None


def test_golden_item_edits_are_recorded_without_the_embedding_vector(db, personas):
    from goldenset.models import GoldenItem

    item = GoldenItem.objects.create(prompt="Price of Pro?", reference_answer="$49", category="billing", author=personas.bob)
    item.reference_answer = "$59"
    item.save()
    create, update = events("goldenset.GoldenItem", object_id=str(item.pk))
    assert "prompt_embedding" not in create.after
    assert update.before == {"reference_answer": "$49"} and update.after == {"reference_answer": "$59"}
    assert update.deployment_id is None  # the golden set is installation-wide


def test_sme_labels_and_adjudications_are_recorded_under_the_flags_deployment(scenario):
    labels = events("feedback.Label")
    assert len(labels) == 4
    assert {e.deployment_id for e in labels} == {scenario.deployment.pk}
    [adjudication] = events("feedback.Adjudication")
    assert adjudication.after["label"] == "outdated_knowledge"


def test_acknowledging_an_alert_records_who_and_the_comment(scenario, personas):
    ack = [e for e in events("verdicts.Alert", object_id=str(scenario.alert.pk)) if e.action == "update"][0]
    assert ack.before["status"] == "open" and ack.after["status"] == "acknowledged"
    assert ack.after["acknowledged_by_id"] == personas.erin.pk
    assert ack.after["acknowledged_comment"] == "Rolling back to v2."


def test_granting_and_revoking_a_role_is_recorded_from_either_side(db, personas):
    compliance = Group.objects.get(name="compliance")
    with audit.acting_as(personas.erin):
        personas.mallory.groups.add(compliance)
        compliance.user_set.remove(personas.mallory)
        personas.alice.groups.clear()
    rows = [(e.action, e.after or e.before) for e in events("auth.User.groups", actor_username="erin")]
    assert rows == [
        ("role_add", {"user_id": personas.mallory.pk, "username": "mallory", "group": "compliance"}),
        ("role_remove", {"user_id": personas.mallory.pk, "username": "mallory", "group": "compliance"}),
        ("role_remove", {"user_id": personas.alice.pk, "username": "alice", "group": "power_user"}),
    ]


def test_an_api_change_is_attributed_to_the_token_user_not_to_the_system(db, personas):
    # DRF authenticates the token inside the view, after every middleware has run.
    from feedback import services as feedback_services
    from tests.compliance.conftest import START, make_samples

    deployment = factories.deployment()
    make_samples(deployment, 1, start=START, step=dt.timedelta(hours=1), version="v1", prefix="api")
    sample = deployment.samples.get()
    flag = feedback_services.flag_create(sample=sample, user=personas.alice, reason="incorrect")
    bob = personas.api("bob")
    assert bob.post(f"/api/v1/flags/{flag.pk}/claim", {}, format="json").status_code == 200
    response = bob.post(f"/api/v1/flags/{flag.pk}/labels", {"label": "confirmed_bad"}, format="json")
    assert response.status_code == 201, response.content
    [event] = events("feedback.Label")
    assert (event.actor_username, event.actor_id, event.source) == ("bob", personas.bob.pk, "api")
    assert event.request_path == f"/api/v1/flags/{flag.pk}/labels"


# The app's runtime role has no UPDATE or DELETE on the audit table at all ("permission denied",
# tests/compliance/test_database_roles.py); the trigger holds even against the owner, who has them.
def test_an_update_of_an_audit_row_is_rejected_by_the_database(db):
    factories.deployment()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditevent SET actor_username = 'someone-else'")
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditevent SET actor_username = 'someone-else'")


def test_a_delete_of_an_audit_row_is_rejected_by_the_database(db):
    factories.deployment()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        AuditEvent.objects.all().delete()  # a queryset delete goes straight to SQL, past the model's guard
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.exists()


def test_the_model_refuses_to_change_a_stored_event_before_the_database_has_to(db):
    factories.deployment()
    event = AuditEvent.objects.first()
    event.actor_username = "someone-else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_truncate_is_refused_even_to_the_owner_in_a_test_database(db):
    # compliance 0005 let TRUNCATE through in databases named test* (this one is); 0009 refuses it everywhere.
    # Only the suite's clean-up, as the owner, switches the trigger off inside its own flush (tests/conftest.py).
    factories.deployment()
    with as_owner(), pytest.raises(DatabaseError, match="append-only: TRUNCATE"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE compliance_auditevent")
    assert AuditEvent.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'compliance_auditevent'::regclass AND NOT tgisinternal ORDER BY tgname")
        assert [r[0] for r in cursor.fetchall()] == ["compliance_auditevent_chain", "compliance_auditevent_no_truncate",
                                                     "compliance_auditevent_no_update_delete"]


def test_every_model_the_issue_names_is_tracked(db):
    tracked = set(audit.tracked_types())
    assert {"drift_app.Deployment", "goldenset.GoldenItem", "feedback.Label", "feedback.Adjudication",
            "verdicts.Alert", "auth.User.groups"} <= tracked
