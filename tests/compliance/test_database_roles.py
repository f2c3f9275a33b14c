"""Separate database roles (issue 14): the app runs as a runtime role that owns no table and may only SELECT and
INSERT on the audit tables; the owner role runs migrations and can still alter an event, which `audit_verify`
then names. The suite itself runs every test body as the runtime role (drift_app/settings/test.py), so these
tests check the very role every other test ran with.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from compliance import audit, chain
from compliance.models import AuditEvent
from drift_app.dbroles import roles_sql
from tests import factories
from tests.base import as_owner

pytestmark = pytest.mark.django_db
TABLE = "compliance_auditevent"
OWNER, RUNTIME = settings.DRIFTDESK_DB_OWNER_ROLE, settings.DRIFTDESK_DB_RUNTIME_ROLE


@pytest.fixture
def trail(personas):
    factories.deployment()  # a tracked row: its trigger writes an event
    return AuditEvent.objects.order_by("id").values_list("id", flat=True).first()


def _refused(sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as exc, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(exc.value)


def test_test_bodies_run_as_the_runtime_role_which_is_no_superuser_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, r.rolsuper, r.rolcreaterole, r.rolcreatedb FROM pg_roles r "
                       "WHERE r.rolname = current_user")
        assert cursor.fetchone() == (RUNTIME, False, False, False)
        cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", [RUNTIME])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner <> %s::regrole", [OWNER])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cursor.fetchone()[0] == OWNER


def test_the_runtime_role_appends_events_but_cannot_alter_remove_or_unprotect_them(trail):
    # What the app does: write tracked rows (their triggers append events) and its own events.
    factories.deployment()
    audit.record(action="export", object_type="compliance.AuditEvent", object_id="")
    for sql in (f"UPDATE {TABLE} SET actor_username = 'nobody' WHERE id = %s", f"DELETE FROM {TABLE} WHERE id = %s"):
        assert "permission denied" in _refused(sql, [trail])
    assert "permission denied" in _refused(f"TRUNCATE {TABLE}")
    assert "must be owner" in _refused(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
    assert "must be owner" in _refused(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
    assert "must be owner" in _refused(f"DROP TRIGGER {TABLE}_chain ON {TABLE}")
    assert "must be owner" in _refused("DROP TABLE drift_app_productionsample")
    # No session setting switches triggers off for it either.
    assert "permission denied" in _refused("SET session_replication_role = replica")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == RUNTIME
    assert chain.verify().ok


def test_the_owner_can_alter_an_event_and_audit_verify_then_names_it(trail):
    with as_owner(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        cursor.execute(f"UPDATE {TABLE} SET actor_username = 'nobody' WHERE id = %s", [trail])
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_no_update_delete")
    with pytest.raises(Exception, match=f"broken at event {trail}"):
        call_command("audit_verify")


def test_db_roles_is_idempotent_when_run_again_as_the_owner(trail):
    # `make migrate` runs it after every migrate, as the owner; a second run changes nothing and grants the same.
    with as_owner(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(roles_sql(owner=OWNER, runtime=RUNTIME))
        cursor.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'UPDATE')",
                       [RUNTIME, TABLE, RUNTIME, TABLE])
        assert cursor.fetchone() == (True, False)


def test_role_names_are_checked_before_any_sql_is_made():
    with pytest.raises(ValueError, match="role name"):
        roles_sql(owner="owner; DROP TABLE x", runtime="app")
    with pytest.raises(ValueError, match="must differ"):
        roles_sql(owner="same", runtime="same")
