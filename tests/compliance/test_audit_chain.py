"""The audit trail is hash-chained: `audit_verify` (command and API) passes on an intact trail and names the
first broken link after a row is altered or removed as the table owner (issue 14)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from compliance import chain
from compliance.models import AuditEvent
from tests import factories
from tests.base import PASSWORD, as_owner

pytestmark = pytest.mark.django_db
TABLE = "compliance_auditevent"


def _as_owner(sql: str, params=()) -> None:
    """What only the table owner can do: switch the append-only trigger off around one statement."""
    with as_owner(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_no_update_delete")


@pytest.fixture
def trail(personas):
    for n in range(3):
        deployment = factories.deployment()
        deployment.material_drop_pct = 5.0 + n
        deployment.save()
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def test_every_event_links_to_the_one_before_it_and_the_chain_verifies(trail):
    rows = list(AuditEvent.objects.order_by("id").values("id", "prev_hash", "hash"))
    assert rows[0]["prev_hash"] == chain.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    result = chain.verify()
    assert result.ok and result.events == len(rows) and result.head == rows[-1]["hash"]


def test_audit_verify_names_the_event_altered_as_the_owner(trail, personas):
    victim = trail[len(trail) // 2]
    _as_owner(f"UPDATE {TABLE} SET actor_username = 'nobody' WHERE id = %s", [victim])
    result = chain.verify()
    assert not result.ok and result.first_broken_id == victim and "altered" in result.problem
    with pytest.raises(CommandError, match=f"broken at event {victim}"):
        call_command("audit_verify", stdout=open("/dev/null", "w"))
    body = personas.api("charlie").get("/api/v1/compliance/audit/verify").json()
    assert body["ok"] is False and body["first_broken_id"] == victim


def test_audit_verify_notices_a_removed_event(trail):
    victim = trail[1]
    _as_owner(f"DELETE FROM {TABLE} WHERE id = %s", [victim])
    result = chain.verify()
    assert not result.ok and result.first_broken_id == trail[2] and "removed" in result.problem


def test_the_command_passes_on_an_intact_trail(trail, capsys):
    call_command("audit_verify")
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_no_session_setting_and_no_database_name_reopens_truncate():
    # This database is named test_*, which compliance 0005 let TRUNCATE through; 0009 removed every exception.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('driftdesk_append_only'::regproc), current_database()")
        body, database = cursor.fetchone()
    assert database.startswith("test")
    assert "allow_audit_truncate" not in body and "current_setting" not in body and "current_database" not in body
    with as_owner(), pytest.raises(DatabaseError, match="append-only: TRUNCATE"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL driftdesk.allow_audit_truncate = 'on'")
            cursor.execute(f"TRUNCATE {TABLE}")


def test_sign_in_and_failed_sign_in_are_events_and_the_password_is_never_stored(client, personas):
    assert client.login(username="bob", password=PASSWORD)
    assert not client.login(username="bob", password="not-the-password-xyzzy")
    signed = AuditEvent.objects.filter(action="sign_in", object_id=str(personas.bob.pk)).get()
    failed = AuditEvent.objects.filter(action="sign_in_failed").get()
    assert signed.object_repr == "bob"
    assert failed.after == {"username": "bob"}
    dumped = json.dumps(list(AuditEvent.objects.values("before", "after", "object_repr")))
    assert "xyzzy" not in dumped and PASSWORD not in dumped


def test_a_report_carries_the_chain_head_and_its_generation_download_and_verification_are_events(personas):
    import datetime as dt

    from compliance import services

    deployment = factories.deployment()
    head_before = chain.head()[1]
    report = services.report_generate(deployment=deployment, start=dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc),
                                      end=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc), user=personas.charlie)
    assert report.audit_chain_head == head_before
    client = personas.api("charlie")
    assert client.get(f"/api/v1/compliance/reports/{report.pk}/csv").status_code == 200
    assert client.post(f"/api/v1/compliance/reports/{report.pk}/verify").status_code == 200
    actions = list(AuditEvent.objects.filter(object_type="compliance.ComplianceReport", object_id=str(report.pk))
                   .order_by("id").values_list("action", "actor_username"))
    assert actions == [("generate", "system"), ("download", "charlie"), ("verify", "charlie")]
    assert chain.verify().ok
