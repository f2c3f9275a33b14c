"""The compliance app moved from drift_app/compliance/ to compliance/: its Celery task names moved with it."""

from django.db import migrations

OLD = "drift_app.compliance.tasks."
NEW = "compliance.tasks."


def forwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task in PeriodicTask.objects.filter(task__startswith=OLD):
        task.task = NEW + task.task[len(OLD):]
        task.save(update_fields=["task"])


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task in PeriodicTask.objects.filter(task__startswith=NEW):
        task.task = OLD + task.task[len(NEW):]
        task.save(update_fields=["task"])


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_schedule_monthly_reports"), ("django_celery_beat", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
