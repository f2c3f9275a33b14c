"""Drift runs (who retried a failed run, each run's outcome) and baselines (who fitted one, for which period)
join the tracked tables: the same capture trigger as compliance 0006, without the bulky statistics, the
fitted artifacts, the sample id list or the heartbeat (an update that changes only those writes no event)."""

from django.db import migrations

TABLES = [
    ("drift_app_driftrun", "drift_app.DriftRun", "deployment_id", ["results", "combined", "topics", "heartbeat_at"],
     "target"),
    ("drift_app_baseline", "drift_app.Baseline", "deployment_id",
     ["sample_ids", "prompt_artifact", "response_artifact", "response_style_artifact"], "embedding_model"),
]


def _array(items: list[str]) -> str:
    return "{" + ",".join(items) + "}"


CREATE = "\n".join(
    f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION driftdesk_audit_capture('{otype}', '{how}', '{_array(excluded)}', '{repr_col}');"
    for table, otype, how, excluded, repr_col in TABLES
)
DROP = "\n".join(f"DROP TRIGGER IF EXISTS {table}_audit ON {table};" for table, *_ in TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0007_report_jobs"),
        ("drift_app", "0015_sample_fulltext_search"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
