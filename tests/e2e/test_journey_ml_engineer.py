"""The ML engineer's journey, only clicking after sign-in (issue 18, Deliver 1): fit a baseline and start a
drift run from the pages, watch each page update itself until the work is done, then acknowledge and
resolve the code-red alert, confirming the resolution in its dialog.

No Celery worker runs here: while the browser watches the pending page, the test thread does the
worker's part by calling the same task function (drift_app.tasks) on the committed rows, so the page's
own polling (static/js/poll.js) has to notice the change: the test never reloads.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from django.utils import timezone

from drift_app import tasks
from drift_app.models import Baseline, DriftRun
from drift_app.selectors import recent_windows
from tests.base import PASSWORD
from tests.e2e.page_checks import check_page
from tests.e2e.test_browser import scenario  # noqa: F401 - the fixture: stable, benign, degraded windows
from tests.verdicts.helpers import store_vectors
from verdicts.models import Alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _unit(rng, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def traffic(scenario):  # noqa: F811
    """600 embedded samples early on (a baseline period: the calibration needs structure, pool and radius rows) and 80 in the deployment's last complete week."""
    deployment = scenario["world"].deployment
    deployment.min_window_samples = 50
    deployment.save(update_fields=["min_window_samples"])
    rng = np.random.default_rng(7)
    store_vectors(deployment, _unit(rng, 600), start=dt.datetime(2026, 8, 1, tzinfo=dt.UTC), prefix="ref")
    week = recent_windows(deployment=deployment, now=timezone.now(), count=1)[0]
    store_vectors(deployment, _unit(rng, 80), start=week[0] + dt.timedelta(hours=1), prefix="now")
    return scenario


def test_an_ml_engineer_fits_a_baseline_runs_drift_and_resolves_a_code_red_with_confirmation(traffic, live_server, page):
    deployment = traffic["world"].deployment
    page.goto(f"{live_server.url}/login/")
    check_page(page, "ml-01-sign-in")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    check_page(page, "ml-02-home")

    page.click("header nav >> text=Deployments")
    check_page(page, "ml-03-deployments")
    page.click(f"main a[href='/deployments/{deployment.slug}/']")
    check_page(page, "ml-04-deployment")
    page.click("#drift-operations-link")
    check_page(page, "ml-05-drift-operations")

    # The period is prefilled from the first samples (the 600 reference samples).
    page.click("button[value=baseline]")
    page.wait_for_url(re.compile(r".*/drift/baselines/\d+/$"))
    baseline = Baseline.objects.get(deployment=deployment, status="pending")
    assert baseline.sample_count == 600 and page.locator("#baseline-state[data-poll]").count() == 1
    check_page(page, "ml-06-baseline-pending")
    url = page.url
    tasks.baseline_fit_task(baseline.pk)  # the worker's part
    page.wait_for_selector("#baseline-state:not([data-poll]) >> text=Fitted", timeout=20_000)
    assert page.url == url
    check_page(page, "ml-07-baseline-fitted")

    page.click("text=Start a drift run against it")
    page.select_option("#id_target", "prompts")
    page.click("button[value=drift_run]")
    page.wait_for_url(re.compile(r".*/drift/runs/\d+/$"))
    run = DriftRun.objects.get(deployment=deployment, baseline=baseline)
    assert page.locator("#run-state[data-poll]").count() == 1
    check_page(page, "ml-08-drift-run-pending")
    tasks.drift_run_compute_task.run(run.pk)  # the worker's part
    page.wait_for_selector("#run-state:not([data-poll]) >> text=Completed", timeout=30_000)
    assert "Jensen-Shannon divergence" in page.inner_text("#run-state")
    check_page(page, "ml-09-drift-run-done")

    alert = Alert.objects.get(deployment=deployment)
    page.click("header nav >> text=Home")
    page.click(f"#panel-deployments a[href='/alerts/{alert.pk}/']")
    check_page(page, "ml-10-alert")
    page.fill("#acknowledge-form textarea[name=comment]", "Rolling back to v2 while we look at billing answers.")
    page.click("#acknowledge-form button[type=submit]")
    page.wait_for_selector("#alert-acknowledged")
    check_page(page, "ml-11-alert-acknowledged")

    page.fill("#resolve-form textarea[name=comment]", "v2 restored; golden pass rate back to 90%.")
    page.click("#resolve-form button[type=submit]")
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.wait_for()
    assert "closes the code red" in dialog.inner_text()
    alert.refresh_from_db()
    assert alert.status == "acknowledged", "nothing happens before the confirmation"
    page.click("#confirm-dialog-yes")
    page.wait_for_selector("#alert-resolved")
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by.username == "erin"
    check_page(page, "ml-12-alert-resolved")
