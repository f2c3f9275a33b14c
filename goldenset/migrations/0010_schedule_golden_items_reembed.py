from django.db import migrations


def schedule_reembed(apps, schema_editor):
    # Like the samples' backfill (drift_app 0004): after a switch of encoder the golden items are re-embedded
    # in the background; editable afterwards in the admin (django-celery-beat).
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Embed golden items with the current encoder",
        defaults={"task": "goldenset.tasks.golden_items_reembed_task", "interval": every, "queue": "default"},
    )


def unschedule_reembed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task="goldenset.tasks.golden_items_reembed_task").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("goldenset", "0009_golden_set_per_team"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule_reembed, unschedule_reembed)]
