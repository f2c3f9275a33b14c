"""The dashboard map and the advice export work on windows of any size: the window's vectors stay in
PostgreSQL (sampled and searched there), only the map's few hundred points reach the web process."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from drift_app import selectors as drift_selectors
from tests.verdicts.helpers import T0, store_vectors, window
from verdicts import selectors
from verdicts.models import RetrainingAdvice
from verdicts.services import verdict_compute

pytestmark = pytest.mark.django_db

WINDOW_SAMPLES = 1_500


def _unit(rng, centre, n):
    v = centre + 0.3 * rng.standard_normal((n, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def large_window(world):
    """A baseline of 60 usual prompts, then a window of 1,500 usual and 40 novel ones; a topic of the 40."""
    rng = np.random.default_rng(5)
    usual, novel = rng.standard_normal(384), rng.standard_normal(384)
    base_ids = store_vectors(world.deployment, _unit(rng, usual, 60), start=T0 - dt.timedelta(days=3), prefix="base")
    world.baseline.sample_ids = base_ids
    world.baseline.save(update_fields=["sample_ids"])
    start = window(0)[0]
    store_vectors(world.deployment, _unit(rng, usual, WINDOW_SAMPLES), start=start, prefix="usual")
    novel_ids = store_vectors(world.deployment, _unit(rng, novel, 40), start=start + dt.timedelta(days=2), prefix="novel",
                              texts=[f"How do I deploy a Nimbus Function {i}?" for i in range(40)])
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, novel=0.35, topics=[{"size": 40, "share": 0.03, "keywords": ["nimbus", "function"],
                                                      "representative_texts": ["nimbus"], "sample_ids": novel_ids[:3]}])
    verdict = verdict_compute(deployment=world.deployment, window_start=start, window_end=window(0)[1])
    return world, verdict, novel_ids


@pytest.fixture
def vectors_read(monkeypatch):
    """Counts the window vectors that leave PostgreSQL (every read goes through sample_vectors)."""
    counted = {"rows": 0}
    real = drift_selectors.sample_vectors

    def counting(**kwargs):
        ids, vecs = real(**kwargs)
        if kwargs.get("start") is not None:
            counted["rows"] += len(ids)
        return ids, vecs

    monkeypatch.setattr(drift_selectors, "sample_vectors", counting)
    return counted


def test_the_map_reads_at_most_its_points_from_a_large_window_and_still_finds_the_whole_topic(large_window, vectors_read):
    world, verdict, novel_ids = large_window

    m = selectors.prompt_map(deployment=world.deployment, verdict=verdict)

    # 3 topic representatives for the centroid, then at most MAP_POINTS members and sampled points.
    assert vectors_read["rows"] <= selectors.MAP_POINTS + 3 + selectors.MAP_POINTS // 2
    assert vectors_read["rows"] < WINDOW_SAMPLES / 2
    shown = [p["id"] for p in m["current"]] + [p["id"] for t in m["topics"] for p in t["points"]]
    assert len(shown) <= selectors.MAP_POINTS and len(set(shown)) == len(shown)
    assert sorted(p["id"] for p in m["topics"][0]["points"]) == sorted(novel_ids)
    # The rest is spread over the window's time (stratified), not the first rows by id.
    usual_shown = sorted(p["id"] for p in m["current"])
    assert usual_shown[-1] - usual_shown[0] > WINDOW_SAMPLES * 0.9


def test_the_advice_export_finds_the_topic_in_sql_without_reading_the_windows_vectors(large_window, vectors_read):
    world, _, novel_ids = large_window
    advice = RetrainingAdvice.objects.get(deployment=world.deployment)

    rows = selectors.advice_prompts(advice=advice)

    assert vectors_read["rows"] == 3  # the topic's representatives, for its centroid
    assert sorted(r["sample_id"] for r in rows) == sorted(novel_ids)
    assert all(r["prompt"].startswith("How do I deploy a Nimbus Function") for r in rows)


def test_nearest_samples_are_ranked_by_cosine_distance_in_the_database(world):
    rng = np.random.default_rng(9)
    vectors = _unit(rng, rng.standard_normal(384), 50)
    ids = np.array(store_vectors(world.deployment, vectors, start=window(0)[0], prefix="nn"))
    query = vectors[7] + 0.1 * rng.standard_normal(384).astype(np.float32)
    query /= np.linalg.norm(query)

    got = drift_selectors.sample_nearest_ids(deployment=world.deployment, start=window(0)[0], end=window(0)[1],
                                             vector=query, limit=10)

    expected = ids[np.argsort(-(vectors @ query))[:10]]
    assert got.tolist() == expected.tolist()
