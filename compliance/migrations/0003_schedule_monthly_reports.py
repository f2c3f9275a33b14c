"""Celery beat generates last month's compliance report of every deployment, on the 1st at 02:30 UTC.

The task fans out one report task per deployment; a redelivered task does not generate a second
scheduled report for the same period (services.reports_generate_monthly). Editable in the admin.
"""

from django.db import migrations

NAME = "Compliance: monthly degradation report of every deployment"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="1", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": "compliance.tasks.reports_monthly_task", "crontab": crontab, "interval": None,
                  "args": "[]", "queue": "default", "enabled": True},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_append_only_triggers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
