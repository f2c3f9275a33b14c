"""Evaluation runs that survive faults: schedule ticks (idempotent beats), leases and the reaper."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from celery.schedules import crontab
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from drift_app.services import leases

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


def eval_run_claim(*, run: EvalRun) -> bool:
    """Take the run for this worker in one UPDATE: anything but a succeeded run or one whose worker's heartbeat
    is inside the lease. Two deliveries of the same task (a redelivery, a reaper's re-queue, a retry) never
    run it twice at once."""
    now = timezone.now()
    held = Q(status=EvalRun.Status.RUNNING, heartbeat_at__gte=now - lease())
    return EvalRun.objects.filter(pk=run.pk).exclude(held).exclude(status=EvalRun.Status.SUCCEEDED).update(
        status=EvalRun.Status.RUNNING, heartbeat_at=now, started_at=Coalesce("started_at", Value(now))) == 1


class RetryRefused(Exception):
    """The evaluation run cannot be retried now; the message says why (409 / a page message)."""


@transaction.atomic
def eval_run_retry(*, run: EvalRun, user) -> EvalRun:
    """Put a failed run back to PENDING and queue it; its stored answers are kept, so it resumes where it stopped.

    Saved (not updated), so the audit trail records who retried it. Refused unless the run failed, or when a
    scheduled run's tick already has another live run.
    """
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status != EvalRun.Status.FAILED:
        raise RetryRefused(f"evaluation run {run.pk} is {run.status}; only a failed run can be retried")
    run.status, run.error, run.finished_at, run.heartbeat_at, run.requeue_count = EvalRun.Status.PENDING, "", None, None, 0
    try:
        with transaction.atomic():
            run.save(update_fields=["status", "error", "finished_at", "heartbeat_at", "requeue_count"])
    except IntegrityError:
        raise RetryRefused(f"the schedule tick of run {run.pk} already has another live run") from None
    logger.info("evaluation run %s retried by %s", run.pk, getattr(user, "username", user))
    from ..tasks import eval_run_execute_task

    transaction.on_commit(lambda: eval_run_execute_task.delay(run.pk), robust=True)
    return run


def eval_run_heartbeat(*, run: EvalRun) -> None:
    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


@dataclass(frozen=True)
class EvalReapResult:
    requeued: list[int]
    failed: list[int]


@transaction.atomic
def eval_runs_reap(*, now: dt.datetime | None = None, lease_seconds: int | None = None) -> EvalReapResult:
    """Queue again evaluation runs stuck in PENDING/RUNNING past their lease (their worker was lost), at most
    DRIFTDESK_RUN_MAX_REQUEUES times, then fail them with the reason. Their stored answers are kept: the run
    resumes without asking the endpoint again for answered items."""
    now = now or timezone.now()
    span = dt.timedelta(seconds=lease_seconds) if lease_seconds is not None else lease()
    most = settings.DRIFTDESK_RUN_MAX_REQUEUES
    stuck = {
        i: (status, n) for i, status, n in EvalRun.objects.select_for_update(skip_locked=True)
        .filter(status__in=[EvalRun.Status.PENDING, EvalRun.Status.RUNNING])
        .annotate(last_seen=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_seen__lt=now - span)
        .values_list("id", "status", "requeue_count")
    }
    from ..tasks import eval_run_execute_task  # tasks import services: resolved at call time

    requeue, give_up = leases.requeue_or_fail(
        model=EvalRun, stuck=stuck, now=now, lease=span,
        enqueue=lambda run_id: eval_run_execute_task.delay(run_id), retry_hint="retry it to resume",
    )
    if stuck:
        logger.warning("reaper: %d evaluation runs queued again, %d failed after %d re-queues",
                       len(requeue), len(give_up), most)
    return EvalReapResult(requeued=requeue, failed=give_up)
