"""Celery beat computes each deployment's verdict for its last complete window, hourly at :45.

Hourly (not once per window) so that a window whose drift runs finish late still gets its verdict on
a later run; recomputing a window is idempotent. Editable in the admin (django-celery-beat).
"""

from django.db import migrations

NAME = "Verdicts: last complete window of every deployment"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="45", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": "verdicts.tasks.verdicts_scheduled_task", "crontab": crontab, "interval": None,
                  "args": "[]", "queue": "default", "enabled": True},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("verdicts", "0001_alerts_and_verdicts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
