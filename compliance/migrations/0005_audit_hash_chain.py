"""Hash-chain the audit trail (and keep its head on each compliance report), record sign-ins, report
downloads, verifications and exports, and close the TRUNCATE escape hatch that a session setting opened.

Existing events are chained in id order (the append-only trigger is disabled for that one backfill,
inside this migration's transaction, by the table owner that runs migrations). From now on TRUNCATE is
allowed only in throw-away test databases (named test*, as Django names them): no session setting disables the
protection any more.
"""

from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION driftdesk_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_database() LIKE 'test%' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events and compliance reports are never changed or removed.';
END;
$$;
"""

OLD_FUNCTION = """
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


def chain_existing_events(apps, schema_editor):
    import hashlib
    import json

    AuditEvent = apps.get_model("compliance", "AuditEvent")
    fields = ("at", "actor_id", "actor_username", "source", "request_path", "action", "object_type", "object_id",
              "object_repr", "deployment_id", "changed_fields", "before", "after")
    if not AuditEvent.objects.exists():
        return
    table = AuditEvent._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_update_delete")
    prev = "0" * 64
    for row in AuditEvent.objects.order_by("id").values("id", *fields).iterator(chunk_size=2000):
        # The same canonical form as compliance.chain.canonical (copied: migrations never import app code).
        content = {name: row[name] for name in fields}
        content["at"] = row["at"].astimezone(__import__("datetime").timezone.utc).isoformat(timespec="microseconds")
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((prev + text).encode()).hexdigest()
        AuditEvent.objects.filter(pk=row["id"]).update(prev_hash=prev, hash=digest)
        prev = digest
    schema_editor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_update_delete")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0004_rename_task_path")]

    operations = [
        migrations.AddField(model_name="auditevent", name="prev_hash",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField(model_name="auditevent", name="hash",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.RunSQL(FUNCTION, OLD_FUNCTION),
        migrations.AddField(model_name="compliancereport", name="audit_chain_head",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AlterField(
            model_name="auditevent", name="action",
            field=models.CharField(choices=[("create", "Created"), ("update", "Updated"), ("delete", "Deleted"),
                                            ("role_add", "Role granted"), ("role_remove", "Role revoked"),
                                            ("sign_in", "Signed in"), ("sign_in_failed", "Failed sign-in"),
                                            ("generate", "Generated"), ("download", "Downloaded"),
                                            ("verify", "Verified"), ("export", "Exported")],
                                   db_index=True, max_length=20),
        ),
    ]
