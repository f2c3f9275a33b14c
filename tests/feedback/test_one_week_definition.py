"""One week everywhere: the feedback metrics' weeks are the deployment's windows (ISO weeks from Monday),
the same windows the dashboard's verdicts use, so the same week gives the same flag rate (issue 18)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from drift_app.models import Deployment
from drift_app.selectors import window_floor
from feedback import services
from verdicts import services as verdict_services

from .conftest import make_samples

pytestmark = pytest.mark.django_db


def test_a_week_starts_on_monday_midnight_utc_whatever_the_day():
    sunday = dt.datetime(2026, 3, 8, 23, 59, tzinfo=dt.UTC)
    assert window_floor(window="weekly", at=sunday) == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert window_floor(window="weekly", at=dt.datetime(2026, 3, 9, tzinfo=dt.UTC)) == dt.datetime(2026, 3, 9, tzinfo=dt.UTC)


def test_the_metrics_page_weeks_are_the_verdicts_weeks_with_the_same_flag_rate(client, personas, deployment):
    deployment.drift_window = Deployment.Window.WEEKLY
    deployment.save(update_fields=["drift_window"])
    this_week = window_floor(window="weekly", at=timezone.now())
    start, end = this_week - dt.timedelta(weeks=2), this_week - dt.timedelta(weeks=1)
    # Four samples late on the week's Sunday, four early on the next Monday: a week from Sunday would
    # hold all eight, the Monday week holds four.
    samples = make_samples(deployment, 8, start=start + dt.timedelta(days=6, hours=20), prefix="w")
    for s in samples[:3]:
        services.flag_create(sample=s, user=personas.alice, reason="incorrect")
    verdict = verdict_services.verdict_compute(deployment=deployment, window_start=start, window_end=end)

    client.force_login(personas.charlie)
    page = client.get(f"/feedback/metrics/{deployment.slug}/")
    assert page.context["window"] == "weekly"  # the deployment's window by default
    weeks = {m.start: m for m in page.context["series"]}
    assert all(w.weekday() == 0 and w.hour == 0 for w in weeks), "every week starts on Monday 00:00 UTC"
    week = weeks[start]
    assert week.end == end
    assert week.flag_rate.rate == pytest.approx(verdict.inputs["flags"]["flag_rate"])
    assert week.samples == verdict.inputs["flags"]["samples"] == 4 and week.flag_rate.rate == pytest.approx(3 / 4)
