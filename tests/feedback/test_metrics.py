"""Flag metrics per deployment and window: flag rate, confirmed-bad rate, outdated rate, Wilson intervals."""

from __future__ import annotations

import datetime as dt

import pytest

from drift_app.stats.agreement import wilson_interval
from feedback import selectors, services
from tests import factories
from tests.base import join_team

from .conftest import make_samples

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # a Monday


@pytest.fixture
def scenario(personas, deployment, django_user_model):
    """Day 1: 10 samples, 3 flagged (1 confirmed bad, 1 outdated, 1 pending). Day 2: 5 samples, none flagged."""

    dave = django_user_model.objects.create_user("dave")
    join_team(dave, "power_user")  # a member of the personas' team
    day1 = make_samples(deployment, 10, start=T0 + dt.timedelta(hours=1), step=dt.timedelta(hours=1), prefix="d1")
    make_samples(deployment, 5, start=T0 + dt.timedelta(days=1, hours=1), prefix="d2")
    bad = services.flag_create(sample=day1[0], user=personas.alice, reason="incorrect")
    services.flag_create(sample=day1[0], user=dave, reason="incorrect")  # a second flag on the same answer
    outdated = services.flag_create(sample=day1[1], user=personas.alice, reason="outdated")
    services.flag_create(sample=day1[2], user=personas.alice, reason="unhelpful")  # pending
    for flag, label in [(bad, "confirmed_bad"), (outdated, "outdated_knowledge")]:
        services.flag_claim(flag=flag, user=personas.bob)
        services.flag_label(flag=flag, user=personas.bob, label=label)
    # Another deployment's flags never count.
    other = factories.deployment()
    s = make_samples(other, 1, start=T0 + dt.timedelta(hours=2), prefix="o")[0]
    services.flag_create(sample=s, user=personas.alice, reason="harmful")
    return deployment


def test_metrics_count_flagged_confirmed_and_outdated_samples_per_served_sample(scenario):
    m = selectors.feedback_metrics(deployment=scenario, start=T0, end=T0 + dt.timedelta(days=1))
    assert (m.samples, m.flags, m.flagged_samples, m.pending) == (10, 4, 3, 2)
    assert m.flag_rate == wilson_interval(3, 10)
    assert m.confirmed_bad_rate == wilson_interval(1, 10)
    assert m.outdated_rate == wilson_interval(1, 10)
    assert m.flag_rate.low < 0.3 < m.flag_rate.high


def test_daily_windows_split_the_range_and_an_empty_window_has_no_rate(scenario):
    series = selectors.feedback_metrics_series(deployment=scenario, start=T0, end=T0 + dt.timedelta(days=3), window="daily")
    assert [(w.start, w.samples, w.flagged_samples) for w in series] == [
        (T0, 10, 3), (T0 + dt.timedelta(days=1), 5, 0), (T0 + dt.timedelta(days=2), 0, 0)
    ]
    assert series[1].flag_rate.rate == 0.0 and series[1].flag_rate.high > 0
    assert series[2].flag_rate.rate is None and (series[2].flag_rate.low, series[2].flag_rate.high) == (0.0, 1.0)


def test_a_pending_flag_becomes_confirmed_in_the_metrics_once_labelled(personas, scenario):
    from feedback.models import Flag

    pending = Flag.objects.get(deployment=scenario, status="open", reason="unhelpful")
    services.flag_claim(flag=pending, user=personas.carol)
    services.flag_label(flag=pending, user=personas.carol, label="policy_violation")
    m = selectors.feedback_metrics(deployment=scenario, start=T0, end=T0 + dt.timedelta(days=1))
    assert m.confirmed_bad_rate.count == 2 and m.pending == 1


def test_the_metrics_api_returns_weekly_windows_with_intervals(personas, scenario):
    r = personas.api("charlie").get(
        f"/api/v1/deployments/{scenario.slug}/feedback-metrics",
        {"start": "2026-03-02T00:00:00Z", "end": "2026-03-16T00:00:00+00:00", "window": "weekly"},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["window"] == "weekly" and len(body["windows"]) == 2
    first = body["windows"][0]
    assert first["samples"] == 15 and first["flags"] == 4 and first["flagged_samples"] == 3
    assert first["flag_rate"]["count"] == 3 and first["flag_rate"]["total"] == 15
    assert first["flag_rate"]["rate"] == pytest.approx(0.2)
    expected = wilson_interval(3, 15)
    assert first["flag_rate"]["ci_low"] == pytest.approx(expected.low)
    assert first["flag_rate"]["ci_high"] == pytest.approx(expected.high)
    assert first["confirmed_bad_rate"]["count"] == 1 and first["outdated_rate"]["count"] == 1
    assert body["windows"][1]["samples"] == 0 and body["windows"][1]["flag_rate"]["rate"] is None


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"window": "hourly"}, "window must be one of"),
        ({"start": "yesterday"}, "start: 'yesterday' is not an ISO 8601"),
        ({"end": "2026-03-02T00:00:00"}, "no time zone"),
        ({"start": "2026-03-05T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end must be after start"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "At most 400 daily windows"),
    ],
)
def test_the_metrics_api_rejects_bad_parameters_naming_them(personas, deployment, params, fragment):
    r = personas.api("erin").get(f"/api/v1/deployments/{deployment.slug}/feedback-metrics", params)
    assert r.status_code == 400
    assert fragment in r.json()["detail"]


@pytest.mark.parametrize("name, status", [("bob", 200), ("charlie", 200), ("erin", 200), ("alice", 403), ("mallory", 403)])
def test_the_metrics_api_is_for_smes_compliance_and_ml_engineers(personas, deployment, name, status):
    assert personas.api(name).get(f"/api/v1/deployments/{deployment.slug}/feedback-metrics").status_code == status


def test_the_metrics_api_answers_404_for_an_unknown_deployment(personas):
    assert personas.api("erin").get("/api/v1/deployments/nope/feedback-metrics").status_code == 404
