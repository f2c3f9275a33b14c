"""Binary COPY encoding of vectors, and loading them back from pgvector in one array."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from drift_app import pgbinary, selectors, services
from drift_app.models import ProductionSample
from tests import factories


def test_an_encoded_stream_decodes_to_the_same_ids_and_vectors():
    rng = np.random.default_rng(0)
    ids = np.arange(10, 20, dtype=np.int64)
    v = rng.standard_normal((10, 384)).astype(np.float32)
    payload = pgbinary.encode_id_vectors(ids, v)
    got_ids, got = pgbinary.decode_id_vector(payload, 384)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got, v)


def test_it_refuses_a_stream_of_the_wrong_dimension():
    payload = pgbinary.encode_id_vectors(np.arange(3), np.ones((3, 8), dtype=np.float32))
    with pytest.raises(ValueError):
        pgbinary.decode_id_vector(payload, 384)


@pytest.mark.django_db
def test_vectors_round_trip_through_pgvector_exactly():
    deployment = factories.deployment()
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"r{i}", prompt=f"p{i}", response=f"r{i}",
                         model_version="v1", client_timestamp=timezone.now())
        for i in range(50)
    ])
    ids = np.array([r.id for r in rows])
    rng = np.random.default_rng(1)
    p = rng.standard_normal((50, 384)).astype(np.float32)
    r = rng.standard_normal((50, 384)).astype(np.float32)
    services.samples_store_vectors(ids=ids, prompt_vectors=p, response_vectors=r)
    got_ids, got_p = selectors.sample_vectors(deployment=deployment, target="prompt")
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_p, p)
    _, got_r = selectors.sample_vectors(deployment=deployment, target="response", sample_ids=ids[:5].tolist())
    np.testing.assert_array_equal(got_r, r[:5])
    # Vectors of another embedding model are never returned.
    ProductionSample.objects.filter(id=ids[0]).update(embedding_model="some-other-model")
    got_ids, _ = selectors.sample_vectors(deployment=deployment, target="prompt")
    assert ids[0] not in got_ids and len(got_ids) == 49
