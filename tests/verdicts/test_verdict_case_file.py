"""The verdict page reads as a case file: class and reasons first, then each evidence source with its figures
and links (evaluation run and its regressed items, drift runs against thresholds, flags and labels,
quality scores), what was missing, and the verdict's history (issue 18, item 4)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests import factories
from tests.base import PASSWORD, join_team
from tests.verdicts.helpers import T0, window
from verdicts import services

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


@pytest.fixture
def degraded(world, personas):
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.golden(pass_rate=0.6, at=window(1)[0] + dt.timedelta(days=1), model_version="v3")
    world.traffic(start=window(1)[0], n=6, bad=2, user=personas.alice, prefix="w1", model_version="v3")
    world.drift(1, prompts=True, js=0.1801)
    return services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])


def test_the_page_opens_with_the_class_and_its_reasons_before_the_evidence(degraded, personas):
    html = login(personas.charlie).get(f"/verdicts/{degraded.pk}/").content.decode()
    assert degraded.verdict_class == "genuine_degradation"
    head, evidence = html.index("Genuine degradation"), html.index("Evidence at a glance")
    assert head < evidence
    assert "Golden pass rate dropped beyond tolerance, significantly" in html[:evidence]


def test_the_golden_evidence_links_the_run_the_baseline_and_each_regressed_item(degraded, personas, world):
    page = login(personas.charlie).get(f"/verdicts/{degraded.pk}/")
    html = page.content.decode()
    g = degraded.inputs["golden"]
    assert f'href="/golden/runs/{g["run_id"]}/"' in html and f'href="/golden/runs/{g["baseline_run_id"]}/"' in html
    regressed = page.context["case"]["golden"]["versions"][0]["regressed_items"]
    # The helper fails the first items of each run: 80 of 200 now against 20 in the baseline, 60 regressed.
    assert g["regressed"] == 60
    assert len([r for r in regressed if "item_id" in r]) == 25 and regressed[-1] == {"more": 60 - 25}
    assert all(f'href="/golden/items/{r["item_id"]}/"' in html for r in regressed if "item_id" in r)


def test_the_drift_statistics_are_shown_against_their_thresholds_with_enough_digits(degraded, personas):
    html = login(personas.charlie).get(f"/verdicts/{degraded.pk}/").content.decode()
    run_id = degraded.inputs["drift"]["prompts"]["run_id"]
    assert f"/deployments/{degraded.deployment.slug}/drift/runs/{run_id}/" in html
    # 0.1801 against 0.18: two digits would print "0.18 (threshold 0.18)" and hide why it counts as drift.
    assert "0.1801 (above the threshold 0.1800)" in html
    assert "JS 0.1801 (threshold 0.1800)" in degraded.explanation


def test_the_flags_of_the_window_are_listed_with_their_labels_and_links(degraded, personas):
    page = login(personas.charlie).get(f"/verdicts/{degraded.pk}/")
    rows = page.context["case"]["flag_rows"]
    assert len(rows) == 2 and {f.final_label for f in rows} == {"confirmed_bad"}
    html = page.content.decode()
    assert all(f'href="/feedback/flags/{f.pk}/"' in html for f in rows)
    assert "Confirmed bad" in html and "w1 prompt 0" in html


def test_missing_evidence_is_listed_with_its_reason_and_no_python_reprs_are_shown(degraded, personas):
    page = login(personas.charlie).get(f"/verdicts/{degraded.pk}/")
    html = page.content.decode()
    missing = {m["source"]: m["why"] for m in page.context["case"]["missing"]}
    assert "Label-free quality scores" in missing  # no quality scores were ever ingested
    assert "What was missing" in html and all(why in html for why in missing.values())
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\b(True|False|None)\b", text) and "{'" not in text


def test_a_recomputed_verdict_shows_its_earlier_versions(degraded, personas, world):
    world.drift(1, prompts=True, responses=True)
    v2 = services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])
    assert v2.version == 2
    html = login(personas.charlie).get(f"/verdicts/{v2.pk}/").content.decode()
    assert f'href="/verdicts/{degraded.pk}/"' in html and "2 (this page)" in html


def test_a_verdict_of_another_team_is_not_found(degraded):
    outsider = User.objects.create_user("zoe", password=PASSWORD)
    join_team(outsider, "compliance", factories.team())
    assert login(outsider).get(f"/verdicts/{degraded.pk}/").status_code == 404
