"""Leases: a computing worker renews its run's heartbeat from a thread; a run held under a fresh lease is
claimed by nobody else, one whose lease ran out (its worker was lost) is claimed again."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from drift_app import services
from drift_app.models import Baseline, DriftRun
from drift_app.services.leases import Heartbeat
from goldenset import services as golden_services
from goldenset.models import EvalRun
from tests import factories
from tests.goldenset.conftest import golden, model_server  # noqa: F401 - fixtures

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)


def _run(deployment, **fields) -> DriftRun:
    baseline = Baseline.objects.create(deployment=deployment, period_start=T0 - dt.timedelta(days=7), period_end=T0,
                                       status=Baseline.Status.FITTED, is_active=True)
    return DriftRun.objects.create(deployment=deployment, baseline=baseline, window_start=T0,
                                   window_end=T0 + dt.timedelta(days=1), target="prompts", **fields)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_while_the_block_runs_and_stops_after_it():
    old = timezone.now() - dt.timedelta(minutes=30)
    run = _run(factories.deployment(), status=DriftRun.Status.RUNNING, heartbeat_at=old)
    with Heartbeat(DriftRun, run.pk, status=DriftRun.Status.RUNNING, every=0.1) as beat:
        time.sleep(0.8)
    run.refresh_from_db()
    assert beat.beats >= 3 and run.heartbeat_at > old
    last = run.heartbeat_at
    time.sleep(0.3)
    run.refresh_from_db()
    assert run.heartbeat_at == last  # the thread stopped with the block


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_never_renews_a_run_that_left_running():
    old = timezone.now() - dt.timedelta(minutes=30)
    run = _run(factories.deployment(), status=DriftRun.Status.FAILED, heartbeat_at=old)
    with Heartbeat(DriftRun, run.pk, status=DriftRun.Status.RUNNING, every=0.1) as beat:
        time.sleep(0.4)
    run.refresh_from_db()
    assert beat.beats == 0 and run.heartbeat_at == old


@pytest.mark.django_db
def test_a_run_under_a_fresh_lease_is_claimed_once_and_again_only_after_the_lease_ran_out(settings):
    settings.DRIFTDESK_RUN_LEASE_SECONDS = 600
    run = _run(factories.deployment())
    assert services.drift_run_claim(run=run) is True
    assert services.drift_run_claim(run=run) is False  # a redelivered task while the first worker computes
    DriftRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=601))
    assert services.drift_run_claim(run=run) is True  # its worker was lost
    DriftRun.objects.filter(pk=run.pk).update(status=DriftRun.Status.COMPLETED)
    assert services.drift_run_claim(run=run) is False


@pytest.mark.django_db
def test_a_redelivered_drift_task_leaves_a_run_another_worker_holds_alone():
    run = _run(factories.deployment(), status=DriftRun.Status.RUNNING, heartbeat_at=timezone.now())
    services.drift_run_compute(run=run)
    run.refresh_from_db()
    assert run.status == DriftRun.Status.RUNNING and run.finished_at is None and run.error == ""


@pytest.mark.django_db
def test_an_evaluation_run_under_a_fresh_lease_is_claimed_once(deployment, golden, settings):  # noqa: F811
    settings.DRIFTDESK_RUN_LEASE_SECONDS = 600
    run = golden_services.eval_run_create(deployment=deployment, queue=False, answers={})
    assert golden_services.eval_run_claim(run=run) is True
    assert golden_services.eval_run_claim(run=run) is False
    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=601))
    assert golden_services.eval_run_claim(run=run) is True
    EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.SUCCEEDED)
    assert golden_services.eval_run_claim(run=run) is False
