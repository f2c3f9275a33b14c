"""Leases for long work: a run is held by a worker while its heartbeat is fresh, not while the broker waits.

A worker computing a drift window or an evaluation renews the run's `heartbeat_at` from a background thread
every quarter of the lease, so a slow computation keeps its run however long it takes, and a run whose
worker died (`kill -9`, OOM, a lost machine) is found by the reaper one lease later, not after the broker's
visibility timeout (an hour). The reaper then queues the run again, a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)


def run_lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DRIFTDESK_RUN_LEASE_SECONDS)


def heartbeat_every() -> float:
    # Four beats per lease: one or two lost to a busy database still leave the lease fresh.
    return max(settings.DRIFTDESK_RUN_LEASE_SECONDS / 4, 0.5)


class Heartbeat:
    """`with Heartbeat(DriftRun, run.pk, status="running"):` renews the run's lease until the block ends.

    The thread has its own database connection (Django's are per thread) and closes it when it stops. It
    renews only while the run is still in `status`, and never waits on a row lock: a beat that would
    block is skipped (the next one comes a quarter lease later).
    """

    def __init__(self, model, pk: int, *, status: str, every: float | None = None):
        self.model, self.pk, self.status = model, pk, status
        self.every = every if every is not None else heartbeat_every()
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> bool:
        """Renew once; False when the run left `status` (settled or taken over) or the beat was skipped."""
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                renewed = self.model.objects.filter(pk=self.pk, status=self.status).update(heartbeat_at=timezone.now())
        except DatabaseError as exc:  # a lock held elsewhere, or the database briefly away: the next beat retries
            logger.warning("heartbeat of %s %s skipped: %s", self.model.__name__, self.pk, exc)
            return False
        self.beats += renewed
        return bool(renewed)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.beat()
        finally:
            connection.close()


def requeue_or_fail(*, model, stuck: dict[int, tuple[str, int]], now: dt.datetime, lease: dt.timedelta,
                    enqueue, retry_hint: str) -> tuple[list[int], list[int]]:
    """The reaper's step for runs past their lease (drift runs and evaluation runs share it).

    `stuck` maps run id -> (status, requeue_count). Only a run lost while RUNNING counts against
    DRIFTDESK_RUN_MAX_REQUEUES (a worker died on it: it may be what kills them); a PENDING one (message lost, or
    a long queue) is queued again without limit. Queued runs get a fresh heartbeat, so they are not reaped
    again before a worker had its chance; `enqueue(run_id)` is sent after commit. The others are failed with
    the reason and `retry_hint`. Returns (queued again, failed).
    """
    most = settings.DRIFTDESK_RUN_MAX_REQUEUES
    seconds = int(lease.total_seconds())
    requeue = sorted(i for i, (status, n) in stuck.items() if status == model.Status.PENDING or n < most)
    give_up = sorted(i for i in stuck if i not in requeue)
    if requeue:
        lost = [i for i in requeue if stuck[i][0] == model.Status.RUNNING]
        model.objects.filter(id__in=lost).update(requeue_count=F("requeue_count") + 1)
        model.objects.filter(id__in=requeue).update(
            status=model.Status.PENDING, heartbeat_at=now,
            error=f"queued again by the reaper: no progress for more than {seconds} s (worker lost?)",
        )
        for run_id in requeue:
            transaction.on_commit(lambda run_id=run_id: enqueue(run_id), robust=True)
    if give_up:
        model.objects.filter(id__in=give_up).update(
            status=model.Status.FAILED, finished_at=now,
            error=f"reaped: no progress for more than {seconds} s after {most} re-queues (worker lost each time?); "
                  f"{retry_hint}",
        )
    return requeue, give_up
