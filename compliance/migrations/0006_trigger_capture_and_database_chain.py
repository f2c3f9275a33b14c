"""Audit capture moves into the database: triggers on the tracked tables write the events, and a trigger on
the audit table chains every event, so QuerySet.update(), bulk_create(), admin edits and raw SQL are recorded.

- `driftdesk_audit_capture()` (AFTER INSERT/UPDATE/DELETE, per row) writes an AuditEvent with the row's
  columns before/after (minus excluded ones), the changed column names, the deployment, and the acting user
  from django-pghistory's transaction-local context (`pghistory.context_metadata`, set by the app before each
  write statement; absent: "system", with the database role in request_path).
- `driftdesk_audit_chain()` (BEFORE INSERT on the audit table) takes the chain lock, draws the event's id
  after the lock (ids follow chain order), and sets prev_hash and hash = SHA-256(prev_hash || canonical),
  where canonical is chain version 2: each content field as text, length-prefixed ("<len>:<text>", NULL "-"),
  joined by ";" (compliance/chain.py recomputes it from the stored columns). Events written before this
  migration keep chain version 1 (canonical JSON computed in Python) and still verify.
- Production samples: an update of an answer's content (prompt, response, ...) is an event; embedding,
  claim and score updates are not.
"""

from django.db import migrations, models

# (table, object type, how to find the deployment: "pk", a column, "flag" (through feedback_flag), "" none,
#  excluded columns, the column shown as the object's name). Mirrors compliance.audit.TRACKED.
TABLES = [
    ("drift_app_deployment", "drift_app.Deployment", "pk", ["updated_at"], "slug"),
    ("goldenset_goldenitem", "goldenset.GoldenItem", "", ["prompt_embedding", "embedding_model"], "prompt"),
    ("goldenset_goldensetversion", "goldenset.GoldenSetVersion", "", [], "number"),
    ("goldenset_evalconfig", "goldenset.EvalConfig", "deployment_id", ["updated_at"], "endpoint_model"),
    ("feedback_label", "feedback.Label", "flag", [], "label"),
    ("feedback_adjudication", "feedback.Adjudication", "flag", [], "label"),
    ("feedback_deploymentfeedbacksettings", "feedback.DeploymentFeedbackSettings", "deployment_id", [], "deployment_id"),
    ("verdicts_alert", "verdicts.Alert", "deployment_id", [], "title"),
    ("verdicts_alertpolicy", "verdicts.AlertPolicy", "deployment_id", ["updated_at"], "deployment_id"),
    ("auth_user", "auth.User", "", ["password", "last_login"], "username"),
    ("drift_app_team", "drift_app.Team", "", [], "slug"),
    ("drift_app_teammembership", "drift_app.TeamMembership", "", [], "role"),
    ("drift_app_apikey", "drift_app.ApiKey", "deployment_id", ["secret_hash"], "name"),
    ("goldenset_evalrun", "goldenset.EvalRun", "deployment_id", [], "model_version"),
    ("feedback_flag", "feedback.Flag", "deployment_id", [], "reason"),
]
SAMPLE_CONTENT = ["external_id", "deployment_id", "prompt", "response", "model_version", "client_timestamp", "metadata"]
SAMPLE_EXCLUDED = ["prompt_embedding", "response_embedding", "embedding_model", "embedded_at", "embed_queued_at",
                   "scores"]

CANONICAL = r"""
CREATE OR REPLACE FUNCTION driftdesk_audit_canonical(e compliance_auditevent) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(CASE WHEN v IS NULL THEN '-' ELSE length(v)::text || ':' || v END, ';' ORDER BY n)
  FROM unnest(ARRAY[
    to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), e.actor_id::text, e.actor_username, e.source,
    e.request_path, e.action, e.object_type, e.object_id, e.object_repr, e.deployment_id::text,
    e.changed_fields::text, e.before::text, e.after::text
  ]) WITH ORDINALITY AS t(v, n)
$$;

CREATE OR REPLACE FUNCTION driftdesk_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  prev text;
BEGIN
  -- The same lock key as compliance.chain._LOCK_KEY: one writer appends at a time, until it commits.
  PERFORM pg_advisory_xact_lock(431416239732);
  NEW.id := nextval(pg_get_serial_sequence('compliance_auditevent', 'id'));
  SELECT hash INTO prev FROM compliance_auditevent ORDER BY id DESC LIMIT 1;
  NEW.prev_hash := COALESCE(prev, repeat('0', 64));
  NEW.chain_version := 2;
  NEW.hash := encode(sha256(convert_to(NEW.prev_hash || driftdesk_audit_canonical(NEW), 'UTF8')), 'hex');
  RETURN NEW;
END
$$;

CREATE TRIGGER compliance_auditevent_chain BEFORE INSERT ON compliance_auditevent
FOR EACH ROW EXECUTE FUNCTION driftdesk_audit_chain();
"""

CAPTURE = r"""
CREATE OR REPLACE FUNCTION driftdesk_audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  otype text := TG_ARGV[0];
  how text := TG_ARGV[1];
  excluded text[] := TG_ARGV[2]::text[];
  repr_col text := TG_ARGV[3];
  old_j jsonb; new_j jsonb; row_j jsonb; before_j jsonb; after_j jsonb; actor jsonb;
  changed text[]; act text; dep bigint; fcol text;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_j := to_jsonb(OLD) - excluded; END IF;
  IF TG_OP <> 'DELETE' THEN new_j := to_jsonb(NEW) - excluded; END IF;
  -- A whole float (10.0) would come out as the JSON integer 10: keep it a float, as the app reads it.
  FOR fcol IN SELECT a.attname FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
             AND a.atttypid IN ('float8'::regtype, 'float4'::regtype)
  LOOP
    IF jsonb_typeof(new_j -> fcol) = 'number' AND (new_j ->> fcol) !~ '[.eE]' THEN
      new_j := jsonb_set(new_j, ARRAY[fcol], ((new_j ->> fcol) || '.0')::jsonb);
    END IF;
    IF jsonb_typeof(old_j -> fcol) = 'number' AND (old_j ->> fcol) !~ '[.eE]' THEN
      old_j := jsonb_set(old_j, ARRAY[fcol], ((old_j ->> fcol) || '.0')::jsonb);
    END IF;
  END LOOP;
  IF TG_OP = 'UPDATE' THEN
    SELECT array_agg(n.key ORDER BY n.key), jsonb_object_agg(n.key, old_j -> n.key), jsonb_object_agg(n.key, n.value)
      INTO changed, before_j, after_j
      FROM jsonb_each(new_j) n WHERE n.value IS DISTINCT FROM (old_j -> n.key);
    IF changed IS NULL THEN
      RETURN NULL;  -- nothing tracked changed: no event
    END IF;
    act := 'update';
  ELSIF TG_OP = 'INSERT' THEN
    after_j := new_j; act := 'create';
    SELECT array_agg(k ORDER BY k) INTO changed FROM jsonb_object_keys(new_j) k;
  ELSE
    before_j := old_j; act := 'delete';
    SELECT array_agg(k ORDER BY k) INTO changed FROM jsonb_object_keys(old_j) k;
  END IF;
  row_j := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
  IF how = 'pk' THEN
    dep := (row_j ->> 'id')::bigint;
  ELSIF how = 'flag' THEN
    SELECT f.deployment_id INTO dep FROM feedback_flag f WHERE f.id = (row_j ->> 'flag_id')::bigint;
  ELSIF how <> '' THEN
    dep := (row_j ->> how)::bigint;
  END IF;
  -- The acting user, put there by the app through django-pghistory's context (transaction-local).
  actor := NULLIF(current_setting('pghistory.context_metadata', true), '')::jsonb -> 'actor';
  INSERT INTO compliance_auditevent (at, actor_id, actor_username, source, request_path, action, object_type,
      object_id, object_repr, deployment_id, changed_fields, before, after, prev_hash, hash, chain_version)
  VALUES (clock_timestamp(), (actor ->> 'id')::bigint, left(COALESCE(actor ->> 'username', 'system'), 150),
      COALESCE(actor ->> 'source', 'system'),
      left(CASE WHEN actor IS NULL THEN 'db:' || session_user ELSE COALESCE(actor ->> 'path', '') END, 500),
      act, otype, row_j ->> 'id', left(COALESCE(row_j ->> repr_col, ''), 300), dep,
      to_jsonb(COALESCE(changed, ARRAY[]::text[])), before_j, after_j, '', '', 2);
  RETURN NULL;
END
$$;
"""


def _array(items: list[str]) -> str:
    return "{" + ",".join(items) + "}"


def _triggers() -> str:
    sql = [CAPTURE]
    for table, otype, how, excluded, repr_col in TABLES:
        sql.append(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION driftdesk_audit_capture('{otype}', '{how}', '{_array(excluded)}', '{repr_col}');"
        )
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in SAMPLE_CONTENT)
    sql.append(
        f"CREATE TRIGGER drift_app_productionsample_audit AFTER UPDATE OF {', '.join(SAMPLE_CONTENT)} "
        f"ON drift_app_productionsample FOR EACH ROW WHEN ({changed}) "
        f"EXECUTE FUNCTION driftdesk_audit_capture('drift_app.ProductionSample', 'deployment_id', "
        f"'{_array(SAMPLE_EXCLUDED)}', 'external_id');"
    )
    return "\n".join(sql)


def _drop_triggers() -> str:
    tables = [t[0] for t in TABLES] + ["drift_app_productionsample"]
    return "\n".join(f"DROP TRIGGER IF EXISTS {t}_audit ON {t};" for t in tables) + \
        "\nDROP FUNCTION IF EXISTS driftdesk_audit_capture();"


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_audit_hash_chain"),
        # After the samples table is partitioned (drift_app 0011): a trigger on the old table would be lost.
        ("drift_app", "0015_sample_fulltext_search"),
        ("goldenset", "0009_golden_set_per_team"),
        ("feedback", "0003_feedback_score_flag_thresholds"),
        ("verdicts", "0004_verdict_versions_alert_windows_evidence_policy"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent", name="chain_version",
            field=models.PositiveSmallIntegerField(default=1, help_text="1: canonical JSON (Python); 2: "
                                                   "length-prefixed column texts (database trigger)."),
        ),
        migrations.AlterField(
            model_name="auditevent", name="chain_version",
            field=models.PositiveSmallIntegerField(default=2, help_text="1: canonical JSON (Python); 2: "
                                                   "length-prefixed column texts (database trigger)."),
        ),
        migrations.AlterField(
            model_name="auditevent", name="source",
            field=models.CharField(choices=[("web", "Web page"), ("api", "API"),
                                            ("system", "System (task, command, migration, SQL)")],
                                   default="system", max_length=10),
        ),
        migrations.RunSQL(CANONICAL, "DROP TRIGGER IF EXISTS compliance_auditevent_chain ON compliance_auditevent;"
                                     "DROP FUNCTION IF EXISTS driftdesk_audit_chain();"
                                     "DROP FUNCTION IF EXISTS driftdesk_audit_canonical(compliance_auditevent);"),
        migrations.RunSQL(_triggers(), _drop_triggers()),
    ]
