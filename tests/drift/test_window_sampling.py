"""A window larger than the statistics need is sampled in SQL, stratified by time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from drift_app import selectors, services
from drift_app.models import ProductionSample
from tests import factories

START = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _window(n: int, *, rng_seed: int = 3):
    deployment = factories.deployment()
    # Bursty traffic: the first tenth of the day carries half the samples.
    offsets = np.concatenate([np.linspace(0, 8640, n // 2, endpoint=False), np.linspace(8640, 86400, n - n // 2,
                                                                                         endpoint=False)])
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"w{i}", prompt=f"p{i}", response=f"r{i}",
                         model_version="v1", client_timestamp=START + dt.timedelta(seconds=float(s)))
        for i, s in enumerate(offsets)
    ])
    ids = np.array([r.id for r in rows])
    rng = np.random.default_rng(rng_seed)
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    services.samples_store_vectors(ids=ids, prompt_vectors=vectors, response_vectors=vectors)
    return deployment, ids, vectors


@pytest.mark.django_db
def test_a_large_window_yields_at_most_the_asked_rows_spread_like_the_traffic_with_their_own_vectors():
    deployment, ids, vectors = _window(2000)
    got_ids, got = selectors.sample_vectors(deployment=deployment, target="prompt", start=START,
                                            end=START + dt.timedelta(days=1), at_most=200, seed=11)
    assert 199 <= len(got_ids) <= 201
    assert set(got_ids) <= set(ids.tolist())
    by_id = dict(zip(ids.tolist(), range(len(ids)), strict=True))
    np.testing.assert_array_equal(got, vectors[[by_id[i] for i in got_ids]])
    # Stratified by time: the burst (half the traffic) gets half the sample, not a tenth.
    burst = ProductionSample.objects.filter(
        id__in=got_ids.tolist(), client_timestamp__lt=START + dt.timedelta(seconds=8640)).count()
    assert 98 <= burst <= 102
    assert selectors.sample_vector_count(deployment=deployment, target="prompt", start=START,
                                         end=START + dt.timedelta(days=1)) == 2000


@pytest.mark.django_db
def test_two_seeds_draw_different_samples_and_a_small_window_is_returned_whole():
    deployment, ids, _ = _window(600)
    window = {"start": START, "end": START + dt.timedelta(days=1)}
    a, _ = selectors.sample_vectors(deployment=deployment, target="prompt", at_most=100, seed=1, **window)
    b, _ = selectors.sample_vectors(deployment=deployment, target="prompt", at_most=100, seed=2, **window)
    assert set(a) != set(b)
    whole, _ = selectors.sample_vectors(deployment=deployment, target="prompt", at_most=1000, seed=1, **window)
    np.testing.assert_array_equal(whole, np.sort(ids))
