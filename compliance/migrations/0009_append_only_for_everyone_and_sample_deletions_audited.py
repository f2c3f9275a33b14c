"""No exception to the audit tables' append-only guard, and deletions of production samples are events.

- `driftdesk_append_only()` refuses UPDATE, DELETE and TRUNCATE in every database and every session: the
  exception for databases named test* (compliance 0002/0005) is gone. The app's runtime role cannot switch the
  guard off (it owns no table); the test suite cleans its database as the owner role, which disables the
  TRUNCATE trigger inside its own flush transaction (tests/conftest.py).
- Deleting samples (ORM or raw SQL) writes ONE event per statement, not one per row: a statement-level
  AFTER DELETE trigger reads the statement's transition table (count, id range, deployment ids).
- The runtime role reaches samples only through the parent table, whose statement trigger sees every
  deletion: a new month's table keeps no grant but its owner's (`drift_app_sample_partitions_ensure`, replaced
  here), and `db_roles` revokes the runtime role's privileges on existing months. PostgreSQL checks only the
  parent's privileges for a query on the parent, so the app loses nothing.
- Retention drops whole months through `drift_app_sample_month_drop`, a SECURITY DEFINER function owned by
  the owner role (as `drift_app_sample_partitions_ensure` creates them), so the runtime role never owns or
  drops a table; it writes one event per dropped month. It lives here, not in drift_app, because it writes
  to the audit table, which drift_app's migrations precede.
"""

from importlib import import_module

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION driftdesk_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events and compliance reports are never changed or removed.';
END;
$$;
"""

# compliance 0005's version, restored on the way back.
APPEND_ONLY_WITH_TEST_EXCEPTION = """
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

# The columns of one event, as compliance 0006's capture function writes them (actor from django-pghistory's
# transaction-local context; none: "system", with the database role in request_path).
_EVENT_INSERT = """
  actor := NULLIF(current_setting('pghistory.context_metadata', true), '')::jsonb -> 'actor';
  INSERT INTO compliance_auditevent (at, actor_id, actor_username, source, request_path, action, object_type,
      object_id, object_repr, deployment_id, changed_fields, before, after, prev_hash, hash, chain_version)
  VALUES (clock_timestamp(), (actor ->> 'id')::bigint, left(COALESCE(actor ->> 'username', 'system'), 150),
      COALESCE(actor ->> 'source', 'system'),
      left(CASE WHEN actor IS NULL THEN 'db:' || session_user ELSE COALESCE(actor ->> 'path', '') END, 500),
      'delete', 'drift_app.ProductionSample', {object_id}, {object_repr}, {deployment_id}, '[]'::jsonb,
      {before}, {after}, '', '', 2);
"""

SAMPLE_DELETE = """
CREATE OR REPLACE FUNCTION driftdesk_audit_sample_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint; lo bigint; hi bigint; deps bigint[]; actor jsonb;
BEGIN
  SELECT count(*), min(id), max(id), array_agg(DISTINCT deployment_id ORDER BY deployment_id)
    INTO n, lo, hi, deps FROM deleted_samples;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
""" + _EVENT_INSERT.format(
    object_id="lo::text || '-' || hi::text",
    object_repr="n::text || CASE WHEN n = 1 THEN ' sample' ELSE ' samples' END",
    deployment_id="CASE WHEN cardinality(deps) = 1 THEN deps[1] END",
    before="jsonb_build_object('count', n, 'min_id', lo, 'max_id', hi, 'deployment_ids', to_jsonb(deps))",
    after="NULL",
) + """
  RETURN NULL;
END
$$;

CREATE TRIGGER drift_app_productionsample_audit_delete AFTER DELETE ON drift_app_productionsample
REFERENCING OLD TABLE AS deleted_samples FOR EACH STATEMENT EXECUTE FUNCTION driftdesk_audit_sample_delete();
"""

SAMPLE_DELETE_DROP = """
DROP TRIGGER IF EXISTS drift_app_productionsample_audit_delete ON drift_app_productionsample;
DROP FUNCTION IF EXISTS driftdesk_audit_sample_delete();
"""

# Drops one month's partition (named from the month, checked to be a partition of the samples table), keeping
# the given evidence samples: they are copied aside, the month is created afresh and they go back in.
MONTH_DROP = """
CREATE OR REPLACE FUNCTION drift_app_sample_month_drop(month timestamptz, keep bigint[])
RETURNS TABLE (dropped bigint, kept bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  m timestamp := date_trunc('month', month AT TIME ZONE 'UTC');
  name text := 'drift_app_productionsample_p' || to_char(date_trunc('month', month AT TIME ZONE 'UTC'), 'YYYY_MM');
  total bigint; k bigint := 0; missing bigint; actor jsonb;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = to_regclass(name)
                 AND i.inhparent = 'drift_app_productionsample'::regclass) THEN
    RAISE EXCEPTION 'no month partition % of drift_app_productionsample', name;
  END IF;
  EXECUTE format('SELECT count(*) FROM %I', name) INTO total;
  -- The caller names what to keep; the database checks it names every sample of the month that is evidence
  -- (the references drift_app 0016's delete guard checks), so a wrong list drops no evidence.
  EXECUTE format($q$SELECT count(*) FROM (
      SELECT sample_id AS id FROM feedback_flag
      UNION SELECT sample_id FROM feedback_promotion
      UNION SELECT source_sample_id FROM goldenset_goldenitem WHERE source_sample_id IS NOT NULL
      UNION SELECT unnest(sample_ids) FROM drift_app_baseline WHERE is_active
    ) r WHERE r.id <> ALL($1) AND EXISTS (SELECT FROM %I s WHERE s.id = r.id)$q$, name)
    INTO missing USING COALESCE(keep, '{}'::bigint[]);
  IF missing > 0 THEN
    RAISE EXCEPTION 'month % holds % evidence samples missing from the list to keep: not dropped',
        to_char(m, 'YYYY-MM'), missing
      USING ERRCODE = 'foreign_key_violation', HINT = 'Retention keeps every evidence sample of a month it drops.';
  END IF;
  IF COALESCE(cardinality(keep), 0) > 0 THEN
    EXECUTE format('CREATE TEMP TABLE _kept_samples ON COMMIT DROP AS SELECT * FROM %I WHERE id = ANY($1)', name)
      USING keep;
  END IF;
  EXECUTE format('DROP TABLE %I', name);
  IF COALESCE(cardinality(keep), 0) > 0 THEN
    PERFORM drift_app_sample_partitions_ensure(ARRAY[m AT TIME ZONE 'UTC']);
    INSERT INTO drift_app_productionsample SELECT * FROM _kept_samples;
    GET DIAGNOSTICS k = ROW_COUNT;
    DROP TABLE _kept_samples;  -- not left to ON COMMIT: one transaction may drop several months
  END IF;
""" + _EVENT_INSERT.format(
    object_id="name",
    object_repr="'month ' || to_char(m, 'YYYY-MM') || ': ' || (total - k)::text || ' samples dropped'",
    deployment_id="NULL",
    before="jsonb_build_object('month', to_char(m, 'YYYY-MM'), 'samples', total)",
    after="jsonb_build_object('dropped', total - k, 'kept', k, 'by', 'retention (DROP TABLE of the month)')",
) + """
  RETURN QUERY SELECT total - k, k;
END
$$;
"""


# drift_app 0017's function, and after CREATE TABLE: every grant that default privileges gave the new month
# (the runtime role's) is taken back.
_ENSURE = """
CREATE OR REPLACE FUNCTION drift_app_sample_partitions_ensure(stamps timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month timestamp;
    name text;
    grantee text;
    created integer := 0;
    locked boolean := false;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', s AT TIME ZONE 'UTC') FROM unnest(stamps) s WHERE s IS NOT NULL
    LOOP
        name := 'drift_app_productionsample_p' || to_char(month, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            IF NOT locked THEN
                PERFORM pg_advisory_xact_lock(hashtext('drift_app.sample_partitions'));
                locked := true;
            END IF;
            -- to_regclass may still miss a month another session just made (drift_app 0017): duplicate_table
            -- means that session made it.
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF drift_app_productionsample FOR VALUES FROM (%L) TO (%L)',
                               name, month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
                __REVOKE__
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;
"""
REVOKE = """FOR grantee IN SELECT DISTINCT pg_get_userbyid(a.grantee) FROM pg_class c, aclexplode(c.relacl) a
                               WHERE c.oid = to_regclass(name) AND a.grantee <> c.relowner AND a.grantee <> 0
                LOOP
                    EXECUTE format('REVOKE ALL ON %I FROM %I', name, grantee);
                END LOOP;"""
ENSURE = _ENSURE.replace("__REVOKE__", REVOKE)
# On the way back: drift_app 0017's version, without the revocation.
ENSURE_BEFORE = import_module("drift_app.migrations.0017_sample_partitions_ensure_concurrent_create").ENSURE_FUNCTION


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0008_capture_drift_runs_and_baselines"),
        ("drift_app", "0017_sample_partitions_ensure_concurrent_create"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY, APPEND_ONLY_WITH_TEST_EXCEPTION),
        migrations.RunSQL(SAMPLE_DELETE, SAMPLE_DELETE_DROP),
        migrations.RunSQL(ENSURE, ENSURE_BEFORE),
        migrations.RunSQL(MONTH_DROP, "DROP FUNCTION IF EXISTS drift_app_sample_month_drop(timestamptz, bigint[]);"),
    ]
