"""The embedding service in-process: chunked encoding with overlapped writes, idempotence."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from drift_app import embeddings, selectors, services
from drift_app.models import ProductionSample
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_chunked_embedding_stores_each_samples_own_vectors_once():
    deployment = factories.deployment()
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"c{i}", prompt=f"how do I rotate key number {i}",
                         response=f"open settings and rotate key {i}", model_version="v1",
                         client_timestamp=timezone.now())
        for i in range(7)
    ])
    ids = [r.id for r in rows]
    # Chunks of 3: three encode calls, three writes from the writer thread.
    assert services.samples_embed(sample_ids=ids, chunk_size=3) == 7
    got_ids, got = selectors.sample_vectors(deployment=deployment, target="prompt")
    expected = embeddings.encode([r.prompt for r in rows])
    np.testing.assert_array_equal(got_ids, ids)
    assert np.min(np.sum(got * expected, axis=1)) > 0.999
    # A second run (a redelivered task) finds nothing left to do.
    assert services.samples_embed(sample_ids=ids, chunk_size=3) == 0
