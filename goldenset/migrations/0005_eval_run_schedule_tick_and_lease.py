from django.conf import settings
from django.db import migrations, models


def schedule_reaper(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Fail evaluation runs stuck past their lease",
        defaults={"task": "goldenset.tasks.reap_stuck_eval_runs_task", "interval": every, "queue": "default"},
    )


def unschedule_reaper(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task="goldenset.tasks.reap_stuck_eval_runs_task").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('drift_app', '0005_baselines_and_drift_runs'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        ('goldenset', '0004_four_eyes_against_every_editor'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(schedule_reaper, unschedule_reaper),
        migrations.AddField(
            model_name='evalrun',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='evalrun',
            name='schedule_tick',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='evalrun',
            constraint=models.UniqueConstraint(condition=models.Q(('schedule_tick__isnull', False), models.Q(('status', 'failed'), _negated=True)), fields=('deployment', 'model_version', 'schedule_tick'), name='golden_one_live_run_per_tick'),
        ),
    ]
