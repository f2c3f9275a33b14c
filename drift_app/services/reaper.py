"""The reaper: runs stuck in PENDING/RUNNING past their lease are failed, so they stop blocking.

A worker killed with `kill -9`, a lost broker message or a crashed beat leaves a run that never
finishes; verdicts wait for it forever. Failing it (with the reason) lets the window be retried:
failed drift runs do not count against the one-live-run-per-window constraint.
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

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReapResult:
    drift_runs: list[int]
    baselines: list[int]


@transaction.atomic
def runs_reap(*, now: dt.datetime | None = None, lease_seconds: int | None = None) -> ReapResult:
    now = now or timezone.now()
    lease = dt.timedelta(seconds=lease_seconds if lease_seconds is not None else settings.DRIFTDESK_RUN_LEASE_SECONDS)
    cutoff = now - lease
    reason = f"reaped: no progress for more than {int(lease.total_seconds())} s (worker lost?); retry the window"

    stuck_runs = list(
        DriftRun.objects.select_for_update(skip_locked=True)
        .filter(status__in=[DriftRun.Status.PENDING, DriftRun.Status.RUNNING])
        .annotate(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
        .values_list("id", flat=True)
    )
    if stuck_runs:
        DriftRun.objects.filter(id__in=stuck_runs).update(status=DriftRun.Status.FAILED, error=reason, finished_at=now)
    stuck_baselines = list(
        Baseline.objects.select_for_update(skip_locked=True)
        .filter(status=Baseline.Status.PENDING)
        .filter(created_at__lt=cutoff)
        .values_list("id", flat=True)
    )
    if stuck_baselines:
        Baseline.objects.filter(id__in=stuck_baselines).update(status=Baseline.Status.FAILED, error=reason)
    if stuck_runs or stuck_baselines:
        logger.warning("reaped %d drift runs and %d baselines stuck past their lease", len(stuck_runs), len(stuck_baselines))
    return ReapResult(drift_runs=stuck_runs, baselines=stuck_baselines)
