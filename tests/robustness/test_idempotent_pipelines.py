"""Pipelines that are idempotent and self-healing: one live drift run per window, the reaper, the backfill claim."""

from __future__ import annotations

import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from drift_app import services
from drift_app.models import Baseline, DriftRun, ProductionSample
from tests import factories

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)


def _fitted_baseline(deployment) -> Baseline:
    # Only its existence and status matter here: no run below is computed.
    return Baseline.objects.create(deployment=deployment, period_start=T0 - dt.timedelta(days=7), period_end=T0,
                                   status=Baseline.Status.FITTED, is_active=True)


@pytest.mark.django_db
def test_a_repeated_drift_run_request_reuses_the_live_run_of_the_window(personas):
    deployment = factories.deployment()
    _fitted_baseline(deployment)
    body = json.dumps({"window_start": T0.isoformat(), "window_end": (T0 + dt.timedelta(days=1)).isoformat()})
    url = f"/api/v1/deployments/{deployment.slug}/drift-runs"
    first = personas.api("erin").post(url, data=body, content_type="application/json")
    second = personas.api("erin").post(url, data=body, content_type="application/json")
    assert first.status_code == second.status_code == 202
    assert [r["id"] for r in first.json()] == [r["id"] for r in second.json()]
    assert DriftRun.objects.filter(deployment=deployment).count() == 2  # prompts + responses


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_run_for_the_same_window(personas):
    deployment = factories.deployment()
    baseline = _fitted_baseline(deployment)
    kwargs = dict(deployment=deployment, baseline=baseline, window_start=T0, window_end=T0 + dt.timedelta(days=1),
                  target="prompts")
    DriftRun.objects.create(**kwargs)
    with pytest.raises(IntegrityError), transaction.atomic():
        DriftRun.objects.create(**kwargs)
    # A failed run does not count: the window can be retried.
    DriftRun.objects.filter(deployment=deployment).update(status=DriftRun.Status.FAILED)
    DriftRun.objects.create(**kwargs)


@pytest.mark.django_db(transaction=True)
def test_duplicate_beats_at_the_same_moment_create_one_run_per_target():
    deployment = factories.deployment(drift_window="daily")
    _fitted_baseline(deployment)
    now = T0 + dt.timedelta(hours=5)

    def beat(_):
        try:
            return len(services.drift_window_scheduled(deployment=deployment, now=now))
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(beat, range(8)))
    runs = DriftRun.objects.filter(deployment=deployment)
    assert sorted(runs.values_list("target", flat=True)) == ["prompts", "responses"]


def _queued_run_ids(redis_url: str, task: str) -> list[int]:
    """Run ids of `task` messages in the `default` queue of the suite's real Redis (kombu's message format)."""
    import redis

    ids = []
    for raw in redis.Redis.from_url(redis_url).lrange("default", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == task:
            ids.append(message["headers"]["argsrepr"].strip("(),"))
    return sorted(int(i) for i in ids)


@pytest.fixture
def empty_default_queue(redis_server):
    import redis

    redis.Redis.from_url(redis_server).delete("default")
    yield redis_server
    redis.Redis.from_url(redis_server).delete("default")


@pytest.mark.django_db(transaction=True)
def test_the_reaper_queues_runs_stuck_past_their_lease_again_and_leaves_fresh_ones_alone(empty_default_queue):
    deployment = factories.deployment(drift_window="daily")
    _fitted_baseline(deployment)
    now = T0 + dt.timedelta(hours=5)
    stuck = services.drift_window_scheduled(deployment=deployment, now=now)
    _queued = _queued_run_ids(empty_default_queue, "drift_app.tasks.drift_run_compute_task")
    DriftRun.objects.filter(id=stuck[0].id).update(status=DriftRun.Status.RUNNING,
                                                   heartbeat_at=timezone.now() - dt.timedelta(hours=2))
    DriftRun.objects.filter(id=stuck[1].id).update(created_at=timezone.now() - dt.timedelta(hours=2))
    # Still within its lease: left alone.
    fresh = services.drift_runs_create(deployment=deployment, window_start=T0 - dt.timedelta(days=3),
                                       window_end=T0 - dt.timedelta(days=2), enqueue=False)

    result = services.runs_reap(lease_seconds=3600)

    assert result.requeued == sorted(r.id for r in stuck) and result.failed == []
    for run, lost_while_running in zip(stuck, (1, 0)):
        run.refresh_from_db()
        assert run.status == DriftRun.Status.PENDING and run.requeue_count == lost_while_running
        assert run.error.startswith("queued again by the reaper")
    assert _queued_run_ids(empty_default_queue, "drift_app.tasks.drift_run_compute_task") == sorted(
        _queued + [r.id for r in stuck])
    assert all(DriftRun.objects.get(id=r.id).status == DriftRun.Status.PENDING for r in fresh)
    # The re-queue started a new lease: an immediate second pass of the reaper leaves them alone.
    assert services.runs_reap(lease_seconds=3600).requeued == []


@pytest.mark.django_db
def test_a_run_lost_more_often_than_the_bound_fails_with_the_reason_and_the_next_beat_retries_the_window(settings):
    settings.DRIFTDESK_RUN_MAX_REQUEUES = 2
    deployment = factories.deployment(drift_window="daily")
    _fitted_baseline(deployment)
    now = T0 + dt.timedelta(hours=5)
    runs = services.drift_window_scheduled(deployment=deployment, now=now)
    for lost in range(3):
        DriftRun.objects.filter(deployment=deployment).update(status=DriftRun.Status.RUNNING,
                                                              heartbeat_at=timezone.now() - dt.timedelta(hours=2))
        result = services.runs_reap(lease_seconds=3600)
        assert (len(result.requeued), len(result.failed)) == ((2, 0) if lost < 2 else (0, 2))
    for run in runs:
        run.refresh_from_db()
        assert run.status == DriftRun.Status.FAILED and run.requeue_count == 2
        assert "after 2 re-queues" in run.error
    retried = services.drift_window_scheduled(deployment=deployment, now=now)
    assert len(retried) == 2 and {r.id for r in retried}.isdisjoint(r.id for r in runs)


@pytest.mark.django_db
def test_a_redelivered_task_does_not_recompute_a_reaped_run():
    deployment = factories.deployment()
    baseline = _fitted_baseline(deployment)
    run = DriftRun.objects.create(deployment=deployment, baseline=baseline, window_start=T0,
                                  window_end=T0 + dt.timedelta(days=1), target="prompts",
                                  status=DriftRun.Status.FAILED, error="reaped: ...")
    services.drift_run_compute(run=run)
    run.refresh_from_db()
    assert run.status == DriftRun.Status.FAILED and run.error == "reaped: ..."


@pytest.mark.django_db
def test_the_reaper_fails_a_baseline_stuck_in_pending():
    deployment = factories.deployment()
    baseline = Baseline.objects.create(deployment=deployment, period_start=T0 - dt.timedelta(days=7), period_end=T0)
    Baseline.objects.filter(id=baseline.id).update(created_at=timezone.now() - dt.timedelta(hours=3))
    assert services.runs_reap(lease_seconds=3600).baselines == [baseline.id]
    baseline.refresh_from_db()
    assert baseline.status == Baseline.Status.FAILED


# --- The embedding backfill claims rows ----------------------------------------------------------------

def _lost_samples(deployment, n: int, *, queued_at=None) -> list[int]:
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"lost-{i}", prompt=f"lost prompt {i}", response="a",
                         model_version="v1", client_timestamp=timezone.now(),
                         received_at=timezone.now() - dt.timedelta(hours=1), embed_queued_at=queued_at)
        for i in range(n)
    ])
    return [r.id for r in rows]


def _queued_ids(redis_url: str) -> list[int]:
    """Sample ids in the `embeddings` queue of the suite's real Redis (kombu's message format)."""
    import base64

    import redis

    client = redis.Redis.from_url(redis_url)
    ids = []
    for raw in client.lrange("embeddings", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        ids.extend(args[0])
    return ids


@pytest.fixture
def empty_queue(redis_server):
    import redis

    redis.Redis.from_url(redis_server).delete("embeddings")
    yield redis_server
    redis.Redis.from_url(redis_server).delete("embeddings")


@pytest.mark.django_db(transaction=True)
def test_the_backfill_queues_each_lost_sample_once_and_never_what_is_already_queued(empty_queue, settings):
    settings.DRIFTDESK_EMBED_LEASE_SECONDS = 600
    deployment = factories.deployment()
    lost = _lost_samples(deployment, 30)
    live = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"live-{i}", prompt="p", response="a", model_version="v1",
                         client_timestamp=timezone.now(), received_at=timezone.now() - dt.timedelta(hours=1),
                         embed_queued_at=timezone.now() - dt.timedelta(seconds=30))
        for i in range(5)
    ])

    assert services.embeddings_backfill() == 30
    assert services.embeddings_backfill() == 0  # a second beat: everything is claimed already
    assert sorted(_queued_ids(empty_queue)) == sorted(lost)
    assert not set(r.id for r in live) & set(_queued_ids(empty_queue))


@pytest.mark.django_db(transaction=True)
def test_the_backfill_takes_a_claim_again_once_its_lease_ran_out(empty_queue, settings):
    settings.DRIFTDESK_EMBED_LEASE_SECONDS = 600
    deployment = factories.deployment()
    ids = _lost_samples(deployment, 4, queued_at=timezone.now() - dt.timedelta(seconds=601))
    assert services.embeddings_backfill() == 4
    assert sorted(_queued_ids(empty_queue)) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_the_backfill_queues_at_most_its_cap_per_run(empty_queue, settings):
    settings.DRIFTDESK_BACKFILL_CAP = 10
    deployment = factories.deployment()
    _lost_samples(deployment, 25)
    assert [services.embeddings_backfill() for _ in range(4)] == [10, 10, 5, 0]
    assert len(set(_queued_ids(empty_queue))) == 25


@pytest.mark.django_db(transaction=True)
def test_the_backfill_is_single_flight(empty_queue):
    """While one backfill holds the advisory lock, a second one queues nothing."""
    from django.db import connections

    deployment = factories.deployment()
    _lost_samples(deployment, 3)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [services.samples.BACKFILL_LOCK_KEY])
            assert services.embeddings_backfill() == 0
            cursor.execute("ROLLBACK")
    finally:
        other.close()
    assert services.embeddings_backfill() == 3


@pytest.mark.django_db
def test_the_backfill_claim_reads_a_partial_index_not_the_table():
    from drift_app.services.samples import _CLAIM_SQL

    sql = _CLAIM_SQL.split("WHERE id IN (", 1)[1].rsplit(")", 1)[0].replace("FOR UPDATE SKIP LOCKED", "")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, [timezone.now(), timezone.now(), 1000])
        plan = "\n".join(r[0] for r in cursor.fetchall())
        # Samples are partitioned by month: the plan names each month's copy of an index; map it to the
        # table's index it belongs to.
        cursor.execute("SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('sample_embed_claim', 'sample_unembedded')")
        parent_of = dict(cursor.fetchall())
    used = set(re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\S+)", plan))
    # Only the partial indexes over samples without vectors (never the whole table or its primary key).
    assert used and {parent_of.get(name, name) for name in used} <= {"sample_embed_claim", "sample_unembedded"}, plan
    assert "Seq Scan" not in plan, plan
