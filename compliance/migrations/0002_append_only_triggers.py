"""The database, not only the application, keeps the audit trail and stored reports append-only.

A row-level BEFORE UPDATE OR DELETE trigger raises, so no SQL client (a psql session, a buggy
migration, a compromised app process) can edit or remove an event or a report without first dropping
the trigger, which needs the table owner and is itself visible in the database's DDL history.

TRUNCATE skips row-level triggers, so a statement-level BEFORE TRUNCATE trigger rejects it as well,
with one exception: pytest-django's transactional tests and `manage.py flush` empty every table with
TRUNCATE, and they run against throw-away test databases. TRUNCATE is therefore allowed when the
database's name starts with "test" (Django's test databases are "test_<name>") or when the session sets
`driftdesk.allow_audit_truncate = 'on'` (e.g. OPTIONS: {"options": "-c driftdesk.allow_audit_truncate=on"}
for a test database with another name). Production databases have neither.
"""

from django.db import migrations

TABLES = ("compliance_auditevent", "compliance_compliancereport")

FUNCTION = """
CREATE OR REPLACE FUNCTION driftdesk_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF current_database() LIKE 'test%' OR current_setting('driftdesk.allow_audit_truncate', true) = 'on' THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events and compliance reports are never changed or removed.';
END;
$$;
"""


def _triggers(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION driftdesk_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION driftdesk_append_only();
"""


def _drop(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_audit_events_and_reports")]
    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS driftdesk_append_only() CASCADE;"),
        *[migrations.RunSQL(_triggers(t), _drop(t)) for t in TABLES],
    ]
