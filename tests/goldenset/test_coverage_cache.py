"""Coverage gaps come from a worker and are cached per deployment and window; the page never computes them
(issue 18, item 6: they took 3.1 s on every load)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from drift_app.models import Deployment
from goldenset import selectors, services, tasks
from goldenset.services import coverage
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment():
    d = factories.deployment(slug="cov", drift_window=Deployment.Window.WEEKLY)
    cache.clear()
    yield d
    cache.clear()


def test_the_page_queues_a_computation_once_and_polls_until_it_is_cached(client, personas, deployment, monkeypatch):
    calls = []
    monkeypatch.setattr(selectors, "coverage_gaps", lambda **kw: calls.append(kw) or selectors.CoverageReport(0, 0, 0.8, []))
    client.force_login(personas.bob)
    first = client.get(f"/golden/deployments/{deployment.slug}/coverage/").content.decode()
    again = client.get(f"/golden/deployments/{deployment.slug}/coverage/").content.decode()
    assert calls == [] and "data-poll" in first and "data-poll" in again
    assert cache.get(coverage.coverage_cache_key(deployment=deployment, window_start=coverage.coverage_window(
        deployment=deployment)) + ":queued") == 1
    tasks.coverage_gaps_task(deployment.pk, coverage.coverage_window(deployment=deployment).isoformat())
    ready = client.get(f"/golden/deployments/{deployment.slug}/coverage/").content.decode()
    assert len(calls) == 1 and "data-poll" not in ready and "No gaps" in ready
    client.get(f"/golden/deployments/{deployment.slug}/coverage/")
    assert len(calls) == 1  # served from the cache


def test_the_cache_is_per_window_of_the_deployment(deployment):
    monday = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert coverage.coverage_window(deployment=deployment, now=monday + dt.timedelta(days=6, hours=23)) == monday
    assert coverage.coverage_window(deployment=deployment, now=monday + dt.timedelta(days=7)) == monday + dt.timedelta(days=7)
    keys = {coverage.coverage_cache_key(deployment=deployment, window_start=w) for w in (monday, monday + dt.timedelta(days=7))}
    assert len(keys) == 2


def test_recompute_is_for_smes_and_ml_engineers(client, personas, deployment):
    client.force_login(personas.charlie)
    assert client.post(f"/golden/deployments/{deployment.slug}/coverage/").status_code == 403
    client.force_login(personas.erin)
    assert client.post(f"/golden/deployments/{deployment.slug}/coverage/").status_code == 302


def test_a_refresh_stores_the_report_with_when_and_which_window(deployment):
    data = services.coverage_gaps_refresh(deployment=deployment)
    assert data["window_start"] == coverage.coverage_window(deployment=deployment).isoformat()
    assert services.coverage_gaps_cached(deployment=deployment) == data
