"""The reaper: runs stuck in PENDING/RUNNING past their lease are queued again, a bounded number of times.

A worker killed with `kill -9`, a lost broker message or a crashed beat leaves a run that never finishes;
verdicts wait for it forever. A running run renews its lease from a heartbeat (services/leases.py), so one
whose heartbeat is older than the lease has lost its worker: the reaper puts it back to PENDING and queues it
again (the compute task claims it with one UPDATE, so a duplicate message computes nothing twice). A run
lost while RUNNING more than DRIFTDESK_RUN_MAX_REQUEUES times is failed with the reason; a failed run can be retried
(drift_run_retry) and does not count against the one-live-run-per-window constraint. A baseline stuck in
PENDING is failed (fit a new one).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Baseline, DriftRun
from . import leases

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReapResult:
    requeued: list[int]  # drift runs queued again
    failed: list[int]  # drift runs that used up their re-queues
    baselines: list[int]  # baselines failed


@transaction.atomic
def runs_reap(*, now: dt.datetime | None = None, lease_seconds: int | None = None) -> ReapResult:
    now = now or timezone.now()
    lease = dt.timedelta(seconds=lease_seconds if lease_seconds is not None else settings.DRIFTDESK_RUN_LEASE_SECONDS)
    cutoff = now - lease
    most = settings.DRIFTDESK_RUN_MAX_REQUEUES

    stuck = (
        DriftRun.objects.select_for_update(skip_locked=True)
        .filter(status__in=[DriftRun.Status.PENDING, DriftRun.Status.RUNNING])
        .annotate(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
    )
    from ..tasks import drift_run_compute_task  # tasks import services: resolved at call time

    stuck_runs = {i: (status, n) for i, status, n in stuck.values_list("id", "status", "requeue_count")}
    requeue, give_up = leases.requeue_or_fail(
        model=DriftRun, stuck=stuck_runs, now=now, lease=lease,
        enqueue=lambda run_id: drift_run_compute_task.delay(run_id),
        retry_hint="retry the run once the cause is fixed",
    )
    stuck_baselines = list(
        Baseline.objects.select_for_update(skip_locked=True)
        .filter(status=Baseline.Status.PENDING)
        .filter(created_at__lt=cutoff)
        .values_list("id", flat=True)
    )
    if stuck_baselines:
        Baseline.objects.filter(id__in=stuck_baselines).update(
            status=Baseline.Status.FAILED,
            error=f"reaped: not fitted within {int(lease.total_seconds())} s (worker lost?); create the baseline again",
        )
    if stuck_runs or stuck_baselines:
        logger.warning("reaper: %d drift runs queued again, %d failed after %d re-queues, %d baselines failed",
                       len(requeue), len(give_up), most, len(stuck_baselines))
    return ReapResult(requeued=requeue, failed=give_up, baselines=stuck_baselines)
