"""drift_app_sample_partitions_ensure survives two sessions creating the same month at once.

Its re-check after the advisory lock used to_regclass, which reads the session's catalog cache: taking an
advisory lock does not process invalidation messages, so a month created by the session that held the lock
could still look missing, and the CREATE failed with "relation … already exists" (a 500 on two concurrent
ingestion requests with timestamps in a month not yet created; seen in bench/ingest.py's warm-up). The CREATE
now treats duplicate_table as "another session made it", which needs no cache at all.
"""

from django.db import migrations

TABLE = "drift_app_productionsample"

ENSURE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION drift_app_sample_partitions_ensure(stamps timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month timestamp;
    name text;
    created integer := 0;
    locked boolean := false;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', s AT TIME ZONE 'UTC') FROM unnest(stamps) s WHERE s IS NOT NULL
    LOOP
        name := '{TABLE}_p' || to_char(month, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            IF NOT locked THEN
                PERFORM pg_advisory_xact_lock(hashtext('drift_app.sample_partitions'));
                locked := true;
            END IF;
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF {TABLE} FOR VALUES FROM (%L) TO (%L)', name,
                               month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- made by the session that held the lock before us
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("drift_app", "0016_sample_evidence_delete_guard")]

    operations = [migrations.RunSQL(ENSURE_FUNCTION, reverse_sql=migrations.RunSQL.noop)]
