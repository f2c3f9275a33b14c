"""Thin tasks: load by id, call one service. Retries for database hiccups live here."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def verdicts_scheduled_task() -> int:
    from . import services

    return len(services.verdicts_scheduled())


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def verdict_compute_task(deployment_id: int, window_start: str, window_end: str) -> int:
    """Chain after a drift window: verdict_compute_task.delay(deployment.id, start.isoformat(), end.isoformat())."""
    from drift_app.models import Deployment

    from . import services

    verdict = services.verdict_compute(
        deployment=Deployment.objects.get(id=deployment_id),
        window_start=dt.datetime.fromisoformat(window_start), window_end=dt.datetime.fromisoformat(window_end),
    )
    return verdict.pk


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def alert_notify_task(alert_id: int) -> int:
    from . import services
    from .models import Alert

    return len(services.alert_notify(alert=Alert.objects.get(id=alert_id)))
