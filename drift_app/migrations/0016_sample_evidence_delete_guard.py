"""A sample that is evidence cannot be deleted, whoever deletes it: refused by the database.

The foreign keys to samples are plain columns (samples are partitioned by month, see 0011), so the
database no longer refuses deleting a referenced sample by itself: only the ORM's PROTECT and retention,
which skips evidence, did. This row trigger on the partitioned table (cloned onto every month's table,
present and future, so a DELETE naming a partition is checked too) refuses deleting a sample still
referenced by a flag, a promotion, a golden item authored from it, or its deployment's active baseline,
naming the referrer. Retention drops whole months with DROP TABLE, which fires no DELETE trigger, after
carrying the evidence samples over (drift_app.services.retention), so it keeps working.

The referring tables belong to apps above drift_app; this migration names them (and runs after the
migrations that made their columns) because a trigger's body is SQL, not an import.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION driftdesk_sample_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referrer text;
BEGIN
    -- Each probe is an index lookup; the baseline's array is searched only for the one active baseline
    -- of the sample's deployment whose period holds the sample (a bulk purge stays fast).
    SELECT r INTO referrer FROM (
        SELECT 'flag ' || id AS r FROM feedback_flag WHERE sample_id = OLD.id
        UNION ALL SELECT 'promotion ' || id FROM feedback_promotion WHERE sample_id = OLD.id
        UNION ALL SELECT 'golden item ' || id FROM goldenset_goldenitem WHERE source_sample_id = OLD.id
        UNION ALL SELECT 'active baseline ' || id FROM drift_app_baseline
            WHERE deployment_id = OLD.deployment_id AND is_active
              AND OLD.client_timestamp >= period_start AND OLD.client_timestamp < period_end
              AND OLD.id = ANY(sample_ids)
    ) refs LIMIT 1;
    IF referrer IS NOT NULL THEN
        RAISE EXCEPTION 'sample % is evidence and cannot be deleted: % refers to it', OLD.id, referrer
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Evidence samples are kept whatever their age; retention skips them.';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER drift_app_productionsample_evidence_kept BEFORE DELETE ON drift_app_productionsample
    FOR EACH ROW EXECUTE FUNCTION driftdesk_sample_delete_guard();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS drift_app_productionsample_evidence_kept ON drift_app_productionsample;
DROP FUNCTION IF EXISTS driftdesk_sample_delete_guard();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("drift_app", "0015_sample_fulltext_search"),
        # The referring columns: flags and promotions (feedback), golden items' source sample (goldenset).
        ("feedback", "0002_sample_reference_without_db_constraint"),
        ("goldenset", "0007_sample_reference_without_db_constraint"),
    ]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
