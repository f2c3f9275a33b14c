"""Evaluation runs that survive faults: schedule ticks (idempotent beats), leases and the reaper."""

from __future__ import annotations

import datetime as dt
import logging

from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import EvalRun

logger = logging.getLogger(__name__)

# Answers are asked of the endpoint, and stored, this many items at a time.
ANSWER_BATCH = 16


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DRIFTDESK_RUN_LEASE_SECONDS)


def schedule_tick(cron: str, now: dt.datetime) -> dt.datetime:
    """The most recent instant at or before `now` (to the minute, UTC) at which `cron` fires.

    Duplicate beats, a redelivered task or a retry for the same firing all get the same tick, so the
    unique constraint golden_one_live_run_per_tick makes them one run. A malformed cron (or one that
    has not fired within a year) falls back to the minute of `now`.
    """
    minute = now.astimezone(dt.timezone.utc).replace(second=0, microsecond=0)
    try:
        m, h, dom, mon, dow = cron.split()
        spec = crontab(minute=m, hour=h, day_of_month=dom, month_of_year=mon, day_of_week=dow)
    except (ValueError, TypeError):
        return minute
    t = minute
    for _ in range(366 * 24 * 60):
        # celery's day_of_week counts Sunday as 0; Python's isoweekday() % 7 does the same.
        if (t.minute in spec.minute and t.hour in spec.hour and t.day in spec.day_of_month
                and t.month in spec.month_of_year and t.isoweekday() % 7 in spec.day_of_week):
            return t
        t -= dt.timedelta(minutes=1)
    return minute


def eval_run_is_held(run: EvalRun, *, now: dt.datetime | None = None) -> bool:
    """True while another worker is running `run` (RUNNING with a heartbeat inside the lease).

    A task redelivered by the broker while the first worker still runs must not run it twice.
    """
    now = now or timezone.now()
    last = run.heartbeat_at or run.started_at
    return run.status == EvalRun.Status.RUNNING and last is not None and now - last < lease()


def eval_run_heartbeat(*, run: EvalRun) -> None:
    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


@transaction.atomic
def eval_runs_reap(*, now: dt.datetime | None = None, lease_seconds: int | None = None) -> list[int]:
    """Fail evaluation runs stuck in PENDING/RUNNING past their lease. Their stored answers are kept:
    running the run again (eval_run_execute) resumes without asking the endpoint for them again."""
    now = now or timezone.now()
    span = dt.timedelta(seconds=lease_seconds) if lease_seconds is not None else lease()
    ids = list(
        EvalRun.objects.select_for_update(skip_locked=True)
        .filter(status__in=[EvalRun.Status.PENDING, EvalRun.Status.RUNNING])
        .annotate(last_seen=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_seen__lt=now - span)
        .values_list("id", flat=True)
    )
    if ids:
        EvalRun.objects.filter(id__in=ids).update(
            status=EvalRun.Status.FAILED, finished_at=now,
            error=f"reaped: no progress for more than {int(span.total_seconds())} s (worker lost?); run it again to resume",
        )
        logger.warning("reaped %d evaluation runs stuck past their lease", len(ids))
    return ids
