"""The embedding pipeline end to end: real Redis, a real Celery worker process, real pgvector."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from drift_app import embeddings, selectors
from drift_app.models import ProductionSample
from tests import factories
from tests.base import runtime_database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    # The worker logs in as the runtime role, as in production (never the suite's owner login).
    return runtime_database_url()


def _flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def worker_factory(redis_server, tmp_path):
    procs: list[subprocess.Popen] = []
    _flush(redis_server)

    def start(name: str = "w1", extra_env: dict | None = None) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "drift_app.settings.test",
            "DATABASE_URL": _database_url(), "DATABASE_OWNER_URL": "",
            "CELERY_BROKER_URL": redis_server,
            **(extra_env or {}),
        }
        log = tmp_path / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "drift_app.celery", "worker", "-Q", "embeddings,default",
             "-c", "1", "--loglevel", "INFO", "-n", f"{name}@%h", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.log = log
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    _flush(redis_server)


def _wait_embedded(deployment, n: int, seconds: float, procs=()) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        done = ProductionSample.objects.filter(deployment=deployment, prompt_embedding__isnull=False).count()
        if done == n:
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"worker exited early:\n{p.log.read_text()[-3000:]}")
        time.sleep(0.5)
    logs = "\n".join(p.log.read_text()[-3000:] for p in procs)
    raise AssertionError(f"only {done}/{n} samples embedded after {seconds} s\n{logs}")


def test_a_real_worker_embeds_ingested_samples_into_pgvector(personas, worker_factory):
    deployment = factories.deployment()
    worker = worker_factory()
    records = [factories.sample_record(i, prompt=f"How do I configure webhook number {i}?") for i in range(40)]
    r = personas.api("erin").post(
        f"/api/v1/deployments/{deployment.slug}/samples", data=json.dumps(records), content_type="application/json"
    )
    assert r.status_code == 201
    _wait_embedded(deployment, 40, 180, [worker])

    ids, vectors = selectors.sample_vectors(deployment=deployment, target="prompt")
    assert vectors.shape == (40, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    _, responses = selectors.sample_vectors(deployment=deployment, target="response")
    assert responses.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(responses, axis=1), 1.0, atol=1e-4)
    assert set(ProductionSample.objects.values_list("embedding_model", flat=True)) == {embeddings.MODEL_NAME}
    with connection.cursor() as c:
        c.execute("SELECT vector_dims(prompt_embedding) FROM drift_app_productionsample LIMIT 1")
        assert c.fetchone()[0] == 384
    # The stored vector is the encoder's vector for that prompt (not a neighbour's).
    sample = ProductionSample.objects.get(deployment=deployment, external_id="ext-7")
    expected = embeddings.encode([sample.prompt])[0]
    got = vectors[list(ids).index(sample.id)]
    assert float(got @ expected) > 0.999


def test_the_backfill_embeds_samples_whose_task_was_lost(personas, worker_factory, settings):
    from drift_app.tasks import backfill_embeddings_task

    deployment = factories.deployment()
    # Stored while no task reached a worker (e.g. the broker was down): no vectors.
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"lost-{i}", prompt=f"lost prompt {i}",
                         response="an answer", model_version="v1", client_timestamp=timezone.now(),
                         received_at=timezone.now() - timedelta(hours=1))
        for i in range(12)
    ])
    worker = worker_factory()
    backfill_embeddings_task.delay()
    _wait_embedded(deployment, 12, 180, [worker])


def test_a_task_survives_its_worker_being_killed(personas, worker_factory):
    """acks_late + reject_on_worker_lost: a SIGKILLed worker's task is redelivered to the next worker."""
    from drift_app.tasks import embed_samples_task

    deployment = factories.deployment()
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"k-{i}", prompt=f"kill test prompt {i} " * 5,
                         response="answer " * 50, model_version="v1", client_timestamp=timezone.now())
        for i in range(200)
    ])
    ids = list(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True))
    # A short visibility timeout so that Redis redelivers the unacknowledged message quickly.
    env = {"CELERY_VISIBILITY_TIMEOUT": "5"}
    first = worker_factory("doomed", env)
    embed_samples_task.delay(ids)
    # Wait until the worker has received the task, then kill it mid-encode.
    deadline = time.time() + 120
    while time.time() < deadline and "embed_samples_task[" not in first.log.read_text():
        time.sleep(0.2)
    assert "received" in first.log.read_text(), first.log.read_text()[-2000:]
    time.sleep(1.0)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert ProductionSample.objects.filter(deployment=deployment, prompt_embedding__isnull=False).count() < 200
    second = worker_factory("survivor", env)
    _wait_embedded(deployment, 200, 240, [second])
