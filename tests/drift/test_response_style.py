"""Response style is its own finding on the responses' drift run, read back from the stored baseline; every run
names the size of the reference it was judged against."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from drift_app import services, stats
from drift_app.models import ProductionSample
from tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)


def _store(deployment, rng, *, start, prefix, n, words):
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(
            deployment=deployment, external_id=f"{prefix}-{i}", prompt=f"{prefix} question {i}",
            response=" ".join(["word"] * int(rng.integers(*words))) + ". It helps. Thanks for asking.",
            model_version="v1", client_timestamp=start + dt.timedelta(minutes=i),
        )
        for i in range(n)
    ])
    ids = np.array([r.id for r in rows], dtype=np.int64)
    services.samples_store_vectors(ids=ids, prompt_vectors=vectors, response_vectors=vectors)


@pytest.fixture
def deployment():
    rng = np.random.default_rng(5)
    deployment = factories.deployment(min_window_samples=100, drift_window="weekly")
    _store(deployment, rng, start=T0, prefix="base", n=900, words=(30, 90))
    _store(deployment, rng, start=T0 + dt.timedelta(weeks=1), prefix="same", n=300, words=(30, 90))
    _store(deployment, rng, start=T0 + dt.timedelta(weeks=2), prefix="short", n=300, words=(2, 8))
    baseline = services.baseline_create(
        deployment=deployment, period_start=T0, period_end=T0 + dt.timedelta(weeks=1), enqueue=False
    )
    services.baseline_fit(baseline=baseline)
    return deployment


def _run(deployment, week: int, target: str):
    start = T0 + dt.timedelta(weeks=week)
    run = services.drift_runs_create(
        deployment=deployment, window_start=start, window_end=start + dt.timedelta(weeks=1), targets=(target,),
        enqueue=False,
    )[0]
    return services.drift_run_compute(run=run)


def test_much_shorter_answers_are_a_named_style_finding_not_drift_evidence(deployment):
    run = _run(deployment, 2, "responses")
    assert run.status == "completed"
    assert run.combined["findings"] == ["response_style_shift"]
    style = run.combined["style"]
    assert style["shifted"] and style["direction"] == "shorter"
    assert style["features"]["tokens"]["window_mean"] < style["features"]["tokens"]["baseline_mean"]


def test_answers_like_the_baseline_raise_no_style_finding(deployment):
    run = _run(deployment, 1, "responses")
    assert run.combined["findings"] == [] and not run.combined["style"]["shifted"]


def test_prompt_runs_carry_no_style_finding(deployment):
    run = _run(deployment, 2, "prompts")
    assert "style" not in run.combined


def test_a_run_names_its_reference_and_the_page_says_when_it_is_small_against_the_window(deployment, personas, client):
    run = _run(deployment, 1, "prompts")
    reference = run.combined["reference_size"]
    # The baseline's pool (its rows less the structure and radius rows) minus the window's left-out rows.
    pool = stats.FittedBaseline.from_bytes(bytes(run.baseline.prompt_artifact)).n_pool
    assert reference == pool - run.evaluated_count
    assert reference < 2 * run.evaluated_count  # 900 baseline samples against a window of 300
    client.force_login(personas.erin)
    page = client.get(f"/deployments/{deployment.slug}/drift/runs/{run.pk}/").content.decode()
    assert f"{reference} baseline rows: fewer than twice the window" in page
