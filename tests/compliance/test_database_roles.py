"""Separate database roles: the runtime role owns no table and may only SELECT and INSERT on the audit tables;
the owner can still alter an event, and `audit_verify` then names it (issue 14).

Roles and grants are transactional in PostgreSQL, so everything here is rolled back with the test.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from compliance import audit, chain
from compliance.models import AuditEvent
from drift_app.dbroles import roles_sql
from tests import factories

pytestmark = pytest.mark.django_db
OWNER, RUNTIME = "dd_test_owner", "dd_test_app"
TABLE = "compliance_auditevent"


@pytest.fixture
def roles(personas):
    factories.deployment()  # a tracked row: its trigger writes the first event
    with connection.cursor() as cursor:
        # The test's transaction holds deferred foreign-key checks, and ALTER TABLE ... OWNER waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(roles_sql(owner=OWNER, runtime=RUNTIME))
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def _refused(cursor, sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as exc, transaction.atomic():
        cursor.execute(sql, params)
    return str(exc.value)


def test_the_runtime_role_owns_nothing(roles):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", [RUNTIME])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relowner <> %s::regrole", [OWNER])
        assert cursor.fetchone()[0] == 0


def test_the_runtime_role_appends_events_but_cannot_alter_remove_or_unprotect_them(roles):
    victim = AuditEvent.objects.order_by("id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {RUNTIME}")
        # What the app does: write tracked rows (their triggers append events) and its own events.
        factories.deployment()
        audit.record(action="export", object_type="compliance.AuditEvent", object_id="")
        for sql in (f"UPDATE {TABLE} SET actor_username = 'nobody' WHERE id = %s",
                    f"DELETE FROM {TABLE} WHERE id = %s"):
            assert "permission denied" in _refused(cursor, sql, [victim])
        assert "permission denied" in _refused(cursor, f"TRUNCATE {TABLE}")
        assert "must be owner" in _refused(cursor, f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        assert "must be owner" in _refused(cursor, f"DROP TRIGGER {TABLE}_chain ON {TABLE}")
        # No session setting switches triggers off for it either.
        assert "permission denied" in _refused(cursor, "SET session_replication_role = replica")
        cursor.execute("RESET ROLE")
    assert chain.verify().ok


def test_the_owner_can_alter_an_event_and_audit_verify_then_names_it(roles):
    victim = AuditEvent.objects.order_by("id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {OWNER}")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        cursor.execute(f"UPDATE {TABLE} SET actor_username = 'nobody' WHERE id = %s", [victim])
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_no_update_delete")
        cursor.execute("RESET ROLE")
    with pytest.raises(Exception, match=f"broken at event {victim}"):
        call_command("audit_verify")


def test_role_names_are_checked_before_any_sql_is_made():
    with pytest.raises(ValueError, match="role name"):
        roles_sql(owner="owner; DROP TABLE x", runtime="app")
    with pytest.raises(ValueError, match="must differ"):
        roles_sql(owner="same", runtime="same")
