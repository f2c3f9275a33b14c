"""An ML engineer fits a baseline and starts a drift run from the pages (no admin "Add" forms), and the
baseline's and run's pages refresh themselves until the work is done (issue 18, item 6)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from drift_app import services
from drift_app.models import Baseline, Deployment, DriftRun
from drift_app.selectors import recent_windows
from tests import factories
from tests.verdicts.helpers import store_vectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment():
    return factories.deployment(slug="ops", drift_window=Deployment.Window.WEEKLY)


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_page_is_for_ml_engineers(client, personas, deployment):
    for name, code in (("erin", 200), ("bob", 403), ("charlie", 403), ("alice", 403)):
        client.force_login(getattr(personas, name))
        assert client.get(f"/deployments/{deployment.slug}/drift/").status_code == code


def test_a_bad_period_is_a_400_naming_the_field_and_keeping_the_input(client, personas, deployment):
    client.force_login(personas.erin)
    r = client.post(f"/deployments/{deployment.slug}/drift/",
                    {"action": "baseline", "period_start": "2026-03-10", "period_end": "2026-03-01", "max_samples": "500"})
    html = r.content.decode()
    assert r.status_code == 400 and "period_end (2026-03-01) must be after period_start" in html
    assert 'value="2026-03-10"' in html and 'value="500"' in html and not Baseline.objects.exists()


def test_a_period_with_too_few_samples_says_how_many(client, personas, deployment):
    client.force_login(personas.erin)
    r = client.post(f"/deployments/{deployment.slug}/drift/",
                    {"action": "baseline", "period_start": "2026-03-01", "period_end": "2026-03-10", "max_samples": "50000"})
    assert r.status_code == 400 and "only 0 embedded samples in the period" in r.content.decode()


def test_fitting_a_baseline_from_the_page_queues_it_and_its_page_refreshes_until_fitted(client, personas, deployment):
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    store_vectors(deployment, _unit(600), start=start, prefix="b")
    client.force_login(personas.erin)
    r = client.post(f"/deployments/{deployment.slug}/drift/",
                    {"action": "baseline", "period_start": "2026-03-02", "period_end": "2026-03-03", "max_samples": "50000"})
    baseline = Baseline.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/deployments/{deployment.slug}/drift/baselines/{baseline.pk}/"
    assert baseline.sample_count == 600 and baseline.created_by == personas.erin
    pending = client.get(r["Location"]).content.decode()
    assert "data-poll" in pending and "js/poll.js" in pending and "<progress" in pending
    services.baseline_fit(baseline=baseline)  # what the worker does
    fitted = client.get(r["Location"]).content.decode()
    assert "data-poll" not in fitted and "Fitted" in fitted and "the active baseline" in fitted


def test_starting_a_drift_run_needs_a_fitted_baseline_and_names_it(client, personas, deployment):
    client.force_login(personas.erin)
    window = recent_windows(deployment=deployment, now=timezone.now(), count=1)[0]
    r = client.post(f"/deployments/{deployment.slug}/drift/",
                    {"action": "drift_run", "window": window[0].isoformat(), "target": "both"})
    assert r.status_code == 400 and "has no fitted baseline yet" in r.content.decode()


def test_a_drift_run_started_from_the_page_is_queued_for_the_chosen_window_and_its_page_polls(client, personas, deployment):
    Baseline.objects.create(deployment=deployment, period_start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                            period_end=dt.datetime(2026, 2, 1, tzinfo=dt.UTC), status="fitted", is_active=True)
    windows = recent_windows(deployment=deployment, now=timezone.now(), count=3)
    assert all(s.weekday() == 0 and e - s == dt.timedelta(weeks=1) for s, e in windows)
    client.force_login(personas.erin)
    r = client.post(f"/deployments/{deployment.slug}/drift/",
                    {"action": "drift_run", "window": windows[1][0].isoformat(), "target": "prompts"})
    run = DriftRun.objects.get()
    assert (run.window_start, run.window_end, run.target) == (*windows[1], "prompts")
    assert r["Location"] == f"/deployments/{deployment.slug}/drift/runs/{run.pk}/"
    assert "data-poll" in client.get(r["Location"]).content.decode()
    DriftRun.objects.filter(pk=run.pk).update(status="completed", drifted=True, js=0.0512, js_threshold=0.0498,
                                              results={"js": {"statistic": 0.0512, "threshold": 0.0498, "drifted": True}})
    done = client.get(r["Location"]).content.decode()
    assert "data-poll" not in done
    # Three digits are enough to tell 0.0512 from 0.0498 (two would print 0.05 twice).
    assert "0.051 (above the threshold 0.050)" in done


def test_an_unknown_window_is_a_400_naming_the_field(client, personas, deployment):
    client.force_login(personas.erin)
    r = client.post(f"/deployments/{deployment.slug}/drift/", {"action": "drift_run", "window": "1999-01-01", "target": "both"})
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()
