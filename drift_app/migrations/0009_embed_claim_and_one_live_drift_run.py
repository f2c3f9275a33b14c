from django.db import migrations, models


def fail_duplicate_live_runs(apps, schema_editor):
    """Before the constraint: of duplicate live runs of one window, keep the oldest, fail the others."""
    DriftRun = apps.get_model("drift_app", "DriftRun")
    seen = {}
    for run in DriftRun.objects.exclude(status="failed").order_by("id"):
        key = (run.deployment_id, run.target, run.window_start, run.window_end)
        if key in seen:
            run.status = "failed"
            run.error = f"duplicate of drift run {seen[key]} (failed when one live run per window became a rule)"
            run.save(update_fields=["status", "error"])
        else:
            seen[key] = run.id


def schedule_reaper(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Fail runs stuck past their lease",
        defaults={"task": "drift_app.tasks.reap_stuck_runs_task", "interval": every, "queue": "default"},
    )


def unschedule_reaper(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task="drift_app.tasks.reap_stuck_runs_task").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('drift_app', '0008_drift_exchangeable_calibration_and_complete_windows'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='driftrun',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='productionsample',
            name='embed_queued_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='productionsample',
            index=models.Index(condition=models.Q(('prompt_embedding__isnull', True)), fields=['embed_queued_at', 'id'], name='sample_embed_claim'),
        ),
        migrations.AddIndex(
            model_name='productionsample',
            index=models.Index(fields=['embedding_model'], name='sample_embedding_model'),
        ),
        migrations.RunPython(fail_duplicate_live_runs, migrations.RunPython.noop),
        migrations.RunPython(schedule_reaper, unschedule_reaper),
        migrations.AddConstraint(
            model_name='driftrun',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'failed'), _negated=True), fields=('deployment', 'target', 'window_start', 'window_end'), name='driftrun_one_live_per_window'),
        ),
    ]
