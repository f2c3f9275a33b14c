import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drift_app.settings.base")

app = Celery("driftdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
