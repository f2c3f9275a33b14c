"""The verdicts app moved from drift_app/verdicts/ to verdicts/: its Celery task names moved with it."""

from django.db import migrations

OLD = "drift_app.verdicts.tasks."
NEW = "verdicts.tasks."


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
    dependencies = [("verdicts", "0002_schedule_hourly_verdicts"), ("django_celery_beat", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
