"""A worker killed with kill -9 mid-embedding: the work runs again within the embedding lease, not the
broker's visibility timeout (1 h here, as in production), and every sample gets its vectors once."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.utils import timezone

from drift_app import services
from drift_app.models import ProductionSample
from tests import factories
from tests.drift.test_embedding_pipeline import _wait_embedded, worker_factory  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 5


def test_a_killed_workers_samples_are_queued_again_after_the_lease_and_embedded_once(personas, worker_factory, settings):  # noqa: F811
    from drift_app.tasks import embed_samples_task

    settings.DRIFTDESK_EMBED_LEASE_SECONDS = LEASE_SECONDS
    settings.DRIFTDESK_BACKFILL_GRACE_SECONDS = 0
    deployment = factories.deployment()
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"k-{i}", prompt=f"kill test prompt {i} " * 5,
                         response="answer " * 50, model_version="v1", client_timestamp=timezone.now(),
                         embed_queued_at=timezone.now())
        for i in range(120)
    ])
    ids = list(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True))
    # The production visibility timeout: Redis would not redeliver the message within this test.
    env = {"CELERY_VISIBILITY_TIMEOUT": "3600"}
    doomed = worker_factory("doomed", env)
    embed_samples_task.delay(ids)
    deadline = time.time() + 120
    while time.time() < deadline and "embed_samples_task[" not in doomed.log.read_text():
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    killed_at = time.time()
    assert ProductionSample.objects.filter(deployment=deployment, prompt_embedding__isnull=False).count() < 120

    # Within the lease the backfill leaves the claim alone (the task might still be running elsewhere).
    assert services.embeddings_backfill() == 0
    time.sleep(LEASE_SECONDS + 0.5)
    requeued = services.embeddings_backfill()
    assert 0 < requeued <= 120
    survivor = worker_factory("survivor", env)
    _wait_embedded(deployment, 120, 240, [survivor])
    assert time.time() - killed_at < 300  # bounded by the lease and the worker, not the 1 h visibility timeout
    # Every vector landed once: nothing is left for a later backfill, and each sample has one embedding time.
    assert services.embeddings_backfill() == 0
    assert ProductionSample.objects.filter(deployment=deployment, embedded_at__isnull=True).count() == 0
