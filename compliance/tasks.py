"""Celery tasks: thin, they take ids and call one service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError

from drift_app.models import Deployment

from . import services


@shared_task(acks_late=True)
def reports_monthly_task() -> list[int]:
    """Beat, on the 1st of each month: fan out last month's report, one task per deployment."""
    from django.utils import timezone

    start, end = services.previous_month(timezone.now())
    ids = services.reports_generate_monthly(now=timezone.now())
    for deployment_id in ids:
        report_generate_task.delay(deployment_id, start.isoformat(), end.isoformat())
    return ids


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def report_generate_task(deployment_id: int, start: str, end: str) -> int:
    report = services.report_generate_scheduled(
        deployment=Deployment.objects.get(pk=deployment_id),
        start=dt.datetime.fromisoformat(start), end=dt.datetime.fromisoformat(end),
    )
    return report.pk


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def report_job_task(job_id: int) -> int:
    from .models import ReportJob

    try:
        return services.report_job_run(job=ReportJob.objects.select_related("deployment", "report").get(pk=job_id)).pk
    except OperationalError:
        raise
    except Exception as exc:
        services.report_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
