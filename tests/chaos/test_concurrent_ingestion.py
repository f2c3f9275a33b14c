"""16 clients re-sending overlapping batches in different orders: no deadlock reaches a client, exact row counts."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from drift_app.models import ProductionSample
from tests import factories

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENTS = 16
UNIQUE = 2000
BATCHES_PER_CLIENT = 6
BATCH = 250


def test_sixteen_clients_resending_overlapping_batches_in_different_orders_get_no_error(personas, redis_server):
    import redis

    deployment = factories.deployment()
    records = [factories.sample_record(i) for i in range(UNIQUE)]
    url = f"/api/v1/deployments/{deployment.slug}/samples"
    personas.api("erin")  # creates the token before the threads start

    def client_run(seed: int) -> list[int]:
        rng = random.Random(seed)
        client = personas.api("erin")
        statuses = []
        try:
            for _ in range(BATCHES_PER_CLIENT):
                # Overlapping windows of the same ids, each batch in its own random order.
                start = rng.randrange(0, UNIQUE - BATCH)
                batch = records[start : start + BATCH]
                rng.shuffle(batch)
                r = client.post(url, data=json.dumps(batch), content_type="application/json")
                statuses.append(r.status_code)
        finally:
            connection.close()
        return statuses

    # Every id is sent at least once more at the end, by one client, so the expected count is exact.
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for batch in pool.map(client_run, range(CLIENTS)) for s in batch]
    final = personas.api("erin")
    for start in range(0, UNIQUE, 1000):
        assert final.post(url, data=json.dumps(records[start : start + 1000]), content_type="application/json").status_code in (200, 201)

    assert len(statuses) == CLIENTS * BATCHES_PER_CLIENT
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    assert ProductionSample.objects.filter(deployment=deployment).count() == UNIQUE
    assert ProductionSample.objects.filter(deployment=deployment).values("external_id").distinct().count() == UNIQUE
    redis.Redis.from_url(redis_server).delete("embeddings")
