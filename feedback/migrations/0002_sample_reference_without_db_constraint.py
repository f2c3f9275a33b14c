
import django.db.models.deletion
from django.db import migrations, models

# The foreign keys to samples become plain indexed columns (samples are partitioned by month, and a
# foreign key to a partitioned table must name its partition key). This constraint trigger keeps what
# the foreign key checked: a row may only point at a sample that exists; deferred to commit as the key was.
SAMPLE_MUST_EXIST = """
CREATE OR REPLACE FUNCTION sample_reference_must_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sample_id bigint;
BEGIN
    EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) INTO sample_id USING NEW;
    IF sample_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM drift_app_productionsample WHERE id = sample_id) THEN
        RAISE EXCEPTION 'insert or update on table "%" violates its sample reference', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (%s)=(%s) is not present in table "drift_app_productionsample".', TG_ARGV[0], sample_id);
    END IF;
    RETURN NULL;
END $$;
"""


def trigger(table: str, column: str) -> migrations.RunSQL:
    name = f"{table}_{column}_exists"
    return migrations.RunSQL(
        f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT OR UPDATE OF {column} ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sample_reference_must_exist('{column}')",
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
    )



class Migration(migrations.Migration):

    dependencies = [
        ('drift_app', '0010_sample_quality_scores'),
        ('feedback', '0001_flags_labels_and_promotions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='flag',
            name='sample',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='flags', to='drift_app.productionsample'),
        ),
        migrations.AlterField(
            model_name='promotion',
            name='sample',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='promotions', to='drift_app.productionsample'),
        ),
        migrations.RunSQL(SAMPLE_MUST_EXIST, migrations.RunSQL.noop),
        trigger("feedback_flag", "sample_id"),
        trigger("feedback_promotion", "sample_id"),
    ]
