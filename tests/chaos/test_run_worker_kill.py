"""A worker killed with kill -9 in the middle of an evaluation run: one lease later the reaper queues the run
again, a second worker resumes it with the answers the first one stored, and the run completes once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from compliance.models import AuditEvent
from goldenset import services
from goldenset.models import EvalResult, EvalRun
from tests.drift.test_embedding_pipeline import worker_factory  # noqa: F401 - fixture
from tests.goldenset.conftest import deployment, make_item, model_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4
ITEMS = 24  # a first batch of 16 answers stored, the second batch in flight when the worker dies


def _wait(predicate, seconds: float, procs=(), what: str = "") -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"worker exited early:\n{p.log.read_text()[-3000:]}")
        time.sleep(0.2)
    logs = "\n".join(p.log.read_text()[-3000:] for p in procs)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{logs}")


def test_a_run_whose_worker_was_killed_is_queued_again_after_its_lease_and_completes_once(
        personas, deployment, model_server, worker_factory, settings):  # noqa: F811
    settings.DRIFTDESK_RUN_LEASE_SECONDS = LEASE_SECONDS
    items = [make_item(personas.bob, f"Chaos question number {i}: how do I export invoice {i}?",
                       f"Open Billing and export invoice {i}.", "billing") for i in range(ITEMS)]
    for item in items:
        services.golden_item_submit(item=item, user=personas.bob, reason="ready")
    services.golden_items_approve(items=items, user=personas.carol, reason="checked")
    model_server.answers = {i.prompt: i.reference_answer for i in items}
    model_server.delay = 1.0
    services.eval_config_update(deployment=deployment, endpoint_base_url=model_server.url, endpoint_model="ft-v4",
                                timeout_s=10, max_retries=0, concurrency=4)
    # The broker would redeliver the unacknowledged task only after an hour, as in production.
    env = {"CELERY_VISIBILITY_TIMEOUT": "3600", "DRIFTDESK_RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
    doomed = worker_factory("doomed", env)
    run = services.eval_run_create(deployment=deployment, user=personas.erin)  # queued after commit

    answered = EvalResult.objects.filter(run=run, answer__isnull=False)
    _wait(lambda: answered.count() >= 16, 180, [doomed], "the first batch of answers")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    killed_at = time.time()
    stored_before_kill = set(answered.values_list("item_id", flat=True))
    assert 16 <= len(stored_before_kill) <= ITEMS  # mid-run: answering its second batch, or scoring
    assert EvalRun.objects.get(pk=run.pk).status == EvalRun.Status.RUNNING

    # Within its lease the run is left alone (its worker might be alive); one lease later it is queued again.
    assert services.eval_runs_reap().requeued == []
    time.sleep(LEASE_SECONDS + 0.5)
    assert services.eval_runs_reap().requeued == [run.pk]
    survivor = worker_factory("survivor", env)
    _wait(lambda: EvalRun.objects.get(pk=run.pk).status == EvalRun.Status.SUCCEEDED, 180, [survivor],
          "the run to succeed on the second worker")
    assert time.time() - killed_at < 200  # bounded by the lease, not the broker's hour

    run.refresh_from_db()
    assert run.requeue_count == 1 and run.item_count == ITEMS and run.passed_count == ITEMS
    assert EvalRun.objects.filter(deployment=deployment).count() == 1
    # The answers stored before the kill were not asked for again; the batch in flight at most once more.
    for item in items:
        assert model_server.hits[item.prompt] == (1 if item.pk in stored_before_kill else model_server.hits[item.prompt])
        assert 1 <= model_server.hits[item.prompt] <= 2
    # Completed once: one transition to "succeeded" in the audit trail.
    finished = [e for e in AuditEvent.objects.filter(object_type="goldenset.EvalRun", object_id=str(run.pk))
                if e.after and e.after.get("status") == "succeeded"]
    assert len(finished) == 1
