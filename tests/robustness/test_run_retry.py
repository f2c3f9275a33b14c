"""Failed drift and evaluation runs can be retried by an ML engineer, through the API and from their page;
each retry is in the audit trail with who did it; a run that did not fail, or another team's, is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.models import AuditEvent
from drift_app.models import Baseline, DriftRun
from goldenset import services as golden_services
from goldenset.models import EvalRun
from tests import factories
from tests.base import PASSWORD
from tests.goldenset.conftest import golden  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)


def _failed_run(deployment, **fields) -> DriftRun:
    baseline = Baseline.objects.create(deployment=deployment, period_start=T0 - dt.timedelta(days=7), period_end=T0,
                                       status=Baseline.Status.FITTED, is_active=True)
    fields = {"status": DriftRun.Status.FAILED, "error": "reaped: no progress", **fields}
    return DriftRun.objects.create(deployment=deployment, baseline=baseline, window_start=T0,
                                   window_end=T0 + dt.timedelta(days=1), target="prompts", **fields)


def _retry_url(run) -> str:
    return f"/api/v1/deployments/{run.deployment.slug}/drift-runs/{run.pk}/retry"


def _retries(run, model="drift_app.DriftRun") -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.filter(object_type=model, object_id=str(run.pk), action="update")
            if e.after.get("status") == "pending" and e.before.get("status") == "failed"]


def test_an_ml_engineer_retries_a_failed_drift_run_through_the_api_and_the_audit_trail_names_them(personas, deployment):
    run = _failed_run(deployment, requeue_count=3)
    r = personas.api("erin").post(_retry_url(run))
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "pending" and r.json()["error"] == "" and r.json()["requeue_count"] == 0
    run.refresh_from_db()
    assert run.status == DriftRun.Status.PENDING
    [event] = _retries(run)
    assert event.actor_username == "erin" and event.deployment_id == deployment.pk


def test_a_drift_run_that_did_not_fail_is_not_retried(personas, deployment):
    run = _failed_run(deployment, status=DriftRun.Status.COMPLETED, error="")
    r = personas.api("erin").post(_retry_url(run))
    assert r.status_code == 409 and "only a failed run" in r.json()["detail"]
    assert DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.COMPLETED


def test_a_failed_drift_run_whose_window_has_a_live_run_again_is_not_retried(personas, deployment):
    run = _failed_run(deployment)
    live = DriftRun.objects.create(deployment=deployment, baseline=run.baseline, window_start=run.window_start,
                                   window_end=run.window_end, target=run.target)
    r = personas.api("erin").post(_retry_url(run))
    assert r.status_code == 409 and f"drift run {live.pk}" in r.json()["detail"]
    assert DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.FAILED


def test_only_an_ml_engineer_of_the_deployments_team_retries_a_drift_run(personas, deployment):
    run = _failed_run(deployment)
    assert personas.api("bob").post(_retry_url(run)).status_code == 403
    assert personas.api("charlie").post(_retry_url(run)).status_code == 403
    assert personas.api(None).post(_retry_url(run)).status_code == 401
    other = _failed_run(factories.deployment(team=factories.team()))
    assert personas.api("erin").post(_retry_url(other)).status_code == 404
    assert DriftRun.objects.filter(status=DriftRun.Status.FAILED).count() == 2


def test_an_ml_engineer_retries_a_failed_drift_run_from_the_deployment_page(client, personas, deployment):
    run = _failed_run(deployment)
    client.login(username="erin", password=PASSWORD)
    page = client.get(f"/deployments/{deployment.slug}/")
    action = f"/deployments/{deployment.slug}/drift-runs/{run.pk}/retry/"
    assert action.encode() in page.content
    r = client.post(action)
    assert r.status_code == 302 and r["Location"].endswith(f"/deployments/{deployment.slug}/#drift")
    assert DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.PENDING
    [event] = _retries(run)
    assert event.actor_username == "erin"
    # An SME sees the failed run but no retry button, and may not post it.
    client.login(username="bob", password=PASSWORD)
    DriftRun.objects.filter(pk=run.pk).update(status=DriftRun.Status.FAILED)
    assert action.encode() not in client.get(f"/deployments/{deployment.slug}/").content
    assert client.post(action).status_code == 403


def _failed_eval_run(deployment) -> EvalRun:
    run = golden_services.eval_run_create(deployment=deployment, queue=False, answers={})
    EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.FAILED, error="reaped: no progress",
                                             requeue_count=3)
    return EvalRun.objects.get(pk=run.pk)


def test_an_ml_engineer_retries_a_failed_evaluation_run_through_the_api_and_it_is_audited(personas, deployment, golden):  # noqa: F811
    run = _failed_eval_run(deployment)
    r = personas.api("erin").post(f"/api/v1/golden/runs/{run.pk}/retry")
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "pending" and r.json()["requeue_count"] == 0
    [event] = _retries(run, "goldenset.EvalRun")
    assert event.actor_username == "erin"
    again = personas.api("erin").post(f"/api/v1/golden/runs/{run.pk}/retry")
    assert again.status_code == 409 and "only a failed run" in again.json()["detail"]
    assert personas.api("bob").post(f"/api/v1/golden/runs/{run.pk}/retry").status_code == 403


def test_an_ml_engineer_retries_a_failed_evaluation_run_from_its_page(client, personas, deployment, golden):  # noqa: F811
    run = _failed_eval_run(deployment)
    client.login(username="erin", password=PASSWORD)
    action = f"/golden/runs/{run.pk}/retry/"
    assert action.encode() in client.get(f"/golden/runs/{run.pk}/").content
    r = client.post(action)
    assert r.status_code == 302
    assert EvalRun.objects.get(pk=run.pk).status == EvalRun.Status.PENDING
    client.login(username="charlie", password=PASSWORD)
    assert client.post(action).status_code == 403
