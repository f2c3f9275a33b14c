import os

from celery import Celery

from drift_app.ops import connect_task_signals  # django.http only at import: no settings needed yet

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drift_app.settings.base")

app = Celery("driftdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Task durations and failures go to /metrics through Redis (drift_app/ops.py), from every worker.
connect_task_signals()
