"""Weighty actions take a confirmation naming their consequence (issue 18, item 7): resolving a code red,
retiring a golden item, making an evaluation run the baseline. A POST without confirm=yes changes nothing
and answers the confirmation page; the buttons carry data-confirm for static/js/confirm.js's <dialog>."""

from __future__ import annotations

import datetime as dt

import pytest

from goldenset.models import EvalRun, GoldenItem
from tests.goldenset.conftest import golden  # noqa: F401 - the fixture, used by name
from tests.verdicts.conftest import world  # noqa: F401 - the fixture, used by name
from tests.verdicts.helpers import T0, window
from verdicts import services
from verdicts.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def code_red(world, settings):  # noqa: F811
    settings.DRIFTDESK_ALERT_EMAILS = []
    settings.DRIFTDESK_ALERT_WEBHOOK_URL = ""
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.golden(pass_rate=0.5, at=window(1)[0] + dt.timedelta(days=1), model_version="v3")
    world.served(1, "v3")
    world.drift(1)
    services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])
    alert = Alert.objects.get(deployment=world.deployment)
    assert alert.tier == "code_red"
    return alert


def test_resolving_a_code_red_without_confirming_changes_nothing_and_names_the_consequence(client, personas, code_red):
    client.force_login(personas.erin)
    r = client.post(f"/alerts/{code_red.pk}/resolve/", {"comment": "rolled back"})
    code_red.refresh_from_db()
    html = r.content.decode()
    assert r.status_code == 200 and code_red.status == "open"
    assert "closes the code red" in html and 'name="confirm" value="yes"' in html
    assert 'name="comment" value="rolled back"' in html  # the typed comment travels with the confirmation


def test_resolving_a_code_red_with_confirmation_resolves_it(client, personas, code_red):
    client.force_login(personas.erin)
    r = client.post(f"/alerts/{code_red.pk}/resolve/", {"comment": "rolled back", "confirm": "yes"})
    code_red.refresh_from_db()
    assert r.status_code == 302 and code_red.status == "resolved" and code_red.resolved_comment == "rolled back"


def test_the_alert_page_asks_in_a_dialog_before_resolving_a_code_red(client, personas, code_red):
    client.force_login(personas.erin)
    html = client.get(f"/alerts/{code_red.pk}/").content.decode()
    assert "js/confirm.js" in html and 'id="resolve-form"' in html and "data-confirm=\"Resolving closes" in html


def test_retiring_a_golden_item_needs_confirmation(client, personas, golden):  # noqa: F811
    client.force_login(personas.bob)
    item = golden[0]
    r = client.post(f"/golden/items/{item.pk}/", {"action": "retire", "reason": "obsolete"})
    item.refresh_from_db()
    assert r.status_code == 200 and item.status != GoldenItem.Status.RETIRED and "cannot be brought back" in r.content.decode()
    r = client.post(f"/golden/items/{item.pk}/", {"action": "retire", "reason": "obsolete", "confirm": "yes"})
    item.refresh_from_db()
    assert r.status_code == 302 and item.status == GoldenItem.Status.RETIRED


def test_making_a_run_the_baseline_needs_confirmation(client, personas, code_red, world):  # noqa: F811
    run = EvalRun.objects.filter(deployment=world.deployment, is_baseline=False).get()
    client.force_login(personas.erin)
    r = client.post(f"/golden/runs/{run.pk}/", {"reason": "new model"})
    run.refresh_from_db()
    assert r.status_code == 200 and not run.is_baseline and "change reference" in r.content.decode()
    r = client.post(f"/golden/runs/{run.pk}/", {"reason": "new model", "confirm": "yes"})
    run.refresh_from_db()
    assert r.status_code == 302 and run.is_baseline
