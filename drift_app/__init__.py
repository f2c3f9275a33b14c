# The Celery app is imported lazily by Django's AppConfig (drift_app/apps.py), never here:
# drift_app.stats must stay importable without Django or Celery.
