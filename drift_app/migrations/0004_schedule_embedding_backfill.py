from django.db import migrations


def schedule_backfill(apps, schema_editor):
    # Editable afterwards in the admin (django-celery-beat): ML engineers may change the interval.
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Embed samples still without vectors",
        defaults={"task": "drift_app.tasks.backfill_embeddings_task", "interval": every, "queue": "default"},
    )


def unschedule_backfill(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task="drift_app.tasks.backfill_embeddings_task"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("drift_app", "0003_create_role_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule_backfill, unschedule_backfill)]
