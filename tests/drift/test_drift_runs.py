"""Drift runs end to end on the real PostgreSQL: baseline fit, windows, API, command, schedule."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from drift_app import services
from drift_app.models import Baseline, BaselineCalibration, DriftRun, ProductionSample
from tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)  # a Monday


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clusters(rng, n: int, centres: np.ndarray) -> np.ndarray:
    pick = rng.integers(0, len(centres), n)
    return _unit(centres[pick] + 0.35 * rng.standard_normal((n, centres.shape[1])) / np.sqrt(centres.shape[1]) * 8)


def _store(deployment, vectors: np.ndarray, *, start: dt.datetime, prefix: str, texts=None) -> None:
    n = len(vectors)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(
            deployment=deployment, external_id=f"{prefix}-{i}",
            prompt=(texts[i] if texts else f"{prefix} prompt {i}"), response=f"{prefix} answer {i}",
            model_version="v1", client_timestamp=start + dt.timedelta(minutes=i),
        )
        for i in range(n)
    ])
    ids = np.array([r.id for r in rows], dtype=np.int64)
    services.samples_store_vectors(ids=ids, prompt_vectors=vectors, response_vectors=vectors)


@pytest.fixture
def scenario():
    rng = np.random.default_rng(3)
    centres = _unit(rng.standard_normal((6, 384)))
    novel_centre = _unit(rng.standard_normal((1, 384)))
    deployment = factories.deployment(min_window_samples=100, drift_window="weekly")
    _store(deployment, _clusters(rng, 900, centres), start=T0, prefix="base")
    week2 = T0 + dt.timedelta(weeks=1)
    _store(deployment, _clusters(rng, 300, centres), start=week2, prefix="same")
    week3 = T0 + dt.timedelta(weeks=2)
    shifted = np.vstack([_clusters(rng, 210, centres), _clusters(rng, 90, novel_centre)])
    texts = [f"ordinary question {i}" for i in range(210)] + [f"quantum billing widget question {i}" for i in range(90)]
    _store(deployment, shifted, start=week3, prefix="new", texts=texts)
    baseline = services.baseline_create(
        deployment=deployment, period_start=T0, period_end=week2, enqueue=False
    )
    services.baseline_fit(baseline=baseline)
    return deployment, week2, week3


def test_a_fitted_baseline_is_frozen_and_active(scenario):
    deployment, *_ = scenario
    baseline = Baseline.objects.get(deployment=deployment)
    assert baseline.status == "fitted" and baseline.is_active and baseline.sample_count == 900
    assert baseline.prompt_artifact and baseline.response_artifact


def test_a_window_like_the_baseline_does_not_drift_and_a_new_topic_does(scenario):
    deployment, week2, week3 = scenario
    same = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week3,
                                      targets=("prompts",), enqueue=False)[0]
    same = services.drift_run_compute(run=same)
    assert same.status == "completed" and same.sample_count == 300
    assert same.drifted is False, same.results
    new = services.drift_runs_create(deployment=deployment, window_start=week3, window_end=week3 + dt.timedelta(weeks=1),
                                     targets=("prompts",), enqueue=False)[0]
    new = services.drift_run_compute(run=new)
    assert new.drifted is True
    assert new.results["novel_excess"]["drifted"] is True
    assert new.novel_share > 0.2
    assert new.js is not None and new.js_threshold is not None and 0 <= new.js <= 1
    assert new.results["js"]["seed_threshold"] == [0.15, 0.25]
    # The new topic is described by the words of its prompts and points at real samples.
    words = " ".join(" ".join(t["keywords"]) for t in new.topics)
    assert "quantum" in words or "widget" in words, new.topics
    sample_ids = [sid for t in new.topics for sid in t["sample_ids"]]
    assert ProductionSample.objects.filter(id__in=sample_ids, prompt__startswith="quantum").exists()


def test_a_window_with_too_few_samples_ends_as_insufficient_data(scenario):
    deployment, week2, _ = scenario
    run = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week2 + dt.timedelta(hours=1),
                                     targets=("responses",), enqueue=False)[0]
    run = services.drift_run_compute(run=run)
    assert run.status == "insufficient_data" and run.drifted is None
    assert "at least 100" in run.error


def test_the_api_queues_runs_and_reads_them_back(scenario, personas):
    deployment, week2, week3 = scenario
    client = personas.api("erin")
    url = f"/api/v1/deployments/{deployment.slug}/drift-runs"
    r = client.post(url, data=json.dumps({"window_start": week2.isoformat(), "window_end": week3.isoformat()}),
                    content_type="application/json")
    assert r.status_code == 202, r.content
    assert {run["target"] for run in r.json()} == {"prompts", "responses"}
    run = DriftRun.objects.get(id=r.json()[0]["id"])
    services.drift_run_compute(run=run)
    listed = personas.api("charlie").get(url).json()
    assert listed["count"] == 2
    detail = personas.api("bob").get(f"{url}/{run.id}").json()
    assert detail["status"] == "completed" and "mmd" in detail["results"]


@pytest.mark.parametrize("body, field", [
    ({"window_start": "yesterday", "window_end": "2026-01-02T00:00:00Z"}, "window_start"),
    ({"window_start": "2026-01-02T00:00:00Z"}, "window_end"),
    ({"window_start": "2026-01-02T00:00:00Z", "window_end": "2026-01-01T00:00:00Z"}, "window_end"),
    ({"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-02T00:00:00Z", "target": "tokens"}, "target"),
])
def test_the_api_rejects_bad_windows_naming_the_field(scenario, personas, body, field):
    deployment, *_ = scenario
    r = personas.api("erin").post(f"/api/v1/deployments/{deployment.slug}/drift-runs", data=json.dumps(body),
                                  content_type="application/json")
    assert r.status_code == 400 and field in r.json(), r.content
    assert not DriftRun.objects.exists()


def test_the_api_answers_409_without_a_fitted_baseline(personas):
    deployment = factories.deployment()
    r = personas.api("erin").post(
        f"/api/v1/deployments/{deployment.slug}/drift-runs",
        data=json.dumps({"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-02T00:00:00Z"}),
        content_type="application/json",
    )
    assert r.status_code == 409 and "baseline" in r.json()


@pytest.mark.parametrize("name, status", [("alice", 403), ("bob", 403), ("charlie", 403), ("mallory", 403), (None, 401)])
def test_only_ml_engineers_start_drift_runs(personas, name, status):
    deployment = factories.deployment()
    r = personas.api(name).post(f"/api/v1/deployments/{deployment.slug}/drift-runs", data="{}",
                                content_type="application/json")
    assert r.status_code == status


def test_power_users_cannot_read_drift_runs(personas):
    deployment = factories.deployment()
    assert personas.api("alice").get(f"/api/v1/deployments/{deployment.slug}/drift-runs").status_code == 403


def test_the_command_evaluates_a_window_in_process(scenario, capsys):
    deployment, _, week3 = scenario
    call_command("drift_run", deployment.slug, "--start", week3.isoformat(),
                 "--end", (week3 + dt.timedelta(weeks=1)).isoformat(), "--target", "prompts")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "completed" and out["drifted"] is True


def test_each_deployment_gets_an_editable_beat_schedule():
    deployment = services.deployment_create(name="Sched", slug="sched", current_model_version="v1", drift_window="hourly")
    task = PeriodicTask.objects.get(name="Drift window: sched")
    assert task.task == "drift_app.tasks.drift_window_task" and json.loads(task.args) == [deployment.id]
    assert task.crontab.minute == "5" and task.crontab.hour == "*"
    deployment.drift_window = "weekly"
    deployment.save()
    services.drift_schedule_sync(deployment=deployment)
    task.refresh_from_db()
    assert task.crontab.day_of_week == "1"


def test_the_scheduled_window_is_the_last_complete_one(scenario):
    deployment, week2, week3 = scenario
    runs = services.drift_window_scheduled(deployment=deployment, now=week3 + dt.timedelta(days=2, hours=5))
    assert {(r.window_start, r.window_end) for r in runs} == {(week2, week3)}
    # Idempotent: the beat firing twice does not duplicate the window.
    assert services.drift_window_scheduled(deployment=deployment, now=week3 + dt.timedelta(days=3)) == []


def test_a_window_with_samples_still_without_vectors_is_incomplete_not_computed(scenario):
    deployment, week2, week3 = scenario
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"late-{i}", prompt=f"late prompt {i}", response="r",
                         model_version="v1", client_timestamp=week2 + dt.timedelta(minutes=i, seconds=30))
        for i in range(7)
    ])
    run = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week3,
                                     targets=("prompts",), enqueue=False)[0]
    run = services.drift_run_compute(run=run)
    assert run.status == "incomplete" and run.drifted is None
    assert run.missing_count == 7 and run.sample_count == 307
    assert "7 of 307" in run.error and run.results == {}


def test_a_baseline_of_another_embedding_model_is_refused(scenario):
    deployment, week2, week3 = scenario
    Baseline.objects.filter(deployment=deployment).update(embedding_model="some/other-encoder")
    run = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week3,
                                     targets=("prompts",), enqueue=False)[0]
    with pytest.raises(ValidationError):
        services.drift_run_compute(run=run)
    run.refresh_from_db()
    assert run.status == "failed" and "some/other-encoder" in run.error and run.drifted is None


def test_one_calibration_per_baseline_and_target_serves_every_window_size(scenario):
    deployment, week2, week3 = scenario
    for end in (week3, week2 + dt.timedelta(hours=3)):  # 300 and 180 samples
        run = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=end,
                                         targets=("prompts",), enqueue=False)[0]
        assert services.drift_run_compute(run=run).status == "completed"
    rows = BaselineCalibration.objects.filter(baseline__deployment=deployment, target="prompts")
    assert rows.count() == 1
    # Each target gets half the deployment's rate: prompts or responses, a window keeps the deployment's.
    assert rows.get().false_alarm_rate == pytest.approx(deployment.drift_false_alarm_rate / 2)
    assert run.long_text_share == 0.0


def test_a_false_alarm_rate_that_needs_too_many_calibration_windows_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        services.deployment_create(name="Strict", slug="strict", current_model_version="v1",
                                   drift_false_alarm_rate=0.0001)
    assert "drift_false_alarm_rate" in caught.value.message_dict
    assert "use a rate of at least" in str(caught.value)
