"""Evaluation runs under faults: one run per schedule tick, answers kept per batch, leases, the reaper."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from goldenset import services
from goldenset.llm_client import ChatClient
from goldenset.models import EvalResult, EvalRun
from goldenset.services import reliability
from tests.goldenset.conftest import golden, model_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

ANSWERS = ["The Pro plan costs $49 per month.", "We keep access logs for 90 days.",
           "Use Forgot password on the sign-in page."]


def _configure(deployment, server, **extra):
    return services.eval_config_update(deployment=deployment, endpoint_base_url=server.url, endpoint_model="ft-v4",
                                       timeout_s=0.5, max_retries=1, concurrency=2, **extra)


def _client(server) -> ChatClient:
    return ChatClient(base_url=server.url, model="ft-v4", timeout_s=0.5, max_retries=1, backoff_s=0.01,
                      concurrency=2, api_key="")


@pytest.mark.parametrize("cron, now, tick", [
    ("0 3 * * *", "2026-03-05T10:17:42+00:00", "2026-03-05T03:00:00+00:00"),
    ("0 3 * * *", "2026-03-05T02:59:00+00:00", "2026-03-04T03:00:00+00:00"),
    ("*/15 * * * *", "2026-03-05T10:17:42+00:00", "2026-03-05T10:15:00+00:00"),
    ("30 6 * * 1", "2026-03-05T10:00:00+00:00", "2026-03-02T06:30:00+00:00"),  # Monday 2 March 2026
])
def test_the_schedule_tick_is_the_last_firing_of_the_cron(cron, now, tick):
    assert services.schedule_tick(cron, dt.datetime.fromisoformat(now)) == dt.datetime.fromisoformat(tick)


def test_a_duplicate_scheduled_beat_for_the_same_tick_creates_no_second_run(deployment, golden, model_server):  # noqa: F811
    model_server.answers = {i.prompt: a for i, a in zip(golden, ANSWERS)}
    _configure(deployment, model_server, schedule_cron="0 3 * * *")
    first = services.eval_scheduled(deployment=deployment)
    again = services.eval_scheduled(deployment=deployment)
    assert first.status == EvalRun.Status.SUCCEEDED and again.pk == first.pk
    assert EvalRun.objects.filter(deployment=deployment).count() == 1
    assert sorted(model_server.hits.values()) == [1, 1, 1]


def test_a_killed_run_resumes_without_asking_the_endpoint_again_for_answered_items(deployment, golden, model_server, monkeypatch):  # noqa: F811
    model_server.answers = {i.prompt: a for i, a in zip(golden, ANSWERS)}
    _configure(deployment, model_server)
    monkeypatch.setattr(reliability, "ANSWER_BATCH", 1)

    class DiesAfterOneBatch(ChatClient):
        calls = 0

        def complete_many(self, conversations):
            DiesAfterOneBatch.calls += 1
            if DiesAfterOneBatch.calls > 1:
                raise RuntimeError("worker killed")
            return super().complete_many(conversations)

    run = services.eval_run_create(deployment=deployment, queue=False)
    dying = DiesAfterOneBatch(base_url=model_server.url, model="ft-v4", timeout_s=0.5, max_retries=1, backoff_s=0.01,
                              concurrency=2, api_key="")
    with pytest.raises(RuntimeError):
        services.eval_run_execute(run=run, client=dying)
    assert EvalResult.objects.filter(run=run, answer__isnull=False).count() == 1  # the first batch was kept

    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=2))
    run = services.eval_run_execute(run=run, client=_client(model_server))
    assert run.status == EvalRun.Status.SUCCEEDED and run.pass_rate == 1.0
    assert sorted(model_server.hits.values()) == [1, 1, 1]  # no item asked twice


def test_a_redelivered_task_leaves_a_run_another_worker_holds_alone(deployment, golden, model_server):  # noqa: F811
    _configure(deployment, model_server)
    run = services.eval_run_create(deployment=deployment, queue=False)
    EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.RUNNING, started_at=timezone.now(),
                                             heartbeat_at=timezone.now())
    services.eval_run_execute(run=run, client=_client(model_server))
    assert model_server.hits == {}
    assert EvalRun.objects.get(pk=run.pk).status == EvalRun.Status.RUNNING


def test_the_reaper_queues_evaluation_runs_stuck_past_their_lease_again_then_fails_them(deployment, golden, model_server, settings):  # noqa: F811
    settings.DRIFTDESK_RUN_MAX_REQUEUES = 1
    _configure(deployment, model_server)
    stuck = services.eval_run_create(deployment=deployment, queue=False)
    fresh = services.eval_run_create(deployment=deployment, queue=False)
    EvalRun.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - dt.timedelta(hours=3))

    # Never started (its message lost): queued again, and that does not count against the bound.
    first = services.eval_runs_reap(lease_seconds=3600)
    assert (first.requeued, first.failed) == ([stuck.pk], [])
    stuck.refresh_from_db()
    assert stuck.status == EvalRun.Status.PENDING and stuck.requeue_count == 0
    assert EvalRun.objects.get(pk=fresh.pk).status == EvalRun.Status.PENDING

    def lost_while_running():
        EvalRun.objects.filter(pk=stuck.pk).update(status=EvalRun.Status.RUNNING,
                                                   heartbeat_at=timezone.now() - dt.timedelta(hours=2))
        return services.eval_runs_reap(lease_seconds=3600)

    second = lost_while_running()
    assert (second.requeued, second.failed) == ([stuck.pk], [])
    # Lost while running once more: past the bound, failed with the reason (retried by hand: test_run_retry.py).
    third = lost_while_running()
    assert (third.requeued, third.failed) == ([], [stuck.pk])
    stuck.refresh_from_db()
    assert stuck.status == EvalRun.Status.FAILED and "after 1 re-queues" in stuck.error
