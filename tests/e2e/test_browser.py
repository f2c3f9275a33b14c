"""The app in a real browser: each role's landing page, the dashboard's charts, acknowledging an alert,
flagging an answer and approving a golden item. Screenshots go to var/screenshots/.

The data is small and built with the services (verdict_compute decides the verdicts and opens the alert);
drift runs and evaluation runs are stored as their engines would leave them (tests/verdicts/helpers.py).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from feedback.models import Flag
from goldenset import services as golden_services
from goldenset.models import GoldenItem
from tests.base import PASSWORD
from tests.verdicts.helpers import T0, World, store_vectors, window
from verdicts import services as verdict_services
from verdicts.models import Alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _unit(rng, n: int, shift: float = 0.0) -> np.ndarray:
    v = rng.normal(size=(n, 384)).astype(np.float32)
    v[:, 0] += shift
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def scenario(personas):
    """Three weekly windows: stable, benign change (a new topic), genuine degradation with a code-red alert."""
    rng = np.random.default_rng(3)
    w = World(personas.bob)
    base_ids = store_vectors(w.deployment, _unit(rng, 40), start=T0 - dt.timedelta(weeks=2), prefix="base")
    w.baseline.sample_ids, w.baseline.sample_count = base_ids, len(base_ids)
    w.baseline.save(update_fields=["sample_ids", "sample_count"])

    w.golden(pass_rate=0.9, at=window(1)[0] + dt.timedelta(days=1))
    w.drift(1)
    texts = [f"How do I write a terraform module for nimbus cluster {i}?" for i in range(30)]
    new_ids = store_vectors(w.deployment, _unit(rng, 30, shift=3.0), start=window(2)[0], prefix="w2", texts=texts)
    topic = {"size": 12, "share": 0.34, "keywords": ["terraform", "nimbus", "module"],
             "representative_texts": texts[:3], "sample_ids": new_ids[:6]}
    w.drift(2, prompts=True, novel=0.34, topics=[topic])
    w.drift(3, prompts=True)
    w.golden(pass_rate=0.6, at=window(3)[0] + dt.timedelta(days=1), model_version="v3", regressed=3)
    sample = w.traffic(start=window(3)[0], n=5, bad=0, user=personas.alice, prefix="w3", model_version="v3")[0]
    verdicts = [
        verdict_services.verdict_compute(deployment=w.deployment, window_start=s, window_end=e)
        for s, e in (window(1), window(2), window(3))
    ]
    item = golden_services.golden_item_create(
        author=personas.bob, prompt="How do I rotate a nimbus API key?", reference_answer="Settings → Keys → Rotate.",
        category="security", reason="new topic", _vector=_unit(rng, 1)[0],
    )
    golden_services.golden_item_submit(item=item, user=personas.bob, reason="ready for review")
    return {"world": w, "verdicts": verdicts, "sample": sample, "item": item,
            "alert": Alert.objects.get(deployment=w.deployment)}


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    assert "/login/" not in page.url, f"{username} could not log in"


def test_the_scenario_gives_stable_then_benign_then_genuine_degradation_with_one_code_red(scenario):
    assert [v.verdict_class for v in scenario["verdicts"]] == ["stable", "benign_change", "genuine_degradation"]
    assert scenario["alert"].tier == "code_red" and scenario["alert"].status == "open"


@pytest.mark.parametrize(("username", "panel", "expected"), [
    ("alice", "text=Your flags", "flagged"),
    ("bob", "#panel-sme", "Golden items waiting for your approval"),
    ("charlie", "#panel-compliance", "Genuine degradation"),
    ("erin", "#panel-deployments", "Code red"),
])
def test_each_role_lands_on_its_own_panel(scenario, live_server, page, shot, username, panel, expected):
    login(page, live_server.url, username)
    page.goto(f"{live_server.url}/")
    section = page.locator(panel).first
    assert section.is_visible(), f"{username}'s landing page lacks {panel}"
    text = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
    assert expected in text
    if username == "charlie":
        assert "below baseline" in page.inner_text("#material-degradations")
    shot(page, f"home-{username}")


@pytest.mark.parametrize("username", ["erin", "bob", "charlie"])
def test_the_dashboard_charts_hold_a_point_per_window_and_the_timeline_is_coloured_by_class(
    scenario, live_server, page, shot, username,
):
    slug = scenario["world"].deployment.slug
    login(page, live_server.url, username)
    page.goto(f"{live_server.url}/deployments/{slug}/dashboard/")
    page.wait_for_selector("html[data-charts-ready=true]")
    counts = page.evaluate("""() => Object.fromEntries(
        ['golden','flags','js','wasserstein','mmd','novel','map'].map(n => {
          const c = Chart.getChart('chart-' + n);
          return [n, c ? c.data.datasets.reduce((k, d) => k + d.data.filter(v => v !== null && v !== undefined).length, 0) : -1];
        }))""")
    for name in ("golden", "js", "wasserstein", "mmd", "novel", "map"):
        assert counts[name] > 0, f"chart {name} has no data points: {counts}"
    golden = page.evaluate("Chart.getChart('chart-golden').data.datasets[0].data")
    assert golden == [90.0, 90.0, 60.0]
    series = page.evaluate("JSON.parse(document.getElementById('dashboard-series').textContent)")
    assert len(series["labels"]) == 3
    classes = page.eval_on_selector_all(".verdict-timeline li", "els => els.map(e => e.dataset.verdictClass)")
    assert classes == ["stable", "benign_change", "genuine_degradation"]
    assert page.locator("#alerts tr.alert-row.tier-code_red").count() == 1
    shot(page, f"dashboard-{username}")
    # Hovering a new-topic point shows its prompt.
    tip = page.evaluate("""() => { const c = Chart.getChart('chart-map');
        const i = c.data.datasets.findIndex(d => /terraform/.test(d.label || ''));
        if (i < 0) return null; const p = c.data.datasets[i].data[0]; return p && p.prompt; }""")
    assert tip and "terraform" in tip


def test_a_power_user_is_refused_the_dashboard(scenario, live_server, page):
    login(page, live_server.url, "alice")
    response = page.goto(f"{live_server.url}/deployments/{scenario['world'].deployment.slug}/dashboard/")
    assert response.status == 403


def test_an_ml_engineer_acknowledges_the_code_red_alert_with_a_comment(scenario, live_server, page, shot):
    alert = scenario["alert"]
    login(page, live_server.url, "erin")
    page.goto(f"{live_server.url}/alerts/{alert.pk}/")
    page.fill("#acknowledge-form textarea[name=comment]", "Rolling back to v2 while we look at billing answers.")
    page.click("#acknowledge-form button[type=submit]")
    page.wait_for_selector("#alert-acknowledged")
    assert "Acknowledged" in page.inner_text("#alert-status")
    shot(page, "alert-acknowledged")
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by.username == "erin"
    assert alert.acknowledged_comment.startswith("Rolling back")


def test_a_compliance_officer_sees_the_alert_but_no_acknowledge_button(scenario, live_server, page):
    login(page, live_server.url, "charlie")
    page.goto(f"{live_server.url}/alerts/{scenario['alert'].pk}/")
    assert page.locator("#acknowledge-form").count() == 0
    assert "Code red" in page.inner_text("h1")


def test_a_power_user_flags_an_answer_from_the_sample_page(scenario, live_server, page, shot):
    sample = scenario["sample"]
    login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/deployments/{sample.deployment.slug}/samples/{sample.pk}/")
    page.select_option("#flag-answer select[name=reason]", index=1)
    page.fill("#flag-answer textarea[name=comment]", "The price quoted is last year's.")
    page.click("#flag-answer button[type=submit]")
    page.wait_for_load_state()
    shot(page, "flag-answer")
    flag = Flag.objects.get(sample=sample)
    assert flag.flagged_by.username == "alice"


def test_an_sme_approves_a_golden_item_written_by_another_sme(scenario, live_server, page, shot):
    item = scenario["item"]
    login(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/golden/review/")
    page.check(f"input[name=items][value='{item.pk}']")
    page.fill("input[name=reason]", "Checked against the runbook.")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()
    shot(page, "golden-approve")
    item.refresh_from_db()
    assert item.status == GoldenItem.Status.APPROVED and item.approver.username == "carol"


def test_every_dashboard_chart_has_a_data_table_with_its_own_figures(scenario, live_server, page):
    slug = scenario["world"].deployment.slug
    login(page, live_server.url, "erin")
    page.goto(f"{live_server.url}/deployments/{slug}/dashboard/")
    page.wait_for_selector("html[data-charts-ready=true]")
    drawn = page.evaluate("() => Array.from(document.querySelectorAll('canvas')).filter(c => Chart.getChart(c)).length")
    tables = page.locator("details.chart-table")
    assert drawn > 0 and tables.count() == drawn
    # The golden chart's table holds the same pass rates the chart draws, one row per window.
    golden = page.locator("#chart-golden + details.chart-table")
    golden.locator("summary").click()
    rows = golden.locator("tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == ["90", "90", "60"]

