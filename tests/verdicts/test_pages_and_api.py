"""Pages and API: every endpoint checks roles; errors are 4xx naming the problem."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from tests.base import PASSWORD
from tests.verdicts.helpers import T0, window
from verdicts import services, tasks
from verdicts.models import Alert, RetrainingAdvice, Verdict

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


@pytest.fixture
def degraded(world):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, novel=0.34, topics=[{"size": 5, "share": 0.34, "keywords": ["nimbus"], "representative_texts": ["nimbus?"], "sample_ids": []}])
    services.verdict_compute(deployment=world.deployment, window_start=window(0)[0], window_end=window(0)[1])
    world.golden(pass_rate=0.6, at=window(1)[0] + dt.timedelta(days=1), model_version="v3", regressed=3)
    world.served(1, "v3")
    world.served(2, "v3")
    world.drift(1, responses=True)
    services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])
    return world


def test_the_dashboard_embeds_chart_data_for_every_window(degraded, personas):
    page = login(personas.charlie).get(f"/deployments/{degraded.deployment.slug}/dashboard/")
    assert page.status_code == 200
    series = page.context["series"]
    assert series["labels"] == ["2026-09-07", "2026-09-14"]
    assert series["golden"]["pass_rate"] == [90.0, 60.0]
    assert [t["class"] for t in series["timeline"]] == ["benign_change", "genuine_degradation"]
    html = page.content.decode()
    assert 'id="dashboard-series"' in html and "vendor/chartjs/chart.umd.min.js" in html
    assert "Genuine degradation: golden pass rate 90% → 60%" in html


def test_the_dashboard_rejects_an_unknown_window_with_400(degraded, personas):
    r = login(personas.erin).get(f"/deployments/{degraded.deployment.slug}/dashboard/?window=999999")
    assert r.status_code == 400 and "has no verdict #999999" in r.content.decode()


@pytest.mark.parametrize("name, code", [("alice", 403), ("mallory", 403), ("bob", 200), ("charlie", 200), ("erin", 200)])
def test_pages_are_for_readers_only(degraded, personas, name, code):
    c = login(getattr(personas, name))
    alert = Alert.objects.get()
    for url in (f"/deployments/{degraded.deployment.slug}/dashboard/", "/verdicts/", "/alerts/", "/alerts/review/",
                f"/alerts/{alert.pk}/", f"/verdicts/{Verdict.objects.first().pk}/"):
        assert c.get(url).status_code == code, url


def test_anonymous_visitors_are_sent_to_the_login_page(degraded):
    r = Client().get("/alerts/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_an_ml_engineer_acknowledges_an_alert_from_its_page(degraded, personas):
    alert = Alert.objects.get()
    c = login(personas.erin)
    r = c.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "rolling back v3"})
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == personas.erin
    page = c.get(f"/alerts/{alert.pk}/").content.decode()
    assert "by erin: “rolling back v3”" in page


def test_acknowledging_without_a_comment_is_a_400_naming_the_comment(degraded, personas):
    alert = Alert.objects.get()
    r = login(personas.bob).post(f"/alerts/{alert.pk}/acknowledge/", {"comment": ""})
    assert r.status_code == 400 and "A comment is required" in r.content.decode()


def test_compliance_may_read_alerts_but_not_acknowledge_them(degraded, personas):
    alert = Alert.objects.get()
    assert login(personas.charlie).post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "x"}).status_code == 403
    assert personas.api("charlie").post(f"/api/v1/alerts/{alert.pk}/acknowledge", {"comment": "x"}, format="json").status_code == 403


def test_the_api_lists_verdicts_and_alerts_and_resolves_with_409_on_a_second_try(degraded, personas):
    slug = degraded.deployment.slug
    verdicts = personas.api("charlie").get(f"/api/v1/deployments/{slug}/verdicts").json()
    assert verdicts["count"] == 2 and verdicts["results"][1]["verdict_class"] == "genuine_degradation"
    alerts = personas.api("charlie").get(f"/api/v1/deployments/{slug}/alerts").json()
    alert_id = alerts["results"][0]["id"]
    api = personas.api("erin")
    r = api.post(f"/api/v1/alerts/{alert_id}/resolve", {"comment": "rolled back"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["resolved_by"] == "erin"
    r = api.post(f"/api/v1/alerts/{alert_id}/resolve", {"comment": "again"}, format="json")
    assert r.status_code == 409 and r.json()["detail"] == f"Alert #{alert_id} is already resolved."
    r = api.post(f"/api/v1/alerts/{alert_id}/acknowledge", {}, format="json")
    assert r.status_code == 400 and "comment" in r.json()["errors"]


def test_the_api_computes_a_window_for_ml_engineers_only(degraded, personas):
    slug = degraded.deployment.slug
    body = {"window_start": window(2)[0].isoformat(), "window_end": window(2)[1].isoformat()}
    assert personas.api("charlie").post(f"/api/v1/deployments/{slug}/verdicts", body, format="json").status_code == 403
    r = personas.api("erin").post(f"/api/v1/deployments/{slug}/verdicts", body, format="json")
    assert r.status_code == 201 and r.json()["verdict_class"] == "genuine_degradation"
    bad = {"window_start": window(2)[1].isoformat(), "window_end": window(2)[0].isoformat()}
    r = personas.api("erin").post(f"/api/v1/deployments/{slug}/verdicts", bad, format="json")
    assert r.status_code == 400 and r.json()["detail"] == "window_end must be after window_start."
    r = personas.api("erin").get(f"/api/v1/deployments/{slug}/verdicts?start=yesterday")
    assert r.status_code == 400 and "start" in r.json()["errors"]


def test_the_verdict_list_filters_material_degradations_and_rejects_an_unknown_class(degraded, personas):
    c = login(personas.charlie)
    page = c.get("/verdicts/?material=1")
    assert [v.verdict_class for v in page.context["verdicts"]] == ["genuine_degradation"]
    r = c.get("/verdicts/?class=meh")
    assert r.status_code == 400 and "class must be one of" in r.content.decode()


def test_retraining_advice_exports_the_new_topic_prompts_as_jsonl(world, personas):
    import numpy as np

    from tests.verdicts.helpers import store_vectors

    rng = np.random.default_rng(1)
    usual = rng.standard_normal((1, 384)); novel = rng.standard_normal((1, 384))
    vec = lambda c, n: (c + 0.05 * rng.standard_normal((n, 384))) / np.linalg.norm(c)  # noqa: E731
    start = window(0)[0]
    store_vectors(world.deployment, vec(usual, 20).astype(np.float32), start=start, prefix="usual")
    new_ids = store_vectors(world.deployment, vec(novel, 6).astype(np.float32), start=start + dt.timedelta(hours=1),
                            prefix="nimbus", texts=[f"How do I deploy a Nimbus Function {i}?" for i in range(6)])
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0, prompts=True, novel=0.35, topics=[{"size": 6, "share": 0.23, "keywords": ["nimbus", "function"],
                                                      "representative_texts": ["How do I deploy a Nimbus Function 0?"], "sample_ids": new_ids[:2]}])
    services.verdict_compute(deployment=world.deployment, window_start=start, window_end=window(0)[1])
    advice = RetrainingAdvice.objects.get()
    r = login(personas.bob).get(f"/retraining/{advice.pk}/prompts.jsonl")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/jsonl")
    rows = [json.loads(line) for line in r.content.decode().splitlines()]
    assert sorted(row["sample_id"] for row in rows) == sorted(new_ids)
    assert all(row["prompt"].startswith("How do I deploy a Nimbus Function") and row["topic_keywords"][0] == "nimbus" for row in rows)
    assert login(personas.charlie).get(f"/retraining/{advice.pk}/prompts.jsonl").status_code == 403


def test_the_hourly_schedule_exists_and_computes_the_last_complete_window(world, monkeypatch):
    assert PeriodicTask.objects.get(task="verdicts.tasks.verdicts_scheduled_task").crontab.minute == "45"
    from django.utils import timezone

    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.drift(0)
    monkeypatch.setattr(timezone, "now", lambda: window(1)[0] + dt.timedelta(hours=3))
    assert tasks.verdicts_scheduled_task() == 1
    v = Verdict.objects.get()
    assert (v.window_start, v.window_end, v.verdict_class) == (*window(0), "stable")


def test_the_schedule_recomputes_past_windows_when_a_late_evaluation_lands(world, monkeypatch):
    from django.utils import timezone

    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=20))
    for i in range(3):
        world.drift(i)
    monkeypatch.setattr(timezone, "now", lambda: window(2)[1] + dt.timedelta(hours=3))
    for i in range(2):
        services.verdict_compute(deployment=world.deployment, window_start=window(i)[0], window_end=window(i)[1])
    assert set(Verdict.objects.values_list("verdict_class", flat=True)) == {"insufficient_evidence"}
    # Answers produced in window 1 are uploaded and evaluated now: the next hourly run judges window 1 again.
    world.golden(pass_rate=0.9, at=window(2)[1], produced_at=window(1)[0] + dt.timedelta(days=3))
    assert tasks.verdicts_scheduled_task() == 1
    current = {v.window_start: v for v in Verdict.objects.filter(superseded_at__isnull=True)}
    assert current[window(1)[0]].verdict_class == "stable" and current[window(1)[0]].version == 2
    assert current[window(2)[0]].verdict_class == "stable"  # within 7 days of the late answers
    assert Verdict.objects.filter(window_start=window(1)[0]).count() == 2


def test_the_schedule_waits_for_pending_drift_runs(world, monkeypatch):
    from django.utils import timezone

    from drift_app.models import DriftRun

    world.drift(0)
    DriftRun.objects.filter(deployment=world.deployment).update(status="pending")
    monkeypatch.setattr(timezone, "now", lambda: window(1)[0] + dt.timedelta(hours=3))
    assert tasks.verdicts_scheduled_task() == 0 and not Verdict.objects.exists()


@pytest.mark.parametrize("name, shown, hidden", [
    ("erin", ["All deployments at a glance"], ["Your queues", "Material degradations"]),
    ("bob", ["Your queues", "Golden items waiting for your approval", "Coverage gaps"], ["All deployments at a glance"]),
    ("charlie", ["Material degradations", "golden pass rate 33.3% below baseline"], ["Your queues"]),
    ("alice", ["Your flags"], ["All deployments at a glance", "Your queues", "Material degradations"]),
])
def test_each_role_lands_on_its_own_panels(degraded, personas, name, shown, hidden):
    page = login(getattr(personas, name)).get("/").content.decode()
    for text in shown:
        assert text in page, text
    for text in hidden:
        assert text not in page, text


def test_the_verdict_page_shows_the_evidence_the_model_versions_and_every_version_of_the_verdict(degraded, personas):
    degraded.drift(1, prompts=True)  # a late drift run: window 1's verdict is recomputed as version 2
    v2 = services.verdict_compute(deployment=degraded.deployment, window_start=window(1)[0], window_end=window(1)[1])
    assert v2.version == 2
    page = login(personas.charlie).get(f"/verdicts/{v2.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert [e["source"] for e in page.context["evidence"]] == ["golden", "flags", "prompt_drift", "response_drift", "quality"]
    # Human labels, not field names or Python reprs (issue 18: the page was a raw dump).
    assert "Exact one-sided McNemar test" in html and "Smallest detectable drop" in html
    assert "mcnemar_exact_one_sided" not in html and ">None<" not in html and ">True<" not in html
    assert [h.version for h in page.context["history"]] == [2, 1] and "current" in html


def test_the_api_returns_the_structured_evidence_and_the_version(degraded, personas):
    r = personas.api("charlie").get(f"/api/v1/deployments/{degraded.deployment.slug}/verdicts").json()
    latest = r["results"][1]
    golden = next(e for e in latest["evidence"] if e["source"] == "golden")
    assert golden["state"] == "degraded" and golden["p_value"] < 0.001 and len(golden["interval_95"]) == 2
    assert latest["version"] == 1 and latest["superseded_by"] is None
