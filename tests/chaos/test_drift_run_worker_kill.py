"""A worker killed with kill -9 while it computes a drift run: the run's heartbeat stops, one lease later the
reaper queues it again (not after the broker's hour), a second worker computes it, and it completes once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import numpy as np
import pytest

from compliance.models import AuditEvent
from drift_app import services
from drift_app.models import DriftRun
from tests import factories
from tests.chaos.test_run_worker_kill import _wait
from tests.drift.test_drift_runs import _clusters, _store, _unit
from tests.drift.test_embedding_pipeline import worker_factory  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4
T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)


def test_a_drift_run_whose_worker_was_killed_mid_computation_is_queued_again_and_completes_once(
        personas, worker_factory, settings):  # noqa: F811
    settings.DRIFTDESK_RUN_LEASE_SECONDS = LEASE_SECONDS
    rng = np.random.default_rng(5)
    centres = _unit(rng.standard_normal((4, 384)))
    deployment = factories.deployment(min_window_samples=100, drift_window="weekly")
    week2 = T0 + dt.timedelta(weeks=1)
    _store(deployment, _clusters(rng, 600, centres), start=T0, prefix="base")
    _store(deployment, _clusters(rng, 120, centres), start=week2, prefix="win")
    services.baseline_fit(baseline=services.baseline_create(deployment=deployment, period_start=T0, period_end=week2,
                                                            enqueue=False))
    env = {"CELERY_VISIBILITY_TIMEOUT": "3600", "DRIFTDESK_RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
    doomed = worker_factory("doomed", env)
    [run] = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week2 + dt.timedelta(weeks=1),
                                       targets=("prompts",))  # queued after commit

    # Computing: claimed, and its first calibration takes seconds. Killed there, mid-computation.
    _wait(lambda: DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.RUNNING, 180, [doomed], "the run to start")
    time.sleep(1.5)
    assert DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.RUNNING, "finished before it could be killed"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    killed_at = time.time()

    assert services.runs_reap().requeued == []  # within the lease: its worker might still be alive
    time.sleep(LEASE_SECONDS + 0.5)
    assert services.runs_reap().requeued == [run.pk]
    survivor = worker_factory("survivor", env)
    _wait(lambda: DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.COMPLETED, 240, [survivor],
          "the run to complete on the second worker")
    assert time.time() - killed_at < 260  # bounded by the lease, not the broker's hour

    run.refresh_from_db()
    assert run.requeue_count == 1 and run.sample_count == 120 and run.evaluated_count > 0 and run.drifted is not None
    assert DriftRun.objects.filter(deployment=deployment).count() == 1
    completed = [e for e in AuditEvent.objects.filter(object_type="drift_app.DriftRun", object_id=str(run.pk))
                 if e.after and e.after.get("status") == "completed"]
    assert len(completed) == 1  # completed once
